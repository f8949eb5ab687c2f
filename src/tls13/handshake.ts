// The server side of a TLS 1.3 handshake with an external PSK, for exactly one profile
// (RFC 8446 §2.2, §4): TLS_AES_256_GCM_SHA384, psk_dhe_ke preferred (x25519, P-256, P-384,
// X25519MLKEM768), psk_ke allowed, HelloRetryRequest when the client's shares miss a group it
// supports, ALPN http/1.1 echoed, no certificates, no 0-RTT, no tickets. The PSK is bound to
// SHA-384. Messages in, records out; the connection (connection.ts) carries the bytes.

import { randomBytes } from 'node:crypto';
import {
  ALERT,
  EXT,
  HASH,
  HRR_RANDOM,
  HS,
  PSK_DHE_KE,
  PSK_KE,
  TLS13,
  TLS_AES_256_GCM_SHA384,
} from './constants.js';
import { parseClientHello, type ClientHello } from './client-hello.js';
import { GROUP_NAMES, SERVER_GROUPS, serverShare } from './key-share.js';
import { KeySchedule, Transcript, finishedMac, macEqual, nextTrafficSecret } from './key-schedule.js';
import { AlertError } from './record.js';
import { extension, handshake, u16, u8, vec } from './wire.js';

export interface PskLookup {
  /** The key of an identity, or null/undefined when it is not in the table. */
  lookup(identity: string): Buffer | null | undefined;
}

export interface HandshakeOptions {
  psk: PskLookup;
  /** Groups served, in preference order (default SERVER_GROUPS). */
  groups?: readonly number[];
}

/** What the connection does with the handshake's output, in order. */
export type Step =
  | { kind: 'plain'; type: number; content: Buffer }
  | { kind: 'write-key'; secret: Buffer }
  | { kind: 'read-key'; secret: Buffer }
  | { kind: 'protected'; type: number; content: Buffer }
  | { kind: 'done' };

export interface Negotiated {
  identity: string;
  group?: string;
  retried: boolean;
  alpn?: string;
}

/** Where the handshake is, holding only what is valid there. */
type State =
  | { at: 'hello' }
  | { at: 'retry'; first: ClientHello; group: number; selected: number; transcript: Transcript }
  | {
      at: 'finished';
      clientHs: Buffer;
      serverHs: Buffer;
      transcript: Transcript;
      clientAp: Buffer;
      serverAp: Buffer;
      negotiated: Negotiated;
    }
  | { at: 'done'; clientAp: Buffer; serverAp: Buffer; negotiated: Negotiated };

const CCS = { kind: 'plain', type: 20, content: Buffer.from([1]) } as const;

/** An identity's bytes as the PSK table names it; undefined if they are not clean UTF-8. */
function identityText(b: Buffer): string | undefined {
  const s = b.toString('utf8');
  return Buffer.byteLength(s) === b.length && !s.includes('\ufffd') ? s : undefined;
}

export class ServerHandshake {
  private state: State = { at: 'hello' };
  /** The identity the client offered, for the log even when refused. */
  offeredIdentity: string | undefined;

  constructor(private readonly o: HandshakeOptions) {}

  get finished(): boolean {
    return this.state.at === 'done';
  }

  /** What was agreed, once the server's flight is out. */
  get negotiated(): Negotiated | undefined {
    return this.state.at === 'finished' || this.state.at === 'done' ? this.state.negotiated : undefined;
  }

  /** A whole handshake message from the client; returns the steps to carry out. */
  message(raw: Buffer): Step[] {
    const type = raw[0];
    const state = this.state;
    if (state.at === 'hello' || state.at === 'retry') {
      if (type !== HS.clientHello)
        throw new AlertError(ALERT.unexpectedMessage, `handshake message ${type} before ClientHello`);
      return this.hello(parseClientHello(raw));
    }
    if (state.at === 'finished') {
      if (type !== HS.finished)
        throw new AlertError(ALERT.unexpectedMessage, `handshake message ${type} where Finished was due`);
      return this.clientFinished(state, raw);
    }
    throw new AlertError(ALERT.unexpectedMessage, `handshake message ${type} after the handshake`);
  }

  /** Answers the first ClientHello, which the front door has already parsed. */
  start(ch: ClientHello): Step[] {
    return this.hello(ch);
  }

  /** After a KeyUpdate from the client: its next application traffic secret; the old one is wiped. */
  nextClientSecret(): Buffer {
    const done = this.done();
    const next = nextTrafficSecret(HASH, done.clientAp);
    done.clientAp.fill(0);
    done.clientAp = next;
    return next;
  }

  /** Our next application traffic secret, for the KeyUpdate we send; the old one is wiped. */
  nextServerSecret(): Buffer {
    const done = this.done();
    const next = nextTrafficSecret(HASH, done.serverAp);
    done.serverAp.fill(0);
    done.serverAp = next;
    return next;
  }

  private done(): Extract<State, { at: 'done' }> {
    if (this.state.at !== 'done') throw new Error('KeyUpdate before the handshake ended');
    return this.state;
  }

  private hello(ch: ClientHello): Step[] {
    const retry = this.state.at === 'retry' ? this.state : undefined;
    if (!ch.versions?.includes(TLS13))
      throw new AlertError(ALERT.protocolVersion, 'TLS 1.3 not offered in supported_versions', 'version');
    if (ch.legacyVersion !== 0x0303)
      throw new AlertError(
        ALERT.protocolVersion,
        `legacy_version 0x${ch.legacyVersion.toString(16)}, not 0x0303`,
        'version',
      );
    if (ch.compression.length !== 1 || ch.compression[0] !== 0)
      throw new AlertError(ALERT.illegalParameter, 'compression methods other than null');
    if (!ch.cipherSuites.includes(TLS_AES_256_GCM_SHA384))
      throw new AlertError(ALERT.handshakeFailure, 'TLS_AES_256_GCM_SHA384 not offered');
    if (ch.earlyData)
      throw new AlertError(
        ALERT.illegalParameter,
        'early data offered (0-RTT is replayable; never accepted)',
      );
    if (!ch.psk)
      throw new AlertError(ALERT.handshakeFailure, 'no pre_shared_key offered (this port serves PSKs only)');
    if (!ch.pskModes)
      throw new AlertError(ALERT.missingExtension, 'pre_shared_key without psk_key_exchange_modes');
    // Each of supported_groups and key_share requires the other (§9.2).
    if (ch.groups && !ch.keyShares)
      throw new AlertError(ALERT.missingExtension, 'supported_groups without key_share');
    if (ch.keyShares && !ch.groups)
      throw new AlertError(ALERT.missingExtension, 'key_share without supported_groups');
    if (retry) checkRetryHello(retry, ch);
    const transcript = retry ? retry.transcript : new Transcript(HASH);

    // The first identity in the table is the one taken; a missing one fails as a wrong key does.
    const index = ch.psk.identities.findIndex((i) => {
      const name = identityText(i.identity);
      return name !== undefined && this.o.psk.lookup(name);
    });
    if (index < 0) {
      this.offeredIdentity = identityText(ch.psk.identities[0]!.identity) ?? '(not UTF-8)';
      // The binder work of a known identity, with a random key: the refusal takes as long and
      // says the same as a wrong key, so neither tells which identities exist.
      const keys = new KeySchedule(HASH, randomBytes(48));
      try {
        verifyBinder(keys, ch, 0, transcript);
      } catch {
        // expected: a random key never verifies
      } finally {
        keys.wipe();
      }
      throw new AlertError(ALERT.decryptError, 'unknown PSK identity', 'unknown_identity');
    }
    const identity = identityText(ch.psk.identities[index]!.identity)!;
    this.offeredIdentity = identity;
    if (retry && index !== retry.selected)
      throw new AlertError(ALERT.illegalParameter, 'second ClientHello chose another PSK identity');
    const psk = Buffer.from(this.o.psk.lookup(identity)!);
    const keys = new KeySchedule(HASH, psk);
    psk.fill(0);
    try {
      verifyBinder(keys, ch, index, transcript);
      const groups = this.o.groups ?? SERVER_GROUPS;
      const dhe = ch.pskModes.includes(PSK_DHE_KE);
      const share = dhe
        ? groups.map((g) => ch.keyShares?.find((s) => s.group === g)).find((s) => s)
        : undefined;
      if (dhe && !share && !retry) {
        const group = groups.find((g) => ch.groups?.includes(g));
        if (group !== undefined) return this.helloRetry(ch, group, index);
      }
      if (!share && !ch.pskModes.includes(PSK_KE))
        throw new AlertError(
          ALERT.handshakeFailure,
          'no key exchange in common (groups, or psk_ke)',
          'no_common_profile',
        );
      return this.serverHello(ch, { keys, transcript, index, retried: retry !== undefined }, share);
    } finally {
      keys.wipe();
    }
  }

  private helloRetry(ch: ClientHello, group: number, selected: number): Step[] {
    const hrr = handshake(
      HS.serverHello,
      Buffer.concat([
        u16(0x0303),
        HRR_RANDOM,
        vec(1, ch.sessionId),
        u16(TLS_AES_256_GCM_SHA384),
        u8(0),
        vec(2, extension(EXT.supportedVersions, u16(TLS13)), extension(EXT.keyShare, u16(group))),
      ]),
    );
    const transcript = Transcript.afterRetry(HASH, ch.raw);
    transcript.add(hrr);
    this.state = { at: 'retry', first: ch, group, selected, transcript };
    const steps: Step[] = [{ kind: 'plain', type: 22, content: hrr }];
    if (ch.sessionId.length > 0) steps.push(CCS);
    return steps;
  }

  private serverHello(
    ch: ClientHello,
    x: { keys: KeySchedule; transcript: Transcript; index: number; retried: boolean },
    share?: { group: number; key: Buffer },
  ): Step[] {
    const { keys, transcript } = x;
    const dh = share ? serverShare(share.group, share.key) : undefined;
    const extensions = [
      extension(EXT.supportedVersions, u16(TLS13)),
      ...(dh && share ? [extension(EXT.keyShare, Buffer.concat([u16(share.group), vec(2, dh.share)]))] : []),
      extension(EXT.preSharedKey, u16(x.index)),
    ];
    const sh = handshake(
      HS.serverHello,
      Buffer.concat([
        u16(0x0303),
        randomBytes(32),
        vec(1, ch.sessionId),
        u16(TLS_AES_256_GCM_SHA384),
        u8(0),
        vec(2, ...extensions),
      ]),
    );
    transcript.add(ch.raw, sh);
    const hs = keys.handshake(dh?.shared, transcript.current());
    dh?.shared.fill(0);

    let alpn: string | undefined;
    if (ch.alpn) {
      if (!ch.alpn.includes('http/1.1')) {
        hs.client.fill(0);
        hs.server.fill(0);
        throw new AlertError(
          ALERT.noApplicationProtocol,
          `ALPN offers ${ch.alpn.join(', ')}, not http/1.1`,
          'no_common_profile',
        );
      }
      alpn = 'http/1.1';
    }
    const ee = handshake(
      HS.encryptedExtensions,
      vec(2, ...(alpn ? [extension(EXT.alpn, vec(2, vec(1, Buffer.from(alpn))))] : [])),
    );
    transcript.add(ee);
    const fin = handshake(HS.finished, finishedMac(HASH, hs.server, transcript.current()));
    transcript.add(fin);
    const ap = keys.application(transcript.current());
    const negotiated: Negotiated = {
      identity: this.offeredIdentity!,
      ...(share && { group: GROUP_NAMES[share.group] }),
      retried: x.retried,
      ...(alpn && { alpn }),
    };
    this.state = {
      at: 'finished',
      clientHs: hs.client,
      serverHs: hs.server,
      transcript,
      clientAp: ap.client,
      serverAp: ap.server,
      negotiated,
    };
    const steps: Step[] = [{ kind: 'plain', type: 22, content: sh }];
    // The compatibility change_cipher_spec goes once: after the HelloRetryRequest if there was one.
    if (ch.sessionId.length > 0 && !x.retried) steps.push(CCS);
    steps.push(
      { kind: 'write-key', secret: hs.server },
      { kind: 'protected', type: 22, content: Buffer.concat([ee, fin]) },
      { kind: 'read-key', secret: hs.client },
      { kind: 'write-key', secret: ap.server },
    );
    return steps;
  }

  private clientFinished(state: Extract<State, { at: 'finished' }>, raw: Buffer): Step[] {
    const expected = finishedMac(HASH, state.clientHs, state.transcript.current());
    const got = raw.subarray(4);
    if (got.length !== expected.length)
      throw new AlertError(
        ALERT.decodeError,
        `client's Finished of ${got.length} bytes, not ${expected.length}`,
      );
    if (!macEqual(expected, got))
      throw new AlertError(ALERT.decryptError, "client's Finished does not verify");
    state.clientHs.fill(0);
    state.serverHs.fill(0);
    const { clientAp, serverAp, negotiated } = state;
    this.state = { at: 'done', clientAp, serverAp, negotiated };
    return [{ kind: 'read-key', secret: clientAp }, { kind: 'done' }];
  }

  wipe(): void {
    const s = this.state;
    if (s.at === 'finished') for (const b of [s.clientHs, s.serverHs]) b.fill(0);
    if (s.at === 'finished' || s.at === 'done') for (const b of [s.clientAp, s.serverAp]) b.fill(0);
  }
}

function checkRetryHello(retry: Extract<State, { at: 'retry' }>, ch: ClientHello): void {
  const shares = ch.keyShares ?? [];
  if (shares.length !== 1 || shares[0]!.group !== retry.group)
    throw new AlertError(ALERT.illegalParameter, 'second ClientHello does not share the group asked for');
  if (!ch.sessionId.equals(retry.first.sessionId))
    throw new AlertError(ALERT.illegalParameter, 'second ClientHello changed legacy_session_id');
}

/** Binder of identity `index` over the truncated ClientHello (§4.2.11.2), constant-time. */
function verifyBinder(keys: KeySchedule, ch: ClientHello, index: number, transcript: Transcript): void {
  const binder = ch.psk!.binders[index]!;
  const key = keys.binderKey();
  try {
    const expected = finishedMac(HASH, key, transcript.with(ch.raw.subarray(0, ch.psk!.bindersOffset)));
    if (!macEqual(expected, binder))
      throw new AlertError(
        ALERT.decryptError,
        binder.length === 48
          ? 'wrong PSK (binder does not verify)'
          : 'PSK binder is not SHA-384 (a SHA-256 PSK?)',
        'wrong_psk',
      );
  } finally {
    key.fill(0);
  }
}
