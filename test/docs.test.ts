// The README cannot drift from the source: its troubleshooting table lists exactly the warn and
// error events the server logs, its router configuration is the one `init` prints, and its
// command list is the command line's own.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { COMMANDS } from '../src/cli/dispatch.js';
import { routerConfig } from '../src/provision/ios-xe.js';

const README = readFileSync('README.md', 'utf8');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** event -> level, for every warn and error line in src/. */
function loggedEvents(): Map<string, string> {
  const events = new Map<string, string>();
  for (const file of sources('src')) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/\.(warn|error)\(\s*'([^']+)'/g)) events.set(m[2]!, m[1]!);
    // refusalReporter({ event: '...' }) logs the event as a warning.
    for (const m of text.matchAll(/refusalReporter\(\{[^}]*?event: '([^']+)'/g)) events.set(m[1]!, 'warn');
    // errorReply(e, log, 'event') logs the event as an error.
    for (const m of text.matchAll(/errorReply\([^()]*,\s*'([^']+)'\)/g)) events.set(m[1]!, 'error');
    assert.doesNotMatch(text, /\.(warn|error)\(\s*[`"]/, `${file}: log events must be '...' literals`);
  }
  return events;
}

function section(title: string): string {
  const start = README.indexOf(`\n## ${title}\n`);
  assert.ok(start >= 0, `README has no "## ${title}" section`);
  const end = README.indexOf('\n## ', start + 1);
  return README.slice(start, end < 0 ? undefined : end);
}

describe('README against the source', () => {
  it('troubleshooting lists every warn/error event with its level, and no event the source lacks', () => {
    const events = loggedEvents();
    assert.ok(events.size >= 20, `only ${events.size} events found: the scan is broken`);
    const rows = new Map(
      [...section('Troubleshooting').matchAll(/^\| `([^`]+)` +\| (warn|error) +\|/gm)].map((m) => [
        m[1]!,
        m[2]!,
      ]),
    );
    for (const [event, level] of events)
      assert.equal(
        rows.get(event),
        level,
        `README troubleshooting: "${event}" (${level}) missing or wrong level`,
      );
    for (const event of rows.keys())
      assert.ok(events.has(event), `README lists "${event}", which src never logs`);
  });

  it('shows the router configuration init prints', () => {
    const config = routerConfig({ kpAddress: 'KP-ADDRESS', identity: 'PSK-IDENTITY', pskHex: 'PSK-HEX-KEY' });
    assert.ok(
      section('The router side').includes(`\`\`\`\n${config}\n\`\`\``),
      'README router block differs',
    );
  });

  it('names every source file in the Development tree', () => {
    const block = section('Development');
    const missing = sources('src')
      .map((f) => f.slice('src/'.length))
      // cli/ is "one file per command", named for the command.
      .filter((f) => !f.startsWith('cli/') && !block.includes(f.split('/').pop()!));
    assert.deepEqual(missing, [], 'README Development: add these to the source tree');
  });

  it("lists the command line's own usage lines", () => {
    const block = section('Commands');
    for (const c of COMMANDS)
      assert.ok(
        block.includes(`skip-server ${c.name} ${c.synopsis}`.trimEnd() + '\n'),
        `README Commands: ${c.name}`,
      );
  });
});
