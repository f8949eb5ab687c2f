// The numbers of RFC 8446 this engine uses (§4, §4.2, §6, B.3), and the one profile it serves.

export const CONTENT = { ccs: 20, alert: 21, handshake: 22, application: 23 } as const;

export const HS = {
  clientHello: 1,
  serverHello: 2,
  newSessionTicket: 4,
  endOfEarlyData: 5,
  encryptedExtensions: 8,
  certificate: 11,
  certificateRequest: 13,
  certificateVerify: 15,
  finished: 20,
  keyUpdate: 24,
  messageHash: 254,
} as const;

export const EXT = {
  serverName: 0,
  supportedGroups: 10,
  alpn: 16,
  preSharedKey: 41,
  earlyData: 42,
  supportedVersions: 43,
  cookie: 44,
  pskKeyExchangeModes: 45,
  keyShare: 51,
} as const;

export const ALERT = {
  closeNotify: 0,
  unexpectedMessage: 10,
  badRecordMac: 20,
  recordOverflow: 22,
  handshakeFailure: 40,
  illegalParameter: 47,
  decodeError: 50,
  decryptError: 51,
  protocolVersion: 70,
  internalError: 80,
  missingExtension: 109,
  unsupportedExtension: 110,
  noApplicationProtocol: 120,
} as const;

export const TLS13 = 0x0304;
export const TLS12 = 0x0303;
/** The one suite this engine serves: draft-cisco-skip-02 Table 1's REQUIRED TLS 1.3 row. */
export const TLS_AES_256_GCM_SHA384 = 0x1302;
export const TLS_AES_128_GCM_SHA256 = 0x1301;

const SUITE_NAMES: Record<number, string> = {
  0x1301: 'TLS_AES_128_GCM_SHA256',
  0x1302: 'TLS_AES_256_GCM_SHA384',
  0x1303: 'TLS_CHACHA20_POLY1305_SHA256',
  0x1304: 'TLS_AES_128_CCM_SHA256',
  0x1305: 'TLS_AES_128_CCM_8_SHA256',
};
/** A TLS 1.3 suite's name, or its number in hex. */
export const suiteName = (s: number): string => SUITE_NAMES[s] ?? `0x${s.toString(16).padStart(4, '0')}`;

export const PSK_KE = 0;
export const PSK_DHE_KE = 1;

/** Named groups (RFC 8446 §4.2.7; X25519MLKEM768: draft-ietf-tls-ecdhe-mlkem). */
export const GROUP = {
  secp256r1: 0x0017,
  secp384r1: 0x0018,
  x25519: 0x001d,
  x25519mlkem768: 0x11ec,
} as const;

/** Record limits (§5.1, §5.2). */
export const MAX_PLAINTEXT = 1 << 14;
export const MAX_CIPHERTEXT = (1 << 14) + 256;

/** ServerHello.random of a HelloRetryRequest: SHA-256("HelloRetryRequest") (§4.1.3). */
export const HRR_RANDOM = Buffer.from(
  'cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c',
  'hex',
);

/** The hash of the one suite served, and of the PSKs it takes. */
export const HASH = 'sha384' as const;

/** Largest handshake message taken: 16 KiB (a ClientHello with a post-quantum key share is about
 * 1.6 KB). */
export const MAX_HANDSHAKE_MESSAGE = 1 << 14;
