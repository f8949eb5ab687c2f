// The one writer of skip.yaml (init, lab, the tests' KP files): the reference KP's keys in its
// order, every string double-quoted (YAML 1.1, which PyYAML and our reader use, would take a
// plain `yes`, `on` or `0x10` for a boolean or a number), comments before keys where asked.

import { Document, isMap, isPair, isScalar } from 'yaml';

/** One remote system: the reference KP's fields, plus ours where given. */
export interface RemoteYaml {
  id: string;
  /** One address or host name, or a list (instances of a peer). */
  ip?: string | string[];
  mtls_port?: number;
  pubkey_path?: string;
  [key: string]: unknown;
}

export interface SkipYaml {
  /** The comment lines at the top (without '#'). */
  header: string[];
  localSystemID: string;
  remoteSystems: RemoteYaml[];
  /** The other top-level keys, in the order they are written. */
  settings: Record<string, unknown>;
  /** A comment before a top-level key, by key. */
  comments?: Record<string, string>;
}

export function renderSkipYaml(o: SkipYaml): string {
  const doc = new Document({
    localSystemID: o.localSystemID,
    remoteSystems: o.remoteSystems,
    ...o.settings,
  });
  doc.directives!.docStart = true;
  if (!isMap(doc.contents)) throw new Error('skip.yaml: not a map');
  doc.contents.commentBefore = o.header.map((l) => ` ${l}`).join('\n');
  for (const item of doc.contents.items) {
    const key = isPair(item) && isScalar(item.key) ? String(item.key.value) : undefined;
    const comment = key !== undefined ? o.comments?.[key] : undefined;
    if (comment !== undefined && isScalar(item.key)) item.key.commentBefore = ` ${comment}`;
  }
  return doc.toString({ defaultStringType: 'QUOTE_DOUBLE', defaultKeyType: 'PLAIN', lineWidth: 0 });
}
