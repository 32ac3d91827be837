import { ApplicationFailure } from '@temporalio/workflow';

/**
 * The dot paths of an input's required fields, and of the name and spec of each resource in it:
 * the parts a session reads before its first activity parses the whole input.
 */
export type RequiredInputField<T> = {
  [K in keyof T & string]-?: undefined extends T[K]
    ? never
    : K | (T[K] extends { name: string; spec: unknown } ? `${K}.name` | `${K}.spec` : never);
}[keyof T & string];

/**
 * The first check of a session's input, in the workflow. Inputs written by hand (the `temporal`
 * CLI, another SDK) may lack whole parts; without this a missing part would be a TypeError that
 * fails the workflow task, which Temporal retries forever, so the session would hang instead of
 * failing. The session's first activity then parses the whole input with its kind's schema
 * (domain/session-inputs.ts). That schema cannot run here: the resource schemas it reuses
 * import node:path, which the workflow bundle refuses; `fields` are typed against the
 * schema's inferred input type instead.
 */
export function requireInputFields<T>(input: T, fields: ReadonlyArray<RequiredInputField<T>>, hint: string): void {
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
