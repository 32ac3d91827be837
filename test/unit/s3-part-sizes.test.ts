import { describe, expect, it } from 'vitest';
import { largestObject, MAX_PARTS, partBytes, S3_PART_SIZES } from '../../storage/s3-part-sizes';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

describe('S3 part sizes', () => {
  it('grow from 8 to 64 MiB, 2,500 parts each, and end at S3’s 10,000th part', () => {
    expect([1, 2_500, 2_501, 5_000, 5_001, 7_501, MAX_PARTS].map((part) => partBytes(S3_PART_SIZES, part)! / MiB)).toEqual([
      8, 8, 16, 16, 32, 64, 64,
    ]);
    expect(partBytes(S3_PART_SIZES, MAX_PARTS + 1)).toBeUndefined();
    expect(S3_PART_SIZES.reduce((parts, tier) => parts + tier.parts, 0)).toBe(MAX_PARTS);
  });

  it('let objects through up to 293 GiB, where 8 MiB parts alone stopped at 78 GiB', () => {
    expect(largestObject(S3_PART_SIZES).bytes / GiB).toBeCloseTo(293, 0);
    expect(largestObject([{ parts: MAX_PARTS, bytes: 8 * MiB }]).bytes / GiB).toBeCloseTo(78.1, 1);
  });
});
