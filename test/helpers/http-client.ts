// Clients that stand in for a router: `openssl s_client -psk` (the outside client) and a Node
// TLS-PSK client for tests that need many requests or a kept-alive connection.
import { spawn } from 'node:child_process';
import { request, Agent } from 'node:https';
import { connect, type TLSSocket } from 'node:tls';

export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  json: unknown;
}

export function parseHttp(raw: string): HttpAnswer {
  const split = raw.indexOf('\r\n\r\n');
  if (split < 0) throw new Error(`no HTTP answer in: ${JSON.stringify(raw.slice(0, 300))}`);
  const [statusLine, ...lines] = raw.slice(0, split).split('\r\n');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine ?? '')?.[1]);
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const c = l.indexOf(':');
    headers[l.slice(0, c).toLowerCase()] = l.slice(c + 1).trim();
  }
  const body = raw.slice(split + 4);
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    json = undefined;
  }
  return { status, headers, body, json };
}

export interface SClientResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `openssl s_client` against 127.0.0.1:port, sends `input`, collects what comes back. */
export function sClient(
  port: number,
  args: string[],
  input: string,
  timeoutMs = 10_000,
  host = '127.0.0.1',
): Promise<SClientResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('openssl', ['s_client', '-connect', `${host}:${port}`, '-quiet', ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('latin1')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}

export interface PskCreds {
  identity: string;
  key: string;
}

/** One GET over TLS 1.2 PSK with `openssl s_client`, the way IOS XE connects. */
export async function pskGet(
  port: number,
  path: string,
  creds: PskCreds,
  extra: string[] = ['-tls1_2', '-cipher', 'PSK-AES256-GCM-SHA384'],
  method = 'GET',
  host = '127.0.0.1',
): Promise<HttpAnswer> {
  const req = `${method} ${path} HTTP/1.1\r\nHost: kp\r\nConnection: close\r\n\r\n`;
  const args = ['-psk_identity', creds.identity, '-psk', creds.key, ...extra];
  const r = await sClient(port, args, req, 10_000, host);
  return parseHttp(r.stdout);
}

/** A raw TLS 1.2 PSK connection to 127.0.0.1:port, for writing requests byte by byte. */
export function pskSocket(port: number, creds: PskCreds): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = connect({
      host: '127.0.0.1',
      port,
      ciphers: 'PSK-AES256-GCM-SHA384',
      maxVersion: 'TLSv1.2',
      pskCallback: () => ({ identity: creds.identity, psk: Buffer.from(creds.key, 'hex') }),
      checkServerIdentity: () => undefined,
    });
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
  });
}

/** A Node TLS-PSK agent: keep-alive connections, as a router's SKIP client would hold. */
export function pskAgent(creds: PskCreds, ciphers = 'PSK-AES256-GCM-SHA384'): Agent {
  return new Agent({
    keepAlive: true,
    maxSockets: 64,
    ciphers,
    maxVersion: 'TLSv1.2',
    pskCallback: () => ({ identity: creds.identity, psk: Buffer.from(creds.key, 'hex') }),
    checkServerIdentity: () => undefined,
  });
}

export function nodeGet(port: number, path: string, agent: Agent): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        let json: unknown;
        try {
          json = JSON.parse(body);
        } catch {
          json = undefined;
        }
        const headers = Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k, String(v)]));
        resolve({ status: res.statusCode ?? 0, headers, body, json });
      });
    });
    req.on('error', reject);
    req.end();
  });
}
