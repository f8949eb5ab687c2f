// Handshake messages from handshake records (RFC 8446 §5.1): a message may span records, a record
// may hold several messages, and the rules the engine enforces on both sides of the connection:
// no empty handshake record, no message over the size limit, nothing of another content type
// between the fragments of one message, and a message that changes keys ends its record.

import { ALERT, MAX_HANDSHAKE_MESSAGE } from './constants.js';
import { AlertError } from './record.js';

export interface ReassemblerOptions {
  /** Largest message body taken (default MAX_HANDSHAKE_MESSAGE). */
  max?: number;
  /** The refusal of a message whose header says `length` bytes, over `max`. */
  tooLarge?: (length: number, max: number) => AlertError;
}

export class HandshakeReassembler {
  private buffer: Buffer = Buffer.alloc(0);
  private readonly max: number;
  private readonly tooLarge: (length: number, max: number) => AlertError;

  constructor(o: ReassemblerOptions = {}) {
    this.max = o.max ?? MAX_HANDSHAKE_MESSAGE;
    this.tooLarge =
      o.tooLarge ?? ((length) => new AlertError(ALERT.decodeError, `handshake message of ${length} bytes`));
  }

  /** True while part of a message is held: a record of another type may not come now. */
  get partial(): boolean {
    return this.buffer.length > 0;
  }

  /** Bytes held of messages not yet whole. */
  get held(): number {
    return this.buffer.length;
  }

  /** One handshake record's content; yields each whole message (a copy) as it completes, so the
   * caller acts on it before the next is cut. */
  *add(content: Buffer): Generator<Buffer, void, undefined> {
    if (content.length === 0) throw new AlertError(ALERT.unexpectedMessage, 'empty handshake record');
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, content]) : content;
    while (this.buffer.length >= 4) {
      const length = this.buffer.readUIntBE(1, 3);
      if (length > this.max) throw this.tooLarge(length, this.max);
      if (this.buffer.length < 4 + length) return;
      const message = Buffer.from(this.buffer.subarray(0, 4 + length));
      this.buffer = this.buffer.subarray(4 + length);
      yield message;
    }
  }

  /** Refuses the rest of the record after a message that changes keys: a key change falls on a
   * record boundary (§5.1). `reason` says which message it was. */
  endsRecord(reason: string): void {
    if (this.buffer.length > 0) throw new AlertError(ALERT.unexpectedMessage, reason);
  }
}
