// ClientHello (RFC 8446 §4.1.2) and the extensions this engine reads, parsed strictly: every
// length checked, a duplicated extension or a pre_shared_key that is not last refused (§4.2,
// §4.2.11), binders counted against identities. Used by the front door to route a connection
// and by the engine to answer it.

import { ALERT, EXT, HS } from './constants.js';
import { AlertError } from './record.js';
import { DecodeError, Reader } from './wire.js';

export interface PskOffer {
  identities: { identity: Buffer; age: number }[];
  binders: Buffer[];
  /** Offset in the ClientHello message where the binders vector starts (the truncation point). */
  bindersOffset: number;
}

export interface ClientHello {
  /** The whole handshake message, header included (for the transcript). */
  raw: Buffer;
  legacyVersion: number;
  random: Buffer;
  sessionId: Buffer;
  cipherSuites: number[];
  compression: Buffer;
  extensionTypes: number[];
  versions?: number[];
  groups?: number[];
  keyShares?: { group: number; key: Buffer }[];
  pskModes?: number[];
  psk?: PskOffer;
  alpn?: string[];
  earlyData: boolean;
  cookie?: Buffer;
  /** server_name's host_name (RFC 6066 §3), when it is clean ASCII. */
  serverName?: string;
}

const decode = (what: string, fn: () => void): void => {
  try {
    fn();
  } catch (e) {
    if (e instanceof DecodeError)
      throw new AlertError(
        ALERT.decodeError,
        e.message.startsWith(`${what}:`) ? e.message : `${what}: ${e.message}`,
      );
    throw e;
  }
};

/** Runs `read`, naming `name` in its DecodeError. */
function field<T>(name: string, read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof DecodeError)
      throw new DecodeError(`${name}: ${e.message.replace(/^ClientHello: /, '')}`);
    throw e;
  }
}

const list16 = (r: Reader): number[] => {
  const out: number[] = [];
  while (r.left > 0) out.push(r.u16());
  return out;
};

/** Parses a ClientHello handshake message (type, length, body); throws AlertError. */
export function parseClientHello(raw: Buffer): ClientHello {
  let ch!: ClientHello;
  decode('ClientHello', () => {
    const r = new Reader(raw, 'ClientHello');
    if (r.u8() !== HS.clientHello)
      throw new AlertError(ALERT.unexpectedMessage, 'first message is not a ClientHello');
    const len = r.u24();
    if (len !== r.left) throw new DecodeError(`length ${len} but ${r.left} bytes`);
    const legacyVersion = r.u16();
    const random = r.bytes(32);
    const sessionId = field('legacy_session_id', () => r.vec(1, 0, 32));
    const suites = field('cipher_suites', () => r.vec(2, 2, 0xfffe));
    if (suites.length % 2 !== 0) throw new DecodeError('cipher_suites of odd length');
    const compression = field('legacy_compression_methods', () => r.vec(1, 1, 255));
    ch = {
      raw,
      legacyVersion,
      random,
      sessionId,
      cipherSuites: list16(new Reader(suites, 'cipher_suites')),
      compression,
      extensionTypes: [],
      earlyData: false,
    };
    if (r.left === 0) return; // no extensions: a TLS 1.2-or-older hello
    const exts = new Reader(r.vec(2, 0, 0xffff), 'extensions');
    r.end();
    while (exts.left > 0) {
      const type = exts.u16();
      const start = raw.length - r.left - exts.left; // offset of this extension's length field
      const data = exts.vec(2);
      if (ch.extensionTypes.includes(type))
        throw new AlertError(ALERT.illegalParameter, `extension ${type} appears twice`);
      if (ch.extensionTypes.includes(EXT.preSharedKey))
        throw new AlertError(ALERT.illegalParameter, 'pre_shared_key is not the last extension');
      ch.extensionTypes.push(type);
      readExtension(ch, type, data, start + 2);
    }
  });
  return ch;
}

function readExtension(ch: ClientHello, type: number, data: Buffer, dataOffset: number): void {
  const r = new Reader(data, `extension ${type}`);
  switch (type) {
    case EXT.supportedVersions: {
      const v = r.vec(1, 2, 254);
      if (v.length % 2) throw new DecodeError('supported_versions of odd length');
      ch.versions = list16(new Reader(v));
      break;
    }
    case EXT.supportedGroups: {
      const g = r.vec(2, 2, 0xfffe);
      if (g.length % 2) throw new DecodeError('supported_groups of odd length');
      ch.groups = list16(new Reader(g));
      break;
    }
    case EXT.keyShare: {
      const shares = new Reader(r.vec(2), 'key_share');
      ch.keyShares = [];
      while (shares.left > 0) {
        const group = shares.u16();
        const key = shares.vec(2, 1, 0xffff);
        if (ch.keyShares.some((s) => s.group === group))
          throw new AlertError(ALERT.illegalParameter, `key_share has group ${group} twice`);
        ch.keyShares.push({ group, key });
      }
      break;
    }
    case EXT.pskKeyExchangeModes:
      ch.pskModes = [...r.vec(1, 1, 255)];
      break;
    case EXT.preSharedKey: {
      const ids = new Reader(r.vec(2, 7, 0xffff), 'psk identities');
      const identities: PskOffer['identities'] = [];
      while (ids.left > 0)
        identities.push({ identity: ids.vec(2, 1, 0xffff), age: ids.bytes(4).readUInt32BE() });
      const bindersOffset = dataOffset + r.offset;
      const bs = new Reader(r.vec(2, 33, 0xffff), 'psk binders');
      const binders: Buffer[] = [];
      while (bs.left > 0) binders.push(bs.vec(1, 32, 255));
      if (binders.length !== identities.length)
        throw new AlertError(
          ALERT.illegalParameter,
          `${identities.length} PSK identities but ${binders.length} binders`,
        );
      ch.psk = { identities, binders, bindersOffset };
      break;
    }
    case EXT.alpn: {
      const names = new Reader(r.vec(2, 2, 0xffff), 'alpn');
      ch.alpn = [];
      while (names.left > 0) ch.alpn.push(names.vec(1, 1, 255).toString('latin1'));
      break;
    }
    case EXT.earlyData:
      ch.earlyData = true;
      break;
    case EXT.cookie:
      ch.cookie = r.vec(2, 1, 0xffff);
      break;
    case EXT.serverName: {
      const names = new Reader(r.vec(2, 1, 0xffff), 'server_name');
      while (names.left > 0) {
        const type = names.u8();
        const name = names.vec(2, 1, 0xffff).toString('latin1');
        if (type === 0 && ch.serverName === undefined && /^[\x21-\x7e]{1,253}$/.test(name))
          ch.serverName = name;
      }
      break;
    }
    default:
      return; // other extensions are read past, not interpreted
  }
  r.end();
}
