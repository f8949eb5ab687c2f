// The names an X.509 certificate (RFC 5280) carries, read from its DER: the dNSName and
// iPAddress entries of subjectAltName (§4.2.1.6), whether the extension is present at all, and
// the subject's commonName values. Read from bytes, not from Node's `subjectaltname` string,
// whose quoting varies by version and kind, so a crafted name cannot smuggle in another.

import { DerError, TAG, readAll, readOne, type Tlv } from '../kem/der.js';

export interface CertNames {
  /** True when the certificate has a subjectAltName extension (of any kinds). */
  hasSan: boolean;
  /** dNSName entries, as written, and iPAddress entries in Node's textual form. */
  san: string[];
  /** Every commonName of the subject, in order. */
  cn: string[];
}

const OID_SAN = Buffer.from([0x55, 0x1d, 0x11]); // 2.5.29.17
const OID_CN = Buffer.from([0x55, 0x04, 0x03]); // 2.5.4.3
const CTX = { VERSION: 0xa0, EXTENSIONS: 0xa3, DNS: 0x82, IP: 0x87 } as const;
const SET = 0x31;

function ipText(b: Buffer): string | undefined {
  if (b.length === 4) return [...b].join('.');
  if (b.length !== 16) return undefined;
  const groups = Array.from({ length: 8 }, (_, i) => b.readUInt16BE(2 * i).toString(16));
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

function subjectCns(subject: Buffer): string[] {
  const out: string[] = [];
  for (const rdn of readAll(subject)) {
    if (rdn.tag !== SET) throw new DerError('subject RDN is not a SET');
    for (const atv of readAll(rdn.value)) {
      const [oid, value] = readAll(atv.value);
      if (oid?.tag === TAG.OID && oid.value.equals(OID_CN) && value) out.push(value.value.toString('utf8'));
    }
  }
  return out;
}

function sanEntries(extensions: Buffer): { hasSan: boolean; san: string[] } {
  for (const ext of readAll(readOne(extensions, TAG.SEQUENCE))) {
    const parts = readAll(ext.value);
    if (parts[0]?.tag !== TAG.OID || !parts[0].value.equals(OID_SAN)) continue;
    const value = parts[parts.length - 1]!;
    if (value.tag !== TAG.OCTET_STRING) throw new DerError('subjectAltName value is not an OCTET STRING');
    const san: string[] = [];
    for (const name of readAll(readOne(value.value, TAG.SEQUENCE))) {
      if (name.tag === CTX.DNS) san.push(name.value.toString('latin1'));
      else if (name.tag === CTX.IP) {
        const ip = ipText(name.value);
        if (ip !== undefined) san.push(ip);
      }
    }
    return { hasSan: true, san };
  }
  return { hasSan: false, san: [] };
}

/** The names of a DER certificate; throws DerError on a malformed one. */
export function certNames(der: Buffer): CertNames {
  const [tbs] = readAll(readOne(der, TAG.SEQUENCE));
  if (tbs?.tag !== TAG.SEQUENCE) throw new DerError('no tbsCertificate');
  const fields: Tlv[] = readAll(tbs.value);
  const rest = fields[0]?.tag === CTX.VERSION ? fields.slice(1) : fields;
  // serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo, then optionals.
  const subject = rest[4];
  if (subject?.tag !== TAG.SEQUENCE) throw new DerError('no subject');
  const extensions = rest.slice(6).find((f) => f.tag === CTX.EXTENSIONS);
  return {
    cn: subjectCns(subject.value),
    ...(extensions ? sanEntries(extensions.value) : { hasSan: false, san: [] }),
  };
}
