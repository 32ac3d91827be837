import { z } from 'zod';
import { parseDurationMs } from './duration';

/** A duration field of a resource, checked with the same parser the workflows use. */
export const durationSchema = z
  .string()
  .refine((text) => parseDurationMs(text) !== undefined, 'must be a positive duration such as 30m, 12h, 1h30m, 7d or 2w');
