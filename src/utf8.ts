// Strict UTF-8 (RFC 3629): the offset of the first byte that does not belong to a well-formed
// sequence (overlong forms, surrogates and code points past U+10FFFF included), for errors that
// name where a file is broken instead of silently reading U+FFFD.

/** -1 when `b` is well-formed UTF-8, else the offset of the first bad sequence. */
export function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    // Sequence length and the allowed range of its second byte (excludes overlongs, surrogates,
    // and code points above U+10FFFF).
    let n: number,
      lo = 0x80,
      hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) n = 2;
    else if (c >= 0xe0 && c <= 0xef) [n, lo, hi] = [3, c === 0xe0 ? 0xa0 : 0x80, c === 0xed ? 0x9f : 0xbf];
    else if (c >= 0xf0 && c <= 0xf4) [n, lo, hi] = [4, c === 0xf0 ? 0x90 : 0x80, c === 0xf4 ? 0x8f : 0xbf];
    else return i;
    if (i + n > b.length) return i;
    const second = b[i + 1]!;
    if (second < lo || second > hi) return i;
    for (let k = 2; k < n; k++) if ((b[i + k]! & 0xc0) !== 0x80) return i;
    i += n;
  }
  return -1;
}
