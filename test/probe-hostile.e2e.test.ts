// skip-server probe against a hostile KP: what the server says is printed as inert text (no
// terminal control sequence reaches the terminal, no forged report line starts a line, --json
// stays valid JSON carrying the text escaped), and an answer that never ends fails its check at
// the probe's answer cap instead of being buffered.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { runCli } from './helpers/bundle.js';
import { FORGED, startFakePair, type Violation } from './helpers/fake-kp.js';
import { tempDir } from './helpers/tmp.js';

const routers = {
  a: { identity: 'router-a', key: 'a1'.repeat(48) },
  b: { identity: 'router-b', key: 'b2'.repeat(48) },
};

/** Control characters other than the probe's own line feeds: C0, DEL, C1, line separators. */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029]/u;

async function probeAt(
  t: TestContext,
  violation: Violation,
  extra: string[],
): Promise<{ code: number | null; stdout: string; stderr: string; endless: () => number }> {
  const fake = await startFakePair(routers, violation);
  t.after(() => fake.close());
  const file = join(tempDir(t), 'psk.txt');
  writeFileSync(file, `${routers.a.identity}:${routers.a.key}\n${routers.b.identity}:${routers.b.key}\n`, {
    mode: 0o600,
  });
  const r = await runCli([
    'probe',
    '--kp',
    `127.0.0.1:${fake.portA}`,
    '--identity',
    routers.a.identity,
    '--psk-file',
    file,
    '--peer-kp',
    `127.0.0.1:${fake.portB}`,
    '--peer-identity',
    routers.b.identity,
    ...extra,
  ]);
  return { ...r, endless: () => fake.endlessBytes() };
}

describe('skip-server probe against a hostile KP', () => {
  it('prints server text with every control character escaped, in TLS 1.2 and 1.3', async (t) => {
    const r = await probeAt(t, 'hostile-text', ['--conformance']);
    assert.equal(r.code, 1, r.stderr);
    const bad = CONTROL.exec(r.stdout);
    assert.equal(bad, null, `raw U+${bad?.[0].codePointAt(0)?.toString(16)} in:\n${r.stdout}`);
    const lines = r.stdout.split('\n');
    for (const line of lines) assert.ok(!line.startsWith(FORGED), `forged line: ${line}`);
    // The text is still there to read, escaped: the ESC of the screen clear, the forged line.
    assert.match(r.stdout, /PASS {2}TLS 1\.3: capabilities at KP A +A\\x1b\[2J\\x1b\]0;owned\\x07\\x9b31m/);
    assert.match(r.stdout, /\\r\\nall 10 checks passed in 1 ms\\n/);
    assert.match(r.stdout, /Cache-Control is ".*\\x1b\[2J/);
    assert.match(r.stdout, /not an HTTP status line: .*\\(x1b|u001b)/);
    assert.match(lines.at(-2) ?? '', /^\d+ of \d+ checks failed/);
  });

  it('keeps --json valid JSON, the server text in it as JSON escapes', async (t) => {
    const r = await probeAt(t, 'hostile-text', ['--tls', '1.2', '--conformance', '--json']);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(CONTROL.exec(r.stdout), null, r.stdout);
    const report = JSON.parse(r.stdout) as { checks: { name: string; detail: string }[] };
    const caps = report.checks.find((c) => c.name === 'capabilities at KP A');
    // Parsed back, the text is exactly what the server sent.
    assert.ok(caps?.detail.includes(`\u001b]0;owned\u0007\u009b31m\r\n${FORGED}\n`), caps?.detail);
  });

  it('fails a check whose answer never ends at the 64 KiB cap, and stops reading', async (t) => {
    const r = await probeAt(t, 'endless', []);
    assert.equal(r.code, 1, r.stderr);
    const fails = r.stdout.split('\n').filter((l) => /FAIL {2}TLS 1\.[23]: capabilities at KP A/.test(l));
    assert.equal(fails.length, 2, r.stdout);
    for (const f of fails) assert.match(f, /answer exceeds 64 KiB/);
    // The server could push only what sockets buffer past the cap before the probe hung up
    // (an unbounded reader takes hundreds of MiB in the 10 s the old timeout allowed).
    assert.ok(r.endless() < 8 * 1024 * 1024, `${r.endless()} bytes were streamed`);
  });
});
