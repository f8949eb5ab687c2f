// The little DER (ITU-T X.690) that ML-KEM key files need: definite lengths, SEQUENCE, INTEGER,
// OBJECT IDENTIFIER, BIT STRING, OCTET STRING and the context tag [0]. Reading is strict: a
// length that overruns its container, or trailing bytes, is an error.

export const TAG = {
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  OID: 0x06,
  SEQUENCE: 0x30,
  CTX0: 0x80,
} as const;

export interface Tlv {
  tag: number;
  value: Buffer;
}

export class DerError extends Error {}

/** Reads consecutive TLVs that exactly fill `buf`. */
export function readAll(buf: Buffer): Tlv[] {
  const out: Tlv[] = [];
  let i = 0;
  while (i < buf.length) {
    const tag = buf[i++]!;
    if (i >= buf.length) throw new DerError('truncated length');
    let len = buf[i++]!;
    if (len & 0x80) {
      const n = len & 0x7f;
      if (n === 0 || n > 3 || i + n > buf.length) throw new DerError('bad length');
      len = 0;
      for (let k = 0; k < n; k++) len = (len << 8) | buf[i++]!;
      if (len < 0x80 || (n > 1 && len < 1 << (8 * (n - 1)))) throw new DerError('non-minimal length');
    }
    if (i + len > buf.length) throw new DerError('length overruns the data');
    out.push({ tag, value: buf.subarray(i, i + len) });
    i += len;
  }
  return out;
}

/** Reads exactly one TLV with the expected tag. */
export function readOne(buf: Buffer, tag: number): Buffer {
  const all = readAll(buf);
  if (all.length !== 1 || all[0]!.tag !== tag)
    throw new DerError(`expected one element with tag 0x${tag.toString(16)}`);
  return all[0]!.value;
}

export function encode(tag: number, ...parts: Buffer[]): Buffer {
  const value = Buffer.concat(parts);
  const n = value.length;
  const len =
    n < 0x80
      ? Buffer.from([n])
      : n < 0x100
        ? Buffer.from([0x81, n])
        : n < 0x10000
          ? Buffer.from([0x82, n >> 8, n & 0xff])
          : Buffer.from([0x83, n >> 16, (n >> 8) & 0xff, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), len, value]);
}
