/**
 * Undo steps registered as things start, run last-started-first: the worker stops before the
 * servers it talks to, and the temp dir goes only once nothing writes into it any more.
 * Running it twice is harmless, so a signal handler and a `finally` may both call run().
 */
export class CleanupStack {
  private readonly steps: { what: string; undo: () => Promise<void> | void }[] = [];

  defer(what: string, undo: () => Promise<void> | void): void {
    this.steps.push({ what, undo });
  }

  /** Runs every step even when one fails: a stuck MinIO must not leave mariadbd running. */
  async run(): Promise<void> {
    for (let step = this.steps.pop(); step !== undefined; step = this.steps.pop()) {
      try {
        await step.undo();
      } catch (error) {
        process.stderr.write(`bench: cleanup: ${step.what}: ${error instanceof Error ? error.message : String(error)}\n`);
      }
    }
  }
}
