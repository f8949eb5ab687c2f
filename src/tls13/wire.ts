// TLS wire format: a bounds-checked reader and length-prefixed writers (RFC 8446 §3). Every read
// past the end, or a vector whose length disagrees with its bytes, throws a DecodeError, which the
// engine answers with a decode_error alert.

export class DecodeError extends Error {}

export class Reader {
  private pos = 0;
  constructor(
    readonly buf: Buffer,
    private readonly what = 'message',
  ) {}

  get offset(): number {
    return this.pos;
  }
  get left(): number {
    return this.buf.length - this.pos;
  }
  private need(n: number): void {
    if (n > this.left) throw new DecodeError(`${this.what}: ${n} bytes needed, ${this.left} left`);
  }
  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }
  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  u24(): number {
    this.need(3);
    const v = this.buf.readUIntBE(this.pos, 3);
    this.pos += 3;
    return v;
  }
  bytes(n: number): Buffer {
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  /** A vector with a 1-, 2- or 3-byte length prefix, checked against `min` and `max`. */
  vec(lenBytes: 1 | 2 | 3, min = 0, max = Infinity): Buffer {
    const n = lenBytes === 1 ? this.u8() : lenBytes === 2 ? this.u16() : this.u24();
    if (n < min || n > max) throw new DecodeError(`${this.what}: vector of ${n} bytes, not ${min}..${max}`);
    return this.bytes(n);
  }
  /** Throws unless every byte was read. */
  end(): void {
    if (this.left !== 0) throw new DecodeError(`${this.what}: ${this.left} bytes left over`);
  }
}

export function u8(n: number): Buffer {
  return Buffer.from([n]);
}
export function u16(n: number): Buffer {
  return Buffer.from([n >> 8, n & 0xff]);
}
export function u24(n: number): Buffer {
  return Buffer.from([(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]);
}
/** A vector: its length in `lenBytes` bytes, then the bytes. */
export function vec(lenBytes: 1 | 2 | 3, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const len = lenBytes === 1 ? u8(body.length) : lenBytes === 2 ? u16(body.length) : u24(body.length);
  return Buffer.concat([len, body]);
}
/** A handshake message: type, 24-bit length, body. */
export function handshake(type: number, body: Buffer): Buffer {
  return Buffer.concat([u8(type), u24(body.length), body]);
}
/** An extension: type, then its data as a 16-bit vector. */
export function extension(type: number, data: Buffer): Buffer {
  return Buffer.concat([u16(type), vec(2, data)]);
}
