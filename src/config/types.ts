// What skip.yaml holds once read and checked (load.ts reads it).

import type { Level } from '../log.js';
import type { ProfileChoice } from '../memory-profile.js';

/** Where the keys shared with a remote system come from (docs/key-sources.md). */
export type KeySourceName = 'mlkem' | 'etsi014' | 'hybrid';

export interface RemoteSystemConfig {
  id: string;
  /** Required for the mlkem and hybrid key sources (the KP-to-KP link); unused by etsi014. A
   * list names several instances of the peer KP: exchanges are spread over them. */
  ip?: string | string[];
  mtls_port?: number;
  pubkey_path?: string;
  mtls_client_identity?: string;
  mtls_client_identities?: string[];
  /** Default mlkem (the loader fills it in). */
  key_source?: KeySourceName;
  /** The remote KP's SAE ID in the QKD network; required for etsi014 and hybrid. */
  sae_id?: string;
}

/** This site's ETSI GS QKD 014 Key Management Entity, and this KP's SAE certificate for it. */
export interface KmeConfig {
  /** https://host:port (a path prefix before /api/v1 is allowed). */
  url: string;
  certfile: string;
  keyfile: string;
  /** The CA that signed the KME's server certificate. */
  cafile: string;
  /** One KME request, connection included, at most. */
  timeout_seconds: number;
  /** Connections to the KME at once (kept alive), at most. */
  max_connections: number;
}

/** The etcd v3 cluster that holds the keys when keystore_backend is etcd (docs/cluster.md). */
export interface EtcdConfig {
  /** http:// or https:// client URLs of the cluster's members. */
  endpoints: string[];
  /** Every key of this KP's keystore begins with it; default /skip-server/<localSystemID>/. */
  prefix: string;
  /** The CA of the members' certificates, and this KP's client certificate and key (mutual TLS). */
  cafile?: string;
  certfile?: string;
  keyfile?: string;
  /** One connection attempt to a member, at most. */
  dial_timeout_ms: number;
  /** One keystore operation, retries on other members included, at most. */
  request_timeout_ms: number;
}

export interface Config {
  /** Absolute path of the file this came from. */
  source: string;
  localSystemID: string;
  remoteSystems: RemoteSystemConfig[];
  algorithm: string;
  default_key_size_bits: number;
  default_entropy_bits: number;
  /** Where keys wait: the encrypted file at keystore_path (default), or an etcd cluster. */
  keystore_backend: 'file' | 'etcd';
  /** The file keystore's path: required with keystore_backend file, unused with etcd. */
  keystore_path?: string;
  /** Required when keystore_backend is etcd. */
  etcd?: EtcdConfig;
  kem_pub_key_path: string;
  kem_priv_key_path: string;
  use_psk: boolean;
  psk_file?: string;
  psk_identity?: string;
  /** The `instance` label on every metric; the host name when unset. */
  instance_name?: string;
  use_ssl: boolean;
  certfile: string;
  keyfile: string;
  cafile: string;
  host: string;
  port: number;
  mtls_port: number;
  key_ttl_seconds: number;
  /** After SIGHUP loads a new own ML-KEM pair: seconds the previous private key is still tried. */
  kem_key_grace_seconds: number;
  admin_host: string;
  admin_port?: number;
  /** Certificate mode: the certificate identities (DNS/IP SAN, else CN) that may act as encryptors. */
  encryptor_identities?: string[];
  /** Keys waiting to be collected for one remote system, at most; past it the peer gets 503. */
  max_held_keys_per_remote: number;
  /** Keys waiting in all, at most: bounds the keystore index in memory (~200 bytes a key). */
  max_held_keys: number;
  /** Per encryptor identity: sustained requests per second, and the burst above it. */
  identity_requests_per_second: number;
  identity_request_burst: number;
  /** Connections from one source address still in their TLS handshake, at most, per listener. */
  max_handshakes_per_source: number;
  /** Keys one encryptor identity may have issued for one remote system within key_ttl_seconds. */
  max_held_keys_per_identity: number;
  /** Caps on connections and requests in flight (src/memory-profile.ts). */
  memory_profile: ProfileChoice;
  /** Least severe log lines written: debug, info (default), warn, error. */
  log_level: Level;
  /** Required when a remote system's key_source is etsi014 or hybrid. */
  kme?: KmeConfig;
  /** Serve TLS 1.3 with a PSK (TLS_AES_256_GCM_SHA384, our engine); false: TLS 1.2 only. */
  tls13_psk: boolean;
}
