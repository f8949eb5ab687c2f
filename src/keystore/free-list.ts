// Free places in a file of fixed-size records (keystore slots, spent-log entries): the lowest
// free index is used first, and when none is free the file grows by `growBy` records at once
// (new bytes read as zeros, which both formats take as free). By default it grows with one
// truncate (sparse: the disk finds room only when a record is written); `extend` can instead
// write the new bytes, so the room is taken from the disk at growth time.

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
    /** Makes the file `bytes` long; by default a truncate. */
    private readonly extend: (bytes: number, from: number) => Promise<void> = (bytes) => file.truncate(bytes),
  ) {}

  get freeCount(): number {
    return this.free.length;
  }

  /** Grows the file by one chunk (shared with a growth already under way). */
  growOnce(): Promise<void> {
    this.growing ??= this.grow().finally(() => (this.growing = undefined));
    return this.growing;
  }

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
    while (this.free.length === 0) await this.growOnce();
    return this.free.pop()!;
  }

  private async grow(): Promise<void> {
    const from = this.capacity;
    await this.extend(this.offset(from + this.growBy), this.offset(from));
    this.capacity = from + this.growBy;
    for (let i = from + this.growBy - 1; i >= from; i--) this.free.push(i);
  }
}
