import { permanentFailure, PermanentFailureType } from '../domain/failures';
import { ResourceValidationError } from '../domain/resource-set';

/**
 * A session's input parsed again where it reaches the worker, with its kind's parse function
 * (domain/session-inputs.ts): an input started with the `temporal` CLI or another SDK skipped the
 * client's parse. What is wrong fails the session at once, without retries.
 */
export function parseArrivedSessionInput<T>(parse: (input: unknown) => T, input: unknown): T {
  try {
    return parse(input);
  } catch (error) {
    if (error instanceof ResourceValidationError) throw permanentFailure(PermanentFailureType.InvalidInput, error.message);
    throw error;
  }
}
