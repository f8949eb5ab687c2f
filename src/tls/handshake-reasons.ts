// Why a TLS handshake was refused, in an operator's words, from Node's and OpenSSL's error codes
// ("ERR_SSL_CIPHER_OPERATION_FAILED" alone tells nobody that the PSK was wrong). The code stays
// in the log line beside the words, for searching.

import { errorCode } from '../errors.js';

const WORDS: [RegExp, string][] = [
  [
    /DECRYPTION_FAILED|BAD_RECORD_MAC|CIPHER_OPERATION_FAILED|DECRYPT_ERROR/,
    'wrong PSK (or a damaged handshake)',
  ],
  [
    /NO_SHARED_CIPHER|NO_CIPHERS_AVAILABLE|NO_SUITABLE_SIGNATURE/,
    'no cipher suite in common with the client',
  ],
  [
    /UNSUPPORTED_PROTOCOL|WRONG_VERSION_NUMBER|VERSION_TOO_LOW|PROTOCOL_VERSION/,
    'TLS version not accepted (TLS 1.2 or 1.3 only)',
  ],
  [/HANDSHAKE_TIMEOUT/, 'handshake not finished in time'],
  [/PEER_DID_NOT_RETURN_A_CERTIFICATE|NO_CERTIFICATE/, 'the client sent no certificate'],
  [/UNKNOWN_CA|CERTIFICATE_VERIFY_FAILED|UNABLE_TO_GET_ISSUER/, 'client certificate not signed by cafile'],
  [/CERTIFICATE_EXPIRED|CERT_HAS_EXPIRED/, 'client certificate expired'],
  [/HTTP_REQUEST|NOT_A_TLS|UNKNOWN_PROTOCOL/, 'not TLS (plain HTTP or another protocol?)'],
  [/^ECONNRESET$|^EPIPE$/, 'the client closed the connection during the handshake'],
];

/** `reason` in words and the raw `code`, for a 'tls handshake refused' log line. */
export function handshakeReason(err: Error): { reason: string; code: string } {
  const code = errorCode(err) ?? err.message;
  const words = WORDS.find(([re]) => re.test(code))?.[1];
  return { reason: words ?? code, code };
}
