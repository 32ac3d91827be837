/** The bytes the readers of a dump's SQL look for (domain/dump-fingerprint.ts). */
export const DumpByte = {
  newline: 0x0a,
  quote: 0x27,
  open: 0x28,
  semicolon: 0x3b,
  backslash: 0x5c,
} as const;
