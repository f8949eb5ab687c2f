// One ordered undo list for whatever a start-up (or an open) has taken so far: each resource is
// deferred the moment it exists; a failure at any later step, and the owner's close, unwind it.

export interface CleanupFailure {
  step: string;
  error: unknown;
}

export class Cleanup {
  private readonly steps: { step: string; run: () => unknown }[] = [];
  private running: Promise<CleanupFailure[]> | undefined;

  /** `report` hears of each step that fails; the steps after it still run. */
  constructor(private readonly report?: (failure: CleanupFailure) => void) {}

  /** Adds the undo of the resource just taken; it runs before every step deferred earlier. */
  defer(step: string, run: () => unknown): void {
    this.steps.push({ step, run });
  }

  /** Runs every deferred step once, the last deferred first; resolves with the ones that failed.
   * A call while it runs shares that run. */
  unwind(): Promise<CleanupFailure[]> {
    this.running ??= this.runAll().finally(() => (this.running = undefined));
    return this.running;
  }

  /** Unwinds after `cause` and throws it: the failure that stopped the start, not a cleanup's. */
  async fail(cause: unknown): Promise<never> {
    await this.unwind();
    throw cause;
  }

  private async runAll(): Promise<CleanupFailure[]> {
    const failures: CleanupFailure[] = [];
    for (let s = this.steps.pop(); s; s = this.steps.pop()) {
      try {
        await s.run();
      } catch (error) {
        const failure = { step: s.step, error };
        failures.push(failure);
        this.report?.(failure);
      }
    }
    return failures;
  }
}
