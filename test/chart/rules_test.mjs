// The chart's PrometheusRule: `promtool check rules` on its rule groups, then `promtool test
// rules` (rules_test.yml) with a series that fires each alert and series that must not.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'node:test';
import * as lib from './lib.mjs';

const promtool = process.env.PROMTOOL ?? 'promtool';

function promtoolRun(args, cwd) {
  const r = spawnSync(promtool, args, { cwd, encoding: 'utf8' });
  if (r.error) throw r.error;
  return `${r.stdout}${r.stderr}`.trim() + `\n(exit ${r.status})`;
}

test('alert rules pass promtool check rules and promtool test rules', (t) => {
  const rule = lib.one(lib.render({ set: ['metrics.prometheusRule.enabled=true'] }), 'PrometheusRule');
  const alerts = rule.spec.groups.flatMap((g) => g.rules.map((r) => r.alert)).sort();
  assert.deepEqual(alerts, ['ReplagentBackupTooOld', 'ReplagentReplicaNotStreaming', 'ReplagentReplicaRecloned', 'ReplagentReplicationLagHigh']);

  const dir = mkdtempSync(path.join(tmpdir(), 'replagent-rules-'));
  try {
    // A rule file is YAML; JSON is YAML.
    writeFileSync(path.join(dir, 'rules.json'), JSON.stringify({ groups: rule.spec.groups }, null, 2));
    copyFileSync(path.join(lib.here, 'rules_test.yml'), path.join(dir, 'rules_test.yml'));
    const check = promtoolRun(['check', 'rules', 'rules.json'], dir);
    t.diagnostic(check);
    assert.match(check, /SUCCESS: 4 rules found/);
    assert.match(check, /\(exit 0\)$/);
    const unit = promtoolRun(['test', 'rules', 'rules_test.yml'], dir);
    t.diagnostic(unit);
    assert.match(unit, /\(exit 0\)$/, unit);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  // Without backups there is no backup alert.
  const noBackup = lib.one(lib.render({ set: ['metrics.prometheusRule.enabled=true', 'backup.enabled=false'] }), 'PrometheusRule');
  assert.ok(!JSON.stringify(noBackup).includes('ReplagentBackupTooOld'));
});

test('every alert has a firing case in rules_test.yml', async () => {
  const { readFileSync } = await import('node:fs');
  const tests = lib.yaml.load(readFileSync(path.join(lib.here, 'rules_test.yml'), 'utf8')).tests;
  const fired = new Set(tests.flatMap((g) => g.alert_rule_test.filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname)));
  assert.deepEqual([...fired].sort(), ['ReplagentBackupTooOld', 'ReplagentReplicaNotStreaming', 'ReplagentReplicaRecloned', 'ReplagentReplicationLagHigh']);
});
