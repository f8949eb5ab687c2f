// Free places in a file of fixed-size records (keystore slots, spent-log entries): the lowest
// free index is used first, and when none is free the file grows by `growBy` records at once
// (one truncate; new bytes read as zeros, which both formats take as free).

import type { StoreFile } from './file-io.js';

export class FreeList {
  /** Free indexes, highest first, so pop() gives the lowest. */
  private readonly free: number[] = [];
  private growing: Promise<void> | undefined;
  /** Records the file holds room for. */
  capacity = 0;

  constructor(
    private readonly file: StoreFile,
    /** Byte offset of record `i`. */
    private readonly offset: (i: number) => number,
    private readonly growBy: number,
  ) {}

  /** Sets the capacity found at open and which records are free (any order). */
  reset(capacity: number, isFree: (i: number) => boolean): void {
    this.capacity = capacity;
    this.free.length = 0;
    for (let i = capacity - 1; i >= 0; i--) if (isFree(i)) this.free.push(i);
  }

  release(i: number): void {
    this.free.push(i);
  }

  async allocate(): Promise<number> {
    while (this.free.length === 0) {
      this.growing ??= this.grow().finally(() => (this.growing = undefined));
      await this.growing;
    }
    return this.free.pop()!;
  }

  private async grow(): Promise<void> {
    const from = this.capacity;
    await this.file.truncate(this.offset(from + this.growBy));
    this.capacity = from + this.growBy;
    for (let i = from + this.growBy - 1; i >= from; i--) this.free.push(i);
  }
}
