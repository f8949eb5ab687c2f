// One TLS 1.3 connection served by the engine: bytes from the TCP socket become records, records
// become handshake messages for ServerHandshake or application data for the plaintext side, a
// Duplex that node:http serves like any TLS socket. Refusals send their alert and close; the
// traffic secrets and keys are wiped when the connection ends.

import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { ALERT, CONTENT, HASH, HS, MAX_PLAINTEXT } from './constants.js';
import type { ClientHello } from './client-hello.js';
import { ServerHandshake, type HandshakeOptions, type Negotiated, type Step } from './handshake.js';
import { HandshakeReassembler } from './reassembly.js';
import {
  AlertError,
  RecordProtection,
  RecordReader,
  plainRecord,
  type RawRecord,
  type RefusalKind,
} from './record.js';

export interface ConnectionEvents {
  /** The handshake finished: the plaintext socket is ready for HTTP. */
  secure(socket: Tls13Socket, negotiated: Negotiated): void;
  /** The handshake or the connection was refused: the alert sent, why, and its kind when known. */
  refused(
    reason: string,
    alert: number,
    identity: string | undefined,
    handshakeDone: boolean,
    kind?: RefusalKind,
  ): void;
}

/** The plaintext side of an engine connection, with the socket methods node:http calls. */
export class Tls13Socket extends Duplex {
  readonly encrypted = true;
  alpnProtocol: string | false = false;

  constructor(
    readonly raw: Socket,
    private readonly send: (data: Buffer, cb: (err?: Error | null) => void) => void,
    private readonly close: (cb: () => void) => void,
    private readonly wake: () => void,
  ) {
    super({ allowHalfOpen: false });
    raw.on('timeout', () => this.emit('timeout'));
  }
  get remoteAddress(): string | undefined {
    return this.raw.remoteAddress;
  }
  get remotePort(): number | undefined {
    return this.raw.remotePort;
  }
  get remoteFamily(): string | undefined {
    return this.raw.remoteFamily;
  }
  get localAddress(): string | undefined {
    return this.raw.localAddress;
  }
  get localPort(): number | undefined {
    return this.raw.localPort;
  }
  setTimeout(ms: number, cb?: () => void): this {
    this.raw.setTimeout(ms);
    if (cb) this.once('timeout', cb);
    return this;
  }
  setNoDelay(on?: boolean): this {
    this.raw.setNoDelay(on);
    return this;
  }
  setKeepAlive(on?: boolean, delay?: number): this {
    this.raw.setKeepAlive(on, delay);
    return this;
  }
  override _read(): void {
    this.wake();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.send(chunk, cb);
  }
  override _final(cb: () => void): void {
    this.close(cb);
  }
  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    this.raw.destroy();
    cb(err);
  }
}

export class Tls13Connection {
  private readonly reader = new RecordReader();
  private readonly hs: ServerHandshake;
  private read: RecordProtection | undefined;
  private write: RecordProtection | undefined;
  private readonly messages = new HandshakeReassembler();
  private ccsSeen = false;
  private plain: Tls13Socket | undefined;
  private ended = false;

  constructor(
    private readonly raw: Socket,
    options: HandshakeOptions,
    private readonly events: ConnectionEvents,
  ) {
    this.hs = new ServerHandshake(options);
    raw.on('data', (d: Buffer) => this.input(d));
    raw.on('end', () => this.peerEnded());
    raw.on('error', () => raw.destroy());
    raw.on('close', () => this.wipe());
  }

  /** Starts with the ClientHello the front door read, and any bytes that came after it. */
  start(hello: ClientHello, rest: Buffer): void {
    this.guard(() => this.carry(this.hs.start(hello)));
    if (rest.length > 0) this.input(rest);
  }

  private input(data: Buffer): void {
    if (this.raw.destroyed) return;
    this.reader.push(data);
    this.guard(() => {
      let record: RawRecord | undefined;
      while (!this.raw.destroyed && (record = this.reader.next())) this.record(record);
      // Backpressure: stop reading while the plaintext side's buffer is full.
      if (this.plain && this.plain.readableLength >= this.plain.readableHighWaterMark) this.raw.pause();
    });
  }

  private record(r: RawRecord): void {
    if (r.type === CONTENT.ccs) {
      // The compatibility change_cipher_spec (RFC 8446 D.4): once, {1}, before the client's Finished.
      if (this.hs.finished || this.ccsSeen || this.messages.partial || r.body.length !== 1 || r.body[0] !== 1)
        throw new AlertError(ALERT.unexpectedMessage, 'change_cipher_spec out of place');
      this.ccsSeen = true;
      return;
    }
    // A client that cannot go on may alert in plaintext before it has our keys.
    if (r.type === CONTENT.alert && !this.hs.finished) {
      if (this.messages.partial)
        throw new AlertError(ALERT.unexpectedMessage, 'alert inside a fragmented handshake message');
      return this.alert(r.body);
    }
    let type: number;
    let content: Buffer;
    // Keys are set once our ServerHello is out: from then on every record is protected.
    if (this.read) {
      ({ type, content } = this.read.open(r));
    } else {
      if (r.type !== CONTENT.handshake)
        throw new AlertError(ALERT.unexpectedMessage, `record type ${r.type} before keys`);
      if (r.body.length > MAX_PLAINTEXT)
        throw new AlertError(ALERT.recordOverflow, 'plaintext record over 2^14 bytes');
      [type, content] = [r.type, r.body];
    }
    if (type === CONTENT.handshake) return this.handshakeBytes(content);
    // A handshake message split over records has nothing else between its parts (§5.1).
    if (this.messages.partial)
      throw new AlertError(
        ALERT.unexpectedMessage,
        `record of type ${type} inside a fragmented handshake message`,
      );
    if (type === CONTENT.alert) return this.alert(content);
    if (type === CONTENT.application) {
      if (!this.hs.finished || !this.plain)
        throw new AlertError(ALERT.unexpectedMessage, 'application data before the handshake ended');
      if (content.length > 0 && !this.plain.push(content)) this.raw.pause();
      return;
    }
    throw new AlertError(ALERT.unexpectedMessage, `protected record of type ${type}`);
  }

  private handshakeBytes(content: Buffer): void {
    for (const msg of this.messages.add(content)) {
      if (this.hs.finished) {
        // KeyUpdate changes the read key, so it too must end its record (RFC 8446 §5.1).
        if (msg[0] === HS.keyUpdate)
          this.messages.endsRecord('handshake data after a KeyUpdate in one record');
        this.postHandshake(msg);
      } else {
        // A key change must fall on a record boundary (RFC 8446 §5.1).
        if (msg[0] === HS.clientHello || msg[0] === HS.finished)
          this.messages.endsRecord('handshake data after a key change in one record');
        this.carry(this.hs.message(msg));
      }
    }
  }

  private postHandshake(msg: Buffer): void {
    if (msg[0] !== HS.keyUpdate)
      throw new AlertError(ALERT.unexpectedMessage, `handshake message ${msg[0]} after the handshake`);
    if (msg.length !== 5 || msg.readUIntBE(1, 3) !== 1)
      throw new AlertError(ALERT.decodeError, 'KeyUpdate of the wrong length');
    const request = msg[4];
    if (request !== 0 && request !== 1)
      throw new AlertError(ALERT.illegalParameter, 'KeyUpdate request_update not 0 or 1');
    this.read?.wipe();
    this.read = new RecordProtection(HASH, this.hs.nextClientSecret());
    if (request === 1) {
      this.raw.write(this.write!.seal(CONTENT.handshake, Buffer.from([HS.keyUpdate, 0, 0, 1, 0])));
      this.write!.wipe();
      this.write = new RecordProtection(HASH, this.hs.nextServerSecret());
    }
  }

  /** Carries the steps; the records of one flight go out in one write (one segment, no Nagle
   * wait between its records). */
  private carry(steps: Step[]): void {
    const flight: Buffer[] = [];
    const flush = (): void => {
      if (flight.length > 0) this.raw.write(flight.length === 1 ? flight[0]! : Buffer.concat(flight));
      flight.length = 0;
    };
    for (const s of steps) {
      if (s.kind === 'plain') flight.push(plainRecord(s.type, s.content));
      else if (s.kind === 'protected') flight.push(this.write!.seal(s.type, s.content));
      else if (s.kind === 'write-key') {
        this.write?.wipe();
        this.write = new RecordProtection(HASH, s.secret);
      } else if (s.kind === 'read-key') {
        this.read?.wipe();
        this.read = new RecordProtection(HASH, s.secret);
      } else {
        flush();
        this.secure();
      }
    }
    flush();
  }

  private secure(): void {
    const plain = new Tls13Socket(
      this.raw,
      (data, cb) => this.sendApplication(data, cb),
      (cb) => this.closeNotify(cb),
      () => this.raw.isPaused() && this.raw.resume(),
    );
    plain.alpnProtocol = this.hs.negotiated?.alpn ?? false;
    this.plain = plain;
    this.events.secure(plain, this.hs.negotiated!);
  }

  private sendApplication(data: Buffer, cb: (err?: Error | null) => void): void {
    if (this.raw.destroyed || !this.write) return cb(new Error('connection closed'));
    const records: Buffer[] = [];
    for (let at = 0; at < data.length; at += MAX_PLAINTEXT)
      records.push(this.write.seal(CONTENT.application, data.subarray(at, at + MAX_PLAINTEXT)));
    this.raw.write(records.length === 1 ? records[0]! : Buffer.concat(records), cb);
  }

  private closeNotify(cb: () => void): void {
    if (!this.raw.destroyed && this.write)
      this.raw.write(this.write.seal(CONTENT.alert, Buffer.from([1, ALERT.closeNotify])));
    this.raw.end(cb);
  }

  private alert(body: Buffer): void {
    // A record of type alert holds exactly one two-byte alert (RFC 8446 §5.1, §6).
    if (body.length === 0) throw new AlertError(ALERT.unexpectedMessage, 'empty alert record');
    if (body.length !== 2) throw new AlertError(ALERT.decodeError, `alert record of ${body.length} bytes`);
    const description = body[1]!;
    if (description === ALERT.closeNotify && this.plain) {
      this.ended = true;
      this.plain.push(null);
      return;
    }
    // Any other alert from the client ends the connection; there is nothing to answer.
    this.events.refused(
      `client sent alert ${description}`,
      description,
      this.hs.offeredIdentity,
      this.hs.finished,
      'client_closed',
    );
    this.raw.destroy();
  }

  private peerEnded(): void {
    if (this.plain && !this.ended) this.plain.push(null);
    if (!this.plain) this.raw.destroy();
  }

  /** Runs `fn`; an AlertError sends its alert (protected once keys are set) and closes. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      const alert = e instanceof AlertError ? e.alert : ALERT.internalError;
      const reason = e instanceof Error ? e.message : String(e);
      const body = Buffer.from([2, alert]);
      if (!this.raw.destroyed) {
        this.raw.end(this.write ? this.write.seal(CONTENT.alert, body) : plainRecord(CONTENT.alert, body));
        this.raw.destroySoon();
      }
      const kind = e instanceof AlertError ? e.kind : undefined;
      this.events.refused(reason, alert, this.hs.offeredIdentity, this.hs.finished, kind);
      if (this.plain && !this.plain.destroyed) this.plain.destroy();
    }
  }

  private wipe(): void {
    this.read?.wipe();
    this.write?.wipe();
    this.hs.wipe();
    if (this.plain && !this.plain.destroyed) this.plain.destroy();
  }
}
