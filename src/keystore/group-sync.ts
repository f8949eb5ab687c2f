// Group commit: one fdatasync for every waiter whose write completed before it started, so
// concurrent puts and takes share syncs (docs/architecture.md, Keystore).

import type { StoreFile } from './file-io.js';

/** One fdatasync for every waiter whose write completed before it started. */
export class GroupSync {
  private waiting: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  private running: Promise<void> | undefined;
  syncs = 0;

  constructor(private readonly file: StoreFile) {}

  sync(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.running ??= this.loop();
    });
  }

  idle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  private async loop(): Promise<void> {
    while (this.waiting.length > 0) {
      const batch = this.waiting.splice(0);
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
