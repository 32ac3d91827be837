/** The bytes the readers of a dump's SQL look for (domain/dump-fingerprint.ts, domain/load-data-rows.ts, pipeline/restore-staging.ts). */
export const DumpByte = {
  tab: 0x09,
  newline: 0x0a,
  carriageReturn: 0x0d,
  space: 0x20,
  doubleQuote: 0x22,
  quote: 0x27,
  open: 0x28,
  close: 0x29,
  comma: 0x2c,
  semicolon: 0x3b,
  backslash: 0x5c,
} as const;
