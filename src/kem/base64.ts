// Base64 (RFC 4648) between Buffers, so private key PEM never passes through a JS string:
// strings cannot be wiped (docs/architecture.md, style 5).

const ALPHABET = Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/');
const VALUE = new Int16Array(256).fill(-1);
ALPHABET.forEach((c, i) => (VALUE[c] = i));
const WHITESPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);
const PAD = 0x3d;

/** Decodes base64 text in `src`, skipping whitespace; undefined if it is not valid base64. */
export function decodeBase64(src: Uint8Array): Buffer | undefined {
  const out = Buffer.alloc(Math.floor((src.length * 3) / 4) + 3);
  let acc = 0;
  let bits = 0;
  let n = 0;
  let pads = 0;
  let chars = 0;
  for (const c of src) {
    if (WHITESPACE.has(c)) continue;
    if (c === PAD) {
      pads++;
      continue;
    }
    const v = VALUE[c]!;
    if (v < 0 || pads > 0) return wipeAnd(out);
    chars++;
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (acc >> bits) & 0xff;
    }
  }
  if (chars % 4 === 1 || pads > 2 || (pads > 0 && (chars + pads) % 4 !== 0)) return wipeAnd(out);
  const result = Buffer.from(out.subarray(0, n));
  out.fill(0);
  return result;
}

function wipeAnd(b: Buffer): undefined {
  b.fill(0);
  return undefined;
}

/** Encodes to base64 with a newline every 64 characters (PEM, RFC 7468). */
export function encodeBase64Lines(src: Uint8Array): Buffer {
  const chars = Math.ceil(src.length / 3) * 4;
  const out = Buffer.alloc(chars + Math.ceil(chars / 64));
  let o = 0;
  let col = 0;
  const put = (c: number): void => {
    out[o++] = c;
    if (++col === 64) {
      out[o++] = 0x0a;
      col = 0;
    }
  };
  for (let i = 0; i < src.length; i += 3) {
    const a = src[i]!;
    const b = src[i + 1] ?? 0;
    const c = src[i + 2] ?? 0;
    put(ALPHABET[a >> 2]!);
    put(ALPHABET[((a & 3) << 4) | (b >> 4)]!);
    put(i + 1 < src.length ? ALPHABET[((b & 15) << 2) | (c >> 6)]! : PAD);
    put(i + 2 < src.length ? ALPHABET[c & 63]! : PAD);
  }
  if (col !== 0) out[o++] = 0x0a;
  return out.subarray(0, o);
}
