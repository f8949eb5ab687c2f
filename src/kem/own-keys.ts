// This KP's own ML-KEM-1024 private keys. A reload that brings a new pair makes it the current key
// and keeps the previous one for a grace period, so a peer still encapsulating to the old public
// key keeps working until it reloads the new one. Decapsulation tries the current key, then the
// previous one; the caller's check (key confirmation) says which secret is the right one.

import type { PreparedPrivate } from './mlkem.js';

export type WhichKey = 'current' | 'previous';

export interface OwnKeySwap {
  changed: boolean;
  /** When the previous key stops being accepted (absent: no grace period, or no change). */
  previousUntil?: Date;
}

export class OwnKemKeys {
  private previous: { key: PreparedPrivate; until: number; timer: ReturnType<typeof setTimeout> } | undefined;

  constructor(
    private current: PreparedPrivate,
    /** How long a replaced key is still tried; 0: not at all. */
    private readonly graceMs: number,
  ) {}

  get ek(): Buffer {
    return this.current.ek;
  }

  /** Makes `next` the current key. The same pair again changes nothing (and `next` is wiped). */
  replace(next: PreparedPrivate): OwnKeySwap {
    if (next.ek.equals(this.current.ek)) {
      next.wipe();
      return { changed: false };
    }
    this.dropPrevious();
    const old = this.current;
    this.current = next;
    if (this.graceMs <= 0) {
      old.wipe();
      return { changed: true };
    }
    const until = Date.now() + this.graceMs;
    const timer = setTimeout(() => this.dropPrevious(), this.graceMs);
    timer.unref();
    this.previous = { key: old, until, timer };
    return { changed: true, previousUntil: new Date(until) };
  }

  /**
   * The shared secret for `ciphertext`: the current key's if `accept` takes it, else the previous
   * key's if that one is still in its grace period and `accept` takes it. Without `accept` (a
   * sender that sends no confirmation) only the current key can be used. Undefined when no key
   * gives an accepted secret. The caller wipes the returned secret.
   */
  decapsulate(
    ciphertext: Uint8Array,
    accept?: (secret: Buffer) => boolean,
  ): { secret: Buffer; which: WhichKey } | undefined {
    const secret = this.current.decapsulate(ciphertext);
    if (!accept || accept(secret)) return { secret, which: 'current' };
    secret.fill(0);
    const prev = this.previous;
    if (!prev || Date.now() >= prev.until) return undefined;
    const old = prev.key.decapsulate(ciphertext);
    if (accept(old)) return { secret: old, which: 'previous' };
    old.fill(0);
    return undefined;
  }

  wipe(): void {
    this.dropPrevious();
    this.current.wipe();
  }

  private dropPrevious(): void {
    if (!this.previous) return;
    clearTimeout(this.previous.timer);
    this.previous.key.wipe();
    this.previous = undefined;
  }
}
