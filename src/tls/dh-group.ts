// The finite-field group of the TLS 1.2 DHE-PSK suites: RFC 7919 ffdhe3072, named, not left to
// OpenSSL's `dhparam: 'auto'` rule (which picks by cipher strength; it gives RFC 3526 MODP 3072
// for our AES-256 suites today). OpenSSL recognises the named group and draws a 275-bit private
// exponent. Why this group and not ffdhe2048: docs/security.md, "DHE-PSK group". Public
// parameters, not a secret.

/** RFC 7919 Appendix A.2 (ffdhe3072), p and g = 2, as PKCS#3 DHParameter PEM. */
export const FFDHE3072_PEM = `-----BEGIN DH PARAMETERS-----
MIIBiAKCAYEA//////////+t+FRYortKmq/cViAnPTzx2LnFg84tNpWp4TZBFGQz
+8yTnc4kmz75fS/jY2MMddj2gbICrsRhetPfHtXV/WVhJDP1H18GbtCFY2VVPe0a
87VXE15/V8k1mE8McODmi3fipona8+/och3xWKE2rec1MKzKT0g6eXq8CrGCsyT7
YdEIqUuyyOP7uWrat2DX9GgdT0Kj3jlN9K5W7edjcrsZCwenyO4KbXCeAvzhzffi
7MA0BM0oNC9hkXL+nOmFg/+OTxIy7vKBg8P+OxtMb61zO7X8vC7CIAXFjvGDfRaD
ssbzSibBsu/6iGtCOGEfz9zeNVs7ZRkDW7w09N75nAI4YbRvydbmyQd62R0mkff3
7lmMsPrBhtkcrv4TCYUTknC0EwyTvEN5RPT9RFLi103TZPLiHnH1S/9croKrnJ32
nuhtK8UiNjoNq8Uhl5sN6todv5pC1cRITgq80Gv6U93vPBsg7j/VnXwl5B0rZsYu
N///////////AgEC
-----END DH PARAMETERS-----
`;
