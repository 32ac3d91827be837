// Pure and dependency-free: workflows import it (zod stays out of the workflow bundle).

/**
 * Durations as mariadb-operator and Go write them (`720h`, `1h30m`, `90s`), plus `d` and `w`
 * for retention periods people think of in days and weeks.
 */
const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** Milliseconds, or undefined when the text is not a positive duration. */
export function parseDurationMs(text: string): number | undefined {
  const trimmed = text.trim();
  if (!/^(\d+(\.\d+)?(ms|s|m|h|d|w))+$/.test(trimmed)) return undefined;
  let total = 0;
  for (const [, amount, , unit] of trimmed.matchAll(/(\d+(\.\d+)?)(ms|s|m|h|d|w)/g)) total += Number(amount) * UNIT_MS[unit!]!;
  return total > 0 && Number.isFinite(total) ? total : undefined;
}
