// Byte helpers shared by every module that touches key material.
// Rule (docs/architecture.md, style 5): whoever allocates a secret buffer wipes it in `finally`.

/** Zero-fills every given buffer; tolerates undefined so it can sit in `finally`. */
export function wipe(...bufs: (Uint8Array | undefined | null)[]): void {
  for (const b of bufs) b?.fill(0);
}
