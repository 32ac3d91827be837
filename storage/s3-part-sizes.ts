/**
 * The sizes of a multipart upload's parts. S3 takes at most 10,000 parts per object and a stream's
 * size is not known before it ends, so the parts grow as the upload goes on: small parts keep
 * the upload's memory small for the objects most backups are, and bigger ones let a large
 * backup through instead of failing at part 10,001 after hours of work.
 */
export interface PartSizeTier {
  /** How many parts of this size, before the next tier's. */
  parts: number;
  bytes: number;
}

/** S3's (and MinIO's) limit on the parts of one object. */
export const MAX_PARTS = 10_000;

const MiB = 1024 * 1024;

/**
 * 8 MiB parts up to 19.5 GiB, then 16, 32 and 64 MiB, 2,500 parts each: objects up to 293 GiB.
 * The upload holds `partsInFlight + 1` buffers of the current size, so 24 MiB for an object of
 * up to 19.5 GiB and at most 192 MiB past 137 GiB (docs/storage-and-encryption.md).
 */
export const S3_PART_SIZES: readonly PartSizeTier[] = [
  { parts: 2_500, bytes: 8 * MiB },
  { parts: 2_500, bytes: 16 * MiB },
  { parts: 2_500, bytes: 32 * MiB },
  { parts: 2_500, bytes: 64 * MiB },
];

/** The size of part `partNumber` (from 1), or undefined past the last tier. */
export function partBytes(tiers: readonly PartSizeTier[], partNumber: number): number | undefined {
  let first = 1;
  for (const tier of tiers) {
    if (partNumber < first + tier.parts) return tier.bytes;
    first += tier.parts;
  }
  return undefined;
}

/** The largest object the tiers let through (every part full), and in how many parts. */
export function largestObject(tiers: readonly PartSizeTier[]): { bytes: number; parts: number } {
  return tiers.reduce((total, tier) => ({ bytes: total.bytes + tier.parts * tier.bytes, parts: total.parts + tier.parts }), {
    bytes: 0,
    parts: 0,
  });
}
