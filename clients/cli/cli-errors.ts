/** A command line that cannot be run as given; exit code 2, as most CLIs do. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const ExitCode = { ok: 0, failed: 1, usage: 2 } as const;
