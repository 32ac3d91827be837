/**
 * Undo steps registered as things start, run last-started-first: the worker stops before the
 * servers it talks to, and the temp dir goes only once nothing writes into it any more.
 */
export class CleanupStack {
  private readonly steps: { what: string; undo: () => Promise<void> | void }[] = [];
  private running: Promise<void> | undefined;

  defer(what: string, undo: () => Promise<void> | void): void {
    this.steps.push({ what, undo });
  }

  /**
   * A signal handler and the main `finally` may both call this: they share one run, so
   * neither can exit the process while the other still waits for a server to stop.
   */
  run(): Promise<void> {
    this.running ??= this.runSteps();
    return this.running;
  }

  /** Runs every step even when one fails: a stuck MinIO must not leave mariadbd running. */
  private async runSteps(): Promise<void> {
    for (let step = this.steps.pop(); step !== undefined; step = this.steps.pop()) {
      try {
        await step.undo();
      } catch (error) {
        process.stderr.write(`bench: cleanup: ${step.what}: ${error instanceof Error ? error.message : String(error)}\n`);
      }
    }
  }
}
