// The client side of the engine's profile (TLS 1.3, external PSK bound to SHA-384,
// TLS_AES_256_GCM_SHA384) as steps, like ServerHandshake: the ClientHello it offers, then each
// server message in and the steps it calls for out (records to send, keys to set). It shares the
// key schedule with the server; client.ts carries the bytes. buildClientHello is also the tests'
// tool for malformed offers.

import { randomBytes } from 'node:crypto';
import {
  ALERT,
  CONTENT,
  EXT,
  GROUP,
  HASH,
  HRR_RANDOM,
  HS,
  PSK_DHE_KE,
  TLS13,
  TLS_AES_256_GCM_SHA384,
} from './constants.js';
import type { Step } from './handshake.js';
import { clientShare, type ClientShare } from './key-share.js';
import { KeySchedule, Transcript, finishedMac, macEqual, nextTrafficSecret } from './key-schedule.js';
import { AlertError } from './record.js';
import { Reader, extension, handshake, u16, u8, vec } from './wire.js';

export interface ClientHelloOptions {
  identity: string;
  psk: Buffer;
  /** Groups to send key shares for (default x25519). */
  shareGroups?: number[];
  /** supported_groups (default: the share groups plus P-256, P-384). */
  groups?: number[];
  pskModes?: number[];
  suites?: number[];
  versions?: number[];
  alpn?: string[];
  sessionId?: Buffer;
  /** Extensions added before pre_shared_key (tests: early_data, duplicates...). */
  extraExtensions?: Buffer[];
  /** Extensions left out (tests: supported_groups without key_share...). */
  omit?: number[];
  /** Computes the binder over this transcript (after a HelloRetryRequest). */
  transcript?: Transcript;
}

export interface BuiltHello {
  message: Buffer;
  shares: ClientShare[];
}

/** A ClientHello offering one external PSK, its binder computed (RFC 8446 §4.2.11.2). */
export function buildClientHello(o: ClientHelloOptions, shares?: ClientShare[]): BuiltHello {
  const keyShares = shares ?? (o.shareGroups ?? [GROUP.x25519]).map(clientShare);
  const groups = o.groups ?? [
    ...new Set([...keyShares.map((s) => s.group), GROUP.secp256r1, GROUP.secp384r1]),
  ];
  const identity = Buffer.from(o.identity);
  const extensions = [
    extension(EXT.supportedVersions, vec(1, ...(o.versions ?? [TLS13]).map(u16))),
    extension(EXT.supportedGroups, vec(2, ...groups.map(u16))),
    extension(EXT.keyShare, vec(2, ...keyShares.map((s) => Buffer.concat([u16(s.group), vec(2, s.share)])))),
    extension(EXT.pskKeyExchangeModes, vec(1, ...(o.pskModes ?? [PSK_DHE_KE]).map(u8))),
    ...(o.alpn ? [extension(EXT.alpn, vec(2, ...o.alpn.map((a) => vec(1, Buffer.from(a)))))] : []),
    ...(o.extraExtensions ?? []),
  ].filter((e) => !o.omit?.includes(e.readUInt16BE(0)));
  const identities = vec(2, vec(2, identity), Buffer.alloc(4));
  const binderLen = 48;
  const bindersPart = vec(2, vec(1, Buffer.alloc(binderLen)));
  const pskExt = Buffer.concat([
    u16(EXT.preSharedKey),
    u16(identities.length + bindersPart.length),
    identities,
  ]);
  const body = Buffer.concat([
    u16(0x0303),
    randomBytes(32),
    vec(1, o.sessionId ?? randomBytes(32)),
    vec(2, ...(o.suites ?? [TLS_AES_256_GCM_SHA384]).map(u16)),
    vec(1, u8(0)),
    u16(Buffer.concat(extensions).length + pskExt.length + bindersPart.length),
    ...extensions,
    pskExt,
  ]);
  const truncated = Buffer.concat([u8(HS.clientHello), Buffer.from([0, 0, 0]), body]);
  truncated.writeUIntBE(body.length + bindersPart.length, 1, 3);
  const keys = new KeySchedule(HASH, o.psk);
  const key = keys.binderKey();
  keys.wipe();
  const binder = finishedMac(HASH, key, (o.transcript ?? new Transcript(HASH)).with(truncated));
  key.fill(0);
  return { message: Buffer.concat([truncated, vec(2, vec(1, binder))]), shares: keyShares };
}

export interface ClientHandshakeOptions extends ClientHelloOptions {
  /** Tests: replaces the client's Finished message. */
  finished?: (msg: Buffer) => Buffer;
}

/** Where the client's handshake is, holding only what is valid there. */
type State =
  | { at: 'start' }
  | { at: 'server-hello'; hello: BuiltHello; transcript: Transcript }
  | { at: 'finished'; keys: KeySchedule; clientHs: Buffer; serverHs: Buffer; transcript: Transcript }
  | { at: 'done'; clientAp: Buffer; serverAp: Buffer };

interface ServerHello {
  retry: boolean;
  share?: { group: number; key: Buffer };
  selectedGroup?: number;
  pskChosen: boolean;
}

function parseServerHello(msg: Buffer): ServerHello {
  const r = new Reader(msg.subarray(4), 'ServerHello');
  r.u16();
  const random = r.bytes(32);
  r.vec(1, 0, 32);
  if (r.u16() !== TLS_AES_256_GCM_SHA384)
    throw new AlertError(ALERT.illegalParameter, 'server chose another suite');
  r.u8();
  const exts = new Reader(r.vec(2));
  const sh: ServerHello = { retry: random.equals(HRR_RANDOM), pskChosen: false };
  while (exts.left > 0) {
    const type = exts.u16();
    const data = new Reader(exts.vec(2));
    if (type === EXT.keyShare) {
      if (sh.retry) sh.selectedGroup = data.u16();
      else sh.share = { group: data.u16(), key: data.vec(2) };
    } else if (type === EXT.preSharedKey) sh.pskChosen = data.u16() === 0;
  }
  return sh;
}

export class ClientHandshake {
  private state: State = { at: 'start' };
  /** One legacy_session_id for both ClientHellos (RFC 8446 §4.1.2). */
  private readonly sessionId: Buffer;
  /** Handshake traffic secrets handed out and no longer needed: wiped at the next step. */
  private spent: Buffer[] = [];
  retried = false;
  group: number | undefined;

  constructor(private readonly o: ClientHandshakeOptions) {
    this.sessionId = o.sessionId ?? randomBytes(32);
  }

  get finished(): boolean {
    return this.state.at === 'done';
  }

  /** The first ClientHello. */
  start(): Step[] {
    const hello = buildClientHello({ ...this.o, sessionId: this.sessionId });
    const transcript = new Transcript(HASH);
    transcript.add(hello.message);
    this.state = { at: 'server-hello', hello, transcript };
    return [{ kind: 'plain', type: CONTENT.handshake, content: hello.message }];
  }

  /** A whole handshake message from the server; returns the steps to carry out. */
  message(msg: Buffer): Step[] {
    this.wipeSpent();
    const type = msg[0];
    const s = this.state;
    if (s.at === 'start' || s.at === 'server-hello') {
      if (type !== HS.serverHello || s.at === 'start')
        throw new AlertError(ALERT.unexpectedMessage, `message ${type} before ServerHello`);
      return this.serverHello(s, msg);
    }
    if (s.at === 'finished') {
      if (type === HS.encryptedExtensions) return (s.transcript.add(msg), []);
      if (type === HS.finished) return this.serverFinished(s, msg);
      throw new AlertError(ALERT.unexpectedMessage, `server sent handshake message ${type}`);
    }
    // Session tickets are for resumption, which this client never does.
    if (type === HS.newSessionTicket) return [];
    if (type === HS.keyUpdate) {
      s.serverAp = next(s.serverAp);
      return [{ kind: 'read-key', secret: s.serverAp }];
    }
    throw new AlertError(
      ALERT.unexpectedMessage,
      `server sent handshake message ${type} after the handshake`,
    );
  }

  /** A KeyUpdate asking for one back, sent under the old key; then the new write key. */
  keyUpdate(): Step[] {
    const s = this.state;
    if (s.at !== 'done') throw new Error('KeyUpdate before the handshake ended');
    const update = Buffer.from([HS.keyUpdate, 0, 0, 1, 1]);
    s.clientAp = next(s.clientAp);
    return [
      { kind: 'protected', type: CONTENT.handshake, content: update },
      { kind: 'write-key', secret: s.clientAp },
    ];
  }

  private serverHello(s: Extract<State, { at: 'server-hello' }>, msg: Buffer): Step[] {
    const sh = parseServerHello(msg);
    if (sh.retry) {
      if (this.retried || sh.selectedGroup === undefined)
        throw new AlertError(ALERT.unexpectedMessage, 'bad HelloRetryRequest');
      this.retried = true;
      const transcript = Transcript.afterRetry(HASH, s.hello.message);
      transcript.add(msg);
      const hello = buildClientHello({ ...this.o, sessionId: this.sessionId, transcript }, [
        clientShare(sh.selectedGroup),
      ]);
      transcript.add(hello.message);
      this.state = { at: 'server-hello', hello, transcript };
      return [{ kind: 'plain', type: CONTENT.handshake, content: hello.message }];
    }
    if (!sh.pskChosen) throw new AlertError(ALERT.illegalParameter, 'server did not take the PSK');
    s.transcript.add(msg);
    const share = sh.share;
    const mine = share && s.hello.shares.find((c) => c.group === share.group);
    if (share && !mine) throw new AlertError(ALERT.illegalParameter, 'server share for a group not offered');
    this.group = share?.group;
    const shared = share ? mine!.finish(share.key) : undefined;
    const keys = new KeySchedule(HASH, this.o.psk);
    const hs = keys.handshake(shared, s.transcript.current());
    shared?.fill(0);
    this.state = { at: 'finished', keys, clientHs: hs.client, serverHs: hs.server, transcript: s.transcript };
    return [{ kind: 'read-key', secret: hs.server }];
  }

  private serverFinished(s: Extract<State, { at: 'finished' }>, msg: Buffer): Step[] {
    const expected = finishedMac(HASH, s.serverHs, s.transcript.current());
    if (!macEqual(expected, msg.subarray(4)))
      throw new AlertError(ALERT.decryptError, "server's Finished does not verify");
    s.transcript.add(msg);
    const h = s.transcript.current();
    const ap = s.keys.application(h);
    s.keys.wipe();
    const fin = handshake(HS.finished, finishedMac(HASH, s.clientHs, h));
    this.spent.push(s.clientHs, s.serverHs);
    this.state = { at: 'done', clientAp: ap.client, serverAp: ap.server };
    return [
      { kind: 'write-key', secret: s.clientHs },
      { kind: 'protected', type: CONTENT.handshake, content: this.o.finished?.(fin) ?? fin },
      { kind: 'write-key', secret: ap.client },
      { kind: 'read-key', secret: ap.server },
      { kind: 'done' },
    ];
  }

  private wipeSpent(): void {
    for (const b of this.spent) b.fill(0);
    this.spent = [];
  }

  wipe(): void {
    this.wipeSpent();
    const s = this.state;
    if (s.at === 'finished') {
      s.keys.wipe();
      for (const b of [s.clientHs, s.serverHs]) b.fill(0);
    }
    if (s.at === 'done') for (const b of [s.clientAp, s.serverAp]) b.fill(0);
  }
}

/** The next application traffic secret (KeyUpdate, §7.2); the old one is wiped. */
function next(secret: Buffer): Buffer {
  const n = nextTrafficSecret(HASH, secret);
  secret.fill(0);
  return n;
}
