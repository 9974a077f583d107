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
const seedValues = path.join(lib.chartDir, 'examples/todo-db.yaml');
const ruleSet = ['metrics.prometheusRule.enabled=true', 'backup.restoreCheck.enabled=true', 'replicas=3'];
const allAlerts = ['ReplagentBackupTooOld', 'ReplagentCertificateExpiresSoon', 'ReplagentInactiveSlotRetainingWal', 'ReplagentPostgresDown',
  'ReplagentPrimaryStreamingToFewerReplicas', 'ReplagentReplicaNotStreaming', 'ReplagentReplicaRecloned',
  'ReplagentReplicationLagHigh', 'ReplagentRestoreCheckFailed', 'ReplagentRestoreCheckTooOld',
  'ReplagentScrapeTargetDown', 'ReplagentScrapeTargetsMissing', 'ReplagentVolumeLowOnSpace'];

function promtoolRun(args, cwd) {
  const r = spawnSync(promtool, args, { cwd, encoding: 'utf8' });
  if (r.error) throw r.error;
  return `${r.stdout}${r.stderr}`.trim() + `\n(exit ${r.status})`;
}

test('alert rules pass promtool check rules and promtool test rules', (t) => {
  // rules_test.yml's series name the seed's pods (todo-db-N): its values file names them so.
  // Three pods (the primary should stream to two) and the restore check, so every alert renders.
  const rule = lib.one(lib.render({ files: [seedValues], set: ruleSet }), 'PrometheusRule');
  const alerts = rule.spec.groups.flatMap((g) => g.rules.map((r) => r.alert)).sort();
  assert.deepEqual(alerts, allAlerts);

  const dir = mkdtempSync(path.join(tmpdir(), 'replagent-rules-'));
  try {
    // A rule file is YAML; JSON is YAML.
    writeFileSync(path.join(dir, 'rules.json'), JSON.stringify({ groups: rule.spec.groups }, null, 2));
    copyFileSync(path.join(lib.here, 'rules_test.yml'), path.join(dir, 'rules_test.yml'));
    const check = promtoolRun(['check', 'rules', 'rules.json'], dir);
    t.diagnostic(check);
    assert.match(check, new RegExp(`SUCCESS: ${allAlerts.length} rules found`));
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

// What the values change: the restore-check alerts only with the restore check, the primary's
// streaming count only with replicas to stream to (replicas - 1 rendered into the rule), the
// scrape job and the thresholds.
test('alert rules follow the values', () => {
  const ruleOf = (set, files = [seedValues]) => lib.one(lib.render({ files, set }), 'PrometheusRule');
  const alertsOf = (rule) => rule.spec.groups.flatMap((g) => g.rules.map((r) => r.alert));
  const exprOf = (rule, alert) => rule.spec.groups.flatMap((g) => g.rules).find((r) => r.alert === alert).expr;

  const defaults = ruleOf(['metrics.prometheusRule.enabled=true']);
  assert.deepEqual(alertsOf(defaults).filter((a) => a.startsWith('ReplagentRestoreCheck')), []);
  assert.match(exprOf(defaults, 'ReplagentPrimaryStreamingToFewerReplicas'), /replagent_replicas_streaming\{[^}]*\}\) < 1\n/);
  assert.match(exprOf(defaults, 'ReplagentScrapeTargetDown'), /up\{job="default\/todo-db", namespace="default", pod=~"todo-db-\[0-9\]\+"\}/);
  assert.match(exprOf(defaults, 'ReplagentScrapeTargetsMissing'), /< 2\n/);
  assert.match(exprOf(defaults, 'ReplagentVolumeLowOnSpace'), /persistentvolumeclaim=~"data-todo-db-\[0-9\]\+"/);

  const single = ruleOf(['metrics.prometheusRule.enabled=true', 'replicas=1']);
  assert.ok(!alertsOf(single).includes('ReplagentPrimaryStreamingToFewerReplicas'), 'a lone primary has nobody to stream to');

  const tuned = ruleOf(['metrics.prometheusRule.enabled=true', 'metrics.prometheusRule.scrapeJob=replagent',
    'metrics.prometheusRule.volumeMinFreePercent=25', 'metrics.prometheusRule.inactiveSlotRetainedBytes=5000',
    'metrics.prometheusRule.certificateExpiryDays=10', 'replicas=5']);
  assert.match(exprOf(tuned, 'ReplagentScrapeTargetDown'), /up\{job="replagent", /);
  assert.match(exprOf(tuned, 'ReplagentVolumeLowOnSpace'), /\* 100 < 25\n/);
  assert.match(exprOf(tuned, 'ReplagentInactiveSlotRetainingWal'), /active="false"\}\) > 5000\n/);
  assert.match(exprOf(tuned, 'ReplagentPrimaryStreamingToFewerReplicas'), /\) < 4\n/);
  assert.match(exprOf(tuned, 'ReplagentCertificateExpiresSoon'), /\) - time\(\) < 864000\n/);

  // The certificate alert only with TLS, its description naming what renews this release's.
  const renewal = (set) => ruleOf(['metrics.prometheusRule.enabled=true', ...set]).spec.groups
    .flatMap((g) => g.rules).find((r) => r.alert === 'ReplagentCertificateExpiresSoon')?.annotations.description;
  assert.equal(renewal(['tls.enabled=false']), undefined);
  assert.match(renewal(['tls.existingSecret=my-tls']), /into the Secret my-tls you manage/);
  assert.match(renewal(['tls.certManager.enabled=true', 'tls.certManager.issuerRef.name=set-ca']),
    /CA of the Issuer set-ca .*renewBefore \(720h\).*describe certificate todo-db /);

  // Names derived from the release (no fullnameOverride): the PodMonitor's job follows them.
  const derived = ruleOf(['metrics.prometheusRule.enabled=true'], []);
  assert.match(exprOf(derived, 'ReplagentScrapeTargetDown'), /up\{job="default\/t-replagent-postgres", /);
});

test('every alert has a firing case in rules_test.yml', async () => {
  const { readFileSync } = await import('node:fs');
  const tests = lib.yaml.load(readFileSync(path.join(lib.here, 'rules_test.yml'), 'utf8')).tests;
  const fired = new Set(tests.flatMap((g) => g.alert_rule_test.filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname)));
  assert.deepEqual([...fired].sort(), allAlerts);
});
