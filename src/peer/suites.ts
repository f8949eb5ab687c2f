// The peer link's TLS suites, for both its server and its client: forward-secret AES-256-GCM
// only, like the encryptor side; a peer that offers only AES-128 or ChaCha20 is refused.

export const PEER_SUITES = [
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'TLS_AES_256_GCM_SHA384',
] as const;
