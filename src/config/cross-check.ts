// skip.yaml rules that involve more than one key: IDs, peers that would be this KP itself,
// addresses with a port, modes that need other keys.

import { isIP } from 'node:net';
import type { Config } from './types.js';
import { errorMessage } from '../errors.js';
import { compileGlob, isGlob } from '../ids/glob.js';
import { parseSystemId } from '../ids/system-id.js';

/** An RFC 1123 host name: labels of 1 to 63 letters, digits and hyphens, not beginning or ending
 * with a hyphen, 253 characters at most (a final dot aside); the last label not all digits, so
 * a mistyped IPv4 address (10.0.0.256) is not taken for a name. */
export function isHostName(s: string): boolean {
  const name = s.endsWith('.') ? s.slice(0, -1) : s;
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.split('.');
  return (
    labels.every((l) => /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(l)) &&
    !/^\d+$/.test(labels[labels.length - 1]!)
  );
}

/** What an `instance` label may hold: 1 to 64 printable ASCII characters, no quote, backslash or
 * space, so it is the same in every exposition and query. */
export const isInstanceName = (s: string): boolean => /^[!#-[\]-~]{1,64}$/.test(s);

/** The default instance name: the host name, cut to 64 characters, anything else made `_`. */
export const instanceFromHost = (host: string): string =>
  host.replace(/[^!#-[\]-~]/g, '_').slice(0, 64) || 'kp';

/** Rules across keys; each problem is pushed to `problems`, naming `file`. */
export function crossCheck(c: Config, file: string, problems: string[]): void {
  if (c.instance_name !== undefined && !isInstanceName(c.instance_name))
    problems.push(
      `${file}: "instance_name" must be 1 to 64 printable ASCII characters without quotes, backslashes or spaces`,
    );
  const local = parseSystemId(c.localSystemID);
  if (!local) problems.push(`${file}: "localSystemID" must be 1 to 255 bytes without control characters`);
  else if (isGlob(local))
    problems.push(`${file}: "localSystemID" must not contain glob characters (* ? [ \\)`);
  c.remoteSystems.forEach((r, i) => {
    const name = `remoteSystems[${i}]`;
    if (typeof r.id !== 'string') return;
    if (!parseSystemId(r.id))
      problems.push(`${file}: "${name}.id" must be 1 to 255 bytes without control characters`);
    if (r.id === c.localSystemID) problems.push(`${file}: "${name}.id" is this KP's own localSystemID`);
    if (isGlob(r.id)) {
      try {
        compileGlob(r.id);
      } catch (e) {
        problems.push(`${file}: "${name}.id" is not a valid glob pattern: ${errorMessage(e)}`);
      }
    } else if (`${String(r.ip)}${r.pubkey_path}`.includes('{id}')) {
      problems.push(`${file}: "${name}" uses {id} but its id is not a pattern`);
    }
    const ips = r.ip === undefined ? [] : typeof r.ip === 'string' ? [r.ip] : r.ip;
    ips.forEach((ip, j) => {
      const field = typeof r.ip === 'string' ? `${name}.ip` : `${name}.ip[${j}]`;
      if (ip.includes(':') && isIP(ip) !== 6) {
        const port = /:(\d+)$/.exec(ip)?.[1];
        problems.push(
          `${file}: "${field}" is "${ip}": an address or host name only` +
            (port ? `; put the port in "${name}.mtls_port: ${port}"` : ''),
        );
      } else if (isIP(ip) === 0 && !isHostName(ip.replaceAll('{id}', 'x'))) {
        problems.push(
          `${file}: "${field}" is "${ip}": neither an IP address nor a host name ` +
            '(dot-separated labels of 1 to 63 letters, digits and hyphens, RFC 1123)',
        );
      }
      // A peer on this host at this KP's own peer port is this KP itself: it would dial itself
      // and get a baffling 403 (a peer's mtls_port defaults to this KP's).
      const port = r.mtls_port ?? c.mtls_port;
      const local = ip === c.host || /^(127\.|::1$|localhost$)/.test(ip);
      if (local && port !== 0 && port === c.mtls_port) {
        problems.push(
          `${file}: "${name}" (${r.id}) would be dialled at ${ip}:${port}, this KP's own peer port; ` +
            `set "${name}.mtls_port" to the peer's port${r.mtls_port === undefined ? " (it defaults to this KP's mtls_port)" : ''}`,
        );
      }
    });
    const dup = c.remoteSystems.findIndex((o) => o.id === r.id);
    if (dup < i) problems.push(`${file}: "${name}.id" repeats remoteSystems[${dup}].id "${r.id}"`);
  });
  checkKeySources(c, file, problems);
  checkEtcd(c, file, problems);
  if (c.use_psk && c.psk_file === undefined)
    problems.push(`${file}: "use_psk" is true but "psk_file" is not set`);
  if (!c.use_psk && !c.use_ssl) {
    problems.push(
      `${file}: "use_psk" and "use_ssl" are both false; the encryptor link needs TLS (plain HTTP is never served)`,
    );
  }
  if (!c.use_psk && c.encryptor_identities === undefined) {
    problems.push(
      `${file}: "use_psk" is false (certificate mode) but "encryptor_identities" is not set: list the ` +
        `routers' certificate identities; a certificate from "cafile" alone does not make an encryptor`,
    );
  }
  for (const id of c.encryptor_identities ?? []) {
    const peer = c.remoteSystems.find(
      (r) => r.id === id || r.mtls_client_identity === id || (r.mtls_client_identities ?? []).includes(id),
    );
    if (peer) problems.push(`${file}: "encryptor_identities" names "${id}", a peer Key Provider's identity`);
  }
  if (c.port !== 0 && c.port === c.mtls_port)
    problems.push(`${file}: "port" and "mtls_port" are both ${c.port}`);
}

/** key_source etsi014 and hybrid need the kme block; etsi014 has no KP-to-KP link to configure. */
function checkKeySources(c: Config, file: string, problems: string[]): void {
  const qkd = c.remoteSystems.filter((r) => r.key_source === 'etsi014' || r.key_source === 'hybrid');
  c.remoteSystems.forEach((r, i) => {
    if (r.key_source !== 'etsi014') return;
    for (const k of ['ip', 'pubkey_path', 'mtls_port'] as const)
      if (r[k] !== undefined)
        problems.push(
          `${file}: "remoteSystems[${i}].${k}" is not used with key_source etsi014 (no KP-to-KP link); remove it`,
        );
  });
  if (qkd.length > 0 && c.kme === undefined) {
    problems.push(
      `${file}: "kme" is not set, but ${qkd.map((r) => `"${r.id}"`).join(', ')} use key_source ` +
        `${[...new Set(qkd.map((r) => r.key_source))].join('/')}: name this site's KME (url, certfile, keyfile, cafile)`,
    );
  }
  if (c.kme?.url !== undefined) {
    let u: URL | undefined;
    try {
      u = new URL(c.kme.url);
    } catch {
      u = undefined;
    }
    if (u?.protocol !== 'https:' || u.search !== '' || u.hash !== '' || u.username !== '')
      problems.push(`${file}: "kme.url" must be https://host[:port][/path] (ETSI GS QKD 014 is HTTPS only)`);
  }
}

/** keystore_backend etcd needs the etcd block: member URLs, a prefix, TLS files in pairs. */
function checkEtcd(c: Config, file: string, problems: string[]): void {
  const e = c.etcd;
  if (c.keystore_backend === 'file' && c.keystore_path === undefined)
    problems.push(
      `${file}: missing required key "keystore_path" (the keystore file; or set keystore_backend: etcd)`,
    );
  if (c.keystore_backend === 'etcd' && e === undefined)
    problems.push(
      `${file}: "keystore_backend" is etcd but "etcd" is not set: list the members (etcd.endpoints)`,
    );
  if (e === undefined) return;
  if (c.keystore_backend !== 'etcd')
    problems.push(
      `${file}: "etcd" is set but "keystore_backend" is ${c.keystore_backend}; set keystore_backend: etcd`,
    );
  (e.endpoints ?? []).forEach((url, i) => {
    let u: URL | undefined;
    try {
      u = new URL(url);
    } catch {
      u = undefined;
    }
    if ((u?.protocol !== 'https:' && u?.protocol !== 'http:') || u.pathname !== '/' || u.search !== '')
      problems.push(`${file}: "etcd.endpoints[${i}]" is "${url}": an http:// or https:// host:port, no path`);
  });
  const schemes = new Set((e.endpoints ?? []).map((url) => url.split(':')[0]));
  if (schemes.size > 1)
    problems.push(`${file}: "etcd.endpoints" mixes http:// and https://; use one for every member`);
  if (schemes.has('http') && (e.cafile ?? e.certfile) !== undefined)
    problems.push(`${file}: "etcd.cafile"/"etcd.certfile" are set but "etcd.endpoints" are http:// (no TLS)`);
  e.prefix ??= `/skip-server/${c.localSystemID}/`;
  if (!e.prefix.endsWith('/')) problems.push(`${file}: "etcd.prefix" must end with "/"`);
  if ((e.certfile === undefined) !== (e.keyfile === undefined))
    problems.push(`${file}: "etcd.certfile" and "etcd.keyfile" go together (mutual TLS to etcd)`);
}
