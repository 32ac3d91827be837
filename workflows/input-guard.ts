import { ApplicationFailure } from '@temporalio/workflow';

/**
 * The first check of a session's input, in the workflow. Inputs written by hand (the `temporal`
 * CLI, another SDK) may lack whole parts; without this a missing part would be a TypeError that
 * fails the workflow task, which Temporal retries forever, so the session would hang instead of
 * failing. The activities then validate the parts themselves with the resource schemas.
 * `fields` are dot paths that must hold a value; zod stays out of the workflow bundle.
 */
export function requireInputFields(input: unknown, fields: readonly string[], hint: string): void {
  const missing = fields.filter((field) => valueAt(input, field) === undefined);
  if (missing.length === 0) return;
  throw ApplicationFailure.nonRetryable(`input: ${missing.map((field) => `${field}: required`).join('; ')}; ${hint}`, 'InvalidInput');
}

function valueAt(value: unknown, dotPath: string): unknown {
  let current = value;
  for (const key of dotPath.split('.')) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current === null ? undefined : current;
}
