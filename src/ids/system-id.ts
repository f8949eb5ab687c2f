// The system-ID rule (draft §4.2): what a localSystemID or remoteSystemID may be.

/** A concrete system ID as it arrives in a request, validated once (docs/architecture.md, style 3). */
export type SystemId = string & { readonly __brand: 'SystemId' };

/** Longest ID accepted; the draft requires at least 32 bytes (§4.1). */
export const MAX_SYSTEM_ID_BYTES = 255;

/** Printable ASCII or any non-control Unicode, no leading/trailing space. */
export function parseSystemId(s: string): SystemId | undefined {
  if (s.length === 0 || Buffer.byteLength(s) > MAX_SYSTEM_ID_BYTES) return undefined;
  if (/\p{Cc}/u.test(s) || s.trim() !== s) return undefined;
  return s as SystemId;
}
