// Group commit: one fdatasync for every waiter whose write completed before it started, so
// concurrent puts and takes share syncs (docs/architecture.md, Keystore). A rider asks for no
// sync of its own: it is answered by the next one that someone else asks for.

import type { StoreFile } from './file-io.js';

interface Waiter {
  resolve: () => void;
  reject: (e: unknown) => void;
}

/** One fdatasync for every waiter whose write completed before it started. */
export class GroupSync {
  private waiting: Waiter[] = [];
  private riders: Waiter[] = [];
  private running: Promise<void> | undefined;
  syncs = 0;

  constructor(private readonly file: StoreFile) {}

  /** Resolves once an fdatasync that started after this call has succeeded; starts one if none is
   * under way. */
  sync(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.running ??= this.loop();
    });
  }

  /** Resolves once an fdatasync that started after this call has succeeded, without asking for
   * one; rejects if that fdatasync fails. */
  ride(): Promise<void> {
    return new Promise((resolve, reject) => this.riders.push({ resolve, reject }));
  }

  /** Riders waiting for a sync. */
  get riding(): number {
    return this.riders.length;
  }

  idle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  private async loop(): Promise<void> {
    while (this.waiting.length > 0) {
      const batch = [...this.waiting.splice(0), ...this.riders.splice(0)];
      try {
        this.syncs++;
        await this.file.sync();
        for (const w of batch) w.resolve();
      } catch (e) {
        for (const w of batch) w.reject(e);
      }
    }
    this.running = undefined;
  }
}
