// The client side of the engine's profile (TLS 1.3, external PSK bound to SHA-384,
// TLS_AES_256_GCM_SHA384), on the same key schedule and record layer as the server: what
// `skip-server probe` and the tests use to play a router. buildClientHello is also the tests'
// tool for malformed offers.

import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
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
import { clientShare, type ClientShare } from './key-share.js';
import {
  Transcript,
  binderKey,
  deriveSecret,
  earlySecret,
  finishedMac,
  handshakeSecret,
  macEqual,
  masterSecret,
  nextTrafficSecret,
} from './key-schedule.js';
import { AlertError, RecordProtection, RecordReader, plainRecord } from './record.js';
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
  const early = earlySecret(HASH, o.psk);
  const key = binderKey(HASH, early);
  const binder = finishedMac(HASH, key, (o.transcript ?? new Transcript(HASH)).with(truncated));
  early.fill(0);
  key.fill(0);
  return { message: Buffer.concat([truncated, vec(2, vec(1, binder))]), shares: keyShares };
}

export interface ClientResult {
  group?: number;
  retried: boolean;
  /** The HTTP response, as text. */
  response: string;
}

export interface ClientOptions extends ClientHelloOptions {
  host: string;
  port: number;
  /** The HTTP request to send once the handshake ends. */
  request: string;
  /** Send a KeyUpdate (requesting one back) before the request. */
  keyUpdate?: boolean;
  timeoutMs?: number;
  /** True once the response is whole (e.g. Content-Length reached): close then, not at EOF. */
  complete?: (response: string) => boolean;
  /** Tests: what the client sends instead, to check the server's refusals. */
  misbehave?: {
    /** Replaces the client's Finished message. */
    finished?: (msg: Buffer) => Buffer;
    /** Bytes sent as they are in place of the client's Finished, and nothing after them. */
    insteadOfFinished?: Buffer;
    /** Records sent after the handshake instead of the request; `seal` protects with the client's key. */
    afterHandshake?: (seal: (type: number, content: Buffer) => Buffer) => Buffer;
  };
}

/** Connects, runs the handshake, sends `request`, and returns the response; AlertError on refusal. */
export function tls13Request(o: ClientOptions): Promise<ClientResult> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(o.port, o.host);
    const timer = setTimeout(() => fail(new Error('TLS 1.3 exchange timed out')), o.timeoutMs ?? 10_000);
    const fail = (e: unknown): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(e instanceof Error ? e : new Error(String(e)));
    };
    const reader = new RecordReader();
    // One legacy_session_id for both ClientHellos (RFC 8446 §4.1.2).
    const sessionId = o.sessionId ?? randomBytes(32);
    let hello = buildClientHello({ ...o, sessionId });
    let transcript = new Transcript(HASH);
    transcript.add(hello.message);
    let retried = false;
    let group: number | undefined;
    let read: RecordProtection | undefined;
    let write: RecordProtection | undefined;
    let serverHs: Buffer | undefined;
    let clientHs: Buffer | undefined;
    let clientAp: Buffer | undefined;
    let serverAp: Buffer | undefined;
    let hsBuf = Buffer.alloc(0);
    let done = false;
    let master: Buffer | undefined;
    /** The next traffic secret (KeyUpdate); the old one is wiped. */
    const next = (secret: Buffer): Buffer => {
      const n = nextTrafficSecret(HASH, secret);
      secret.fill(0);
      return n;
    };
    /** New record protection from `secret`; the keys it replaces are wiped. */
    const rekey = (old: RecordProtection | undefined, secret: Buffer): RecordProtection => {
      old?.wipe();
      return new RecordProtection(HASH, secret);
    };
    let response = '';

    const serverHello = (msg: Buffer): void => {
      const r = new Reader(msg.subarray(4), 'ServerHello');
      r.u16();
      const random = r.bytes(32);
      r.vec(1, 0, 32);
      if (r.u16() !== TLS_AES_256_GCM_SHA384)
        throw new AlertError(ALERT.illegalParameter, 'server chose another suite');
      r.u8();
      const exts = new Reader(r.vec(2));
      let share: { group: number; key: Buffer } | undefined;
      let selectedGroup: number | undefined;
      let pskChosen = false;
      while (exts.left > 0) {
        const type = exts.u16();
        const data = new Reader(exts.vec(2));
        if (type === EXT.keyShare) {
          if (random.equals(HRR_RANDOM)) selectedGroup = data.u16();
          else share = { group: data.u16(), key: data.vec(2) };
        } else if (type === EXT.preSharedKey) pskChosen = data.u16() === 0;
      }
      if (random.equals(HRR_RANDOM)) {
        if (retried || selectedGroup === undefined)
          throw new AlertError(ALERT.unexpectedMessage, 'bad HelloRetryRequest');
        retried = true;
        transcript = Transcript.afterRetry(HASH, hello.message);
        transcript.add(msg);
        hello = buildClientHello({ ...o, sessionId, transcript }, [clientShare(selectedGroup)]);
        transcript.add(hello.message);
        socket.write(plainRecord(CONTENT.handshake, hello.message));
        return;
      }
      if (!pskChosen) throw new AlertError(ALERT.illegalParameter, 'server did not take the PSK');
      transcript.add(msg);
      const mine = share && hello.shares.find((s) => s.group === share.group);
      if (share && !mine)
        throw new AlertError(ALERT.illegalParameter, 'server share for a group not offered');
      group = share?.group;
      const shared = share ? mine!.finish(share.key) : undefined;
      const early = earlySecret(HASH, o.psk);
      const hs = handshakeSecret(HASH, early, shared);
      const h = transcript.current();
      clientHs = deriveSecret(HASH, hs, 'c hs traffic', h);
      serverHs = deriveSecret(HASH, hs, 's hs traffic', h);
      read = new RecordProtection(HASH, serverHs);
      master = masterSecret(HASH, hs);
      for (const b of [shared, early, hs]) b?.fill(0);
    };

    const serverFinished = (msg: Buffer): void => {
      const expected = finishedMac(HASH, serverHs!, transcript.current());
      if (!macEqual(expected, msg.subarray(4)))
        throw new AlertError(ALERT.decryptError, "server's Finished does not verify");
      transcript.add(msg);
      const h = transcript.current();
      clientAp = deriveSecret(HASH, master!, 'c ap traffic', h);
      serverAp = deriveSecret(HASH, master!, 's ap traffic', h);
      const fin = handshake(HS.finished, finishedMac(HASH, clientHs!, h));
      write = rekey(write, clientHs!);
      if (o.misbehave?.insteadOfFinished) {
        read = rekey(read, serverAp); // the server's answer comes under its application key
        return void socket.write(o.misbehave.insteadOfFinished);
      }
      socket.write(write.seal(CONTENT.handshake, o.misbehave?.finished?.(fin) ?? fin));
      write = rekey(write, clientAp);
      read = rekey(read, serverAp);
      done = true;
      if (o.keyUpdate) {
        socket.write(write.seal(CONTENT.handshake, Buffer.from([HS.keyUpdate, 0, 0, 1, 1])));
        clientAp = next(clientAp);
        write = rekey(write, clientAp);
      }
      const sealer = write;
      if (o.misbehave?.afterHandshake)
        return void socket.write(o.misbehave.afterHandshake((type, content) => sealer.seal(type, content)));
      socket.write(write.seal(CONTENT.application, Buffer.from(o.request)));
    };

    const handshakeMessage = (msg: Buffer): void => {
      const type = msg[0];
      if (!read) {
        if (type !== HS.serverHello)
          throw new AlertError(ALERT.unexpectedMessage, `message ${type} before ServerHello`);
        return serverHello(msg);
      }
      if (!done) {
        if (type === HS.encryptedExtensions) return void transcript.add(msg);
        if (type === HS.finished) return serverFinished(msg);
        throw new AlertError(ALERT.unexpectedMessage, `server sent handshake message ${type}`);
      }
      // Session tickets are for resumption, which this client never does.
      if (type === HS.newSessionTicket) return;
      if (type === HS.keyUpdate) {
        serverAp = next(serverAp!);
        read = rekey(read, serverAp);
        return;
      }
      throw new AlertError(
        ALERT.unexpectedMessage,
        `server sent handshake message ${type} after the handshake`,
      );
    };

    socket.on('data', (d: Buffer) => {
      try {
        reader.push(d);
        for (let r = reader.next(); r; r = reader.next()) {
          if (r.type === CONTENT.ccs) continue;
          let type = r.type;
          let content = r.body;
          if (read && r.type === CONTENT.application) ({ type, content } = read.open(r));
          if (type === CONTENT.alert) {
            const alert = content[1] ?? -1;
            if (alert === ALERT.closeNotify && done) continue;
            throw new AlertError(alert, `server sent alert ${alert}`);
          }
          if (type === CONTENT.application) {
            response += content.toString('latin1');
            if (o.complete?.(response)) {
              socket.end(write!.seal(CONTENT.alert, Buffer.from([1, ALERT.closeNotify])));
              clearTimeout(timer);
              return resolve({ ...(group !== undefined && { group }), retried, response });
            }
            continue;
          }
          hsBuf = Buffer.concat([hsBuf, content]);
          while (hsBuf.length >= 4 && hsBuf.length >= 4 + hsBuf.readUIntBE(1, 3)) {
            const msg = hsBuf.subarray(0, 4 + hsBuf.readUIntBE(1, 3));
            hsBuf = hsBuf.subarray(msg.length);
            handshakeMessage(Buffer.from(msg));
          }
        }
      } catch (e) {
        fail(e);
      }
    });
    socket.on('error', fail);
    socket.on('close', () => {
      clearTimeout(timer);
      for (const b of [serverHs, clientHs, clientAp, serverAp, master]) b?.fill(0);
      read?.wipe();
      write?.wipe();
      if (!done) return reject(new Error('connection closed before the handshake ended'));
      resolve({ ...(group !== undefined && { group }), retried, response });
    });
    socket.on('connect', () => socket.write(plainRecord(CONTENT.handshake, hello.message)));
  });
}
