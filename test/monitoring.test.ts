// The operator's picture of a KP: Prometheus alerting rules and a Grafana dashboard over
// /metrics. The rules pass promtool's check and its unit tests (each alert fires on the series
// that should raise it, and not on the probe's own refusals); every metric the rules and the
// dashboard query is one a running KP really exports.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { adminGet } from './helpers/admin-get.js';
import { startOneKp } from './helpers/one-kp.js';

const RULES = 'monitoring/skip-server-alerts.yml';
const DASHBOARD = 'monitoring/grafana-dashboard.json';

const hasPromtool = spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0;
/** CI installs promtool (.ci/run: Debian's prometheus); elsewhere its absence skips, saying so. */
const promtool =
  hasPromtool || process.env.CI ? {} : { skip: 'promtool not installed (apt-get install prometheus)' };

/** The metric names in PromQL text (ours, process_*, and Prometheus's own `up`). */
function queried(expr: string): string[] {
  return [...expr.matchAll(/\b(skip_[a-z0-9_]+|process_[a-z0-9_]+|up)\b(?=\s*[{[)]|\s*$|\s*[><=!])/g)].map(
    (m) => m[1]!,
  );
}

describe('monitoring: alerting rules and dashboard', () => {
  it('the alerting rules pass promtool check rules and their unit tests', promtool, () => {
    const check = spawnSync('promtool', ['check', 'rules', RULES], { encoding: 'utf8' });
    assert.equal(check.status, 0, check.stdout + check.stderr);
    assert.match(check.stdout, /SUCCESS: 6 rules found/);
    const unit = spawnSync('promtool', ['test', 'rules', 'skip-server-alerts.test.yml'], {
      cwd: 'monitoring',
      encoding: 'utf8',
    });
    assert.equal(unit.status, 0, unit.stdout + unit.stderr);
  });

  it('every metric the rules and the dashboard query is one the server exports', async (t) => {
    const { adminPort } = await startOneKp(t, 'admin_port: 0\n');
    const text = (await adminGet(adminPort!, '/metrics')).body;
    const exported = new Set(['up']);
    for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      exported.add(m[1]!);
      if (m[2] === 'histogram') for (const s of ['_bucket', '_sum', '_count']) exported.add(m[1]! + s);
    }
    assert.ok(exported.has('skip_tls_handshakes_refused_total') && exported.has('skip_held_keys'), text);

    const rules = readFileSync(RULES, 'utf8');
    const ruleExprs = [...rules.matchAll(/expr: (?:\|\n((?: {10}.*\n)+)|(.*)\n)/g)].map(
      (m) => (m[1] ?? m[2])!,
    );
    assert.equal(ruleExprs.length, 6, 'the scan of the rules is broken');
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
      panels: { title: string; targets: { expr: string }[] }[];
    };
    const panelExprs = dashboard.panels.flatMap((p) => p.targets.map((x) => x.expr));
    assert.ok(panelExprs.length >= 12, 'the dashboard has no queries');
    const unknown: string[] = [];
    for (const expr of [...ruleExprs, ...panelExprs]) {
      const names = queried(expr);
      assert.ok(names.length > 0, `no metric found in ${expr}`);
      for (const n of names) if (!exported.has(n)) unknown.push(`${n} (in ${expr.trim()})`);
    }
    assert.deepEqual(unknown, [], `not exported by the server:\n${unknown.join('\n')}`);
  });
});
