// skip.yaml as a YAML 1.1 document (as PyYAML reads it): syntax errors with their lines, and the
// YAML features a config must not use (aliases, merge keys) refused by name.

import { LineCounter, isMap, isScalar, parseDocument, visit, type Node, type YAMLMap } from 'yaml';
import { ConfigError } from '../errors.js';

export interface YamlConfig {
  /** The top-level mapping. */
  doc: YAMLMap;
  /** "file:line" of a node, for problems. */
  at: (node: Node | null | undefined) => string;
}

export function parseYaml(text: string, file: string): YamlConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter: lines,
    version: '1.1',
    uniqueKeys: true,
    prettyErrors: false,
  });
  const problems: string[] = [];
  const at = (node: Node | null | undefined): string =>
    node?.range ? `${file}:${lines.linePos(node.range[0]).line}` : file;
  for (const err of doc.errors) {
    problems.push(
      `${file}:${lines.linePos(err.pos[0]).line}: YAML syntax error: ${err.message.split('\n')[0]}`,
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
  if (!isMap(doc.contents))
    throw new ConfigError([`${file}: expected a mapping of keys (localSystemID: ..., ...)`]);

  visit(doc, {
    Alias(_, node) {
      problems.push(
        `${at(node)}: YAML aliases (*${node.source}) are not supported in a config; write the value out`,
      );
    },
    Pair(_, pair) {
      // YAML 1.1 parses `<<` as the merge key, a Symbol.
      if (isScalar(pair.key) && (pair.key.value === '<<' || typeof pair.key.value === 'symbol'))
        problems.push(
          `${at(pair.key)}: YAML merge keys (<<) are not supported in a config; write the keys out`,
        );
    },
  });
  if (problems.length > 0) throw new ConfigError(problems);
  return { doc: doc.contents, at };
}
