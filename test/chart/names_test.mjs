// Names: every object name and label value within the API server's limits whatever the release
// is called, and nothing that collides between two releases (object names, the Grafana
// dashboard's uid). The seed's names (todo-db) come from charts/replagent-postgres/examples/.
import assert from 'node:assert/strict';
import path from 'node:path';
import test from 'node:test';
import * as lib from './lib.mjs';

const seedValues = path.join(lib.chartDir, 'examples/todo-db.yaml');
// Helm's longest release name (53), not containing the chart's name: the fullname is the
// release's name plus "-replagent-postgres", cut to 52.
const longRelease = 'orders-ledger-europe-west-production-green-canary-001';
// Every optional object on, so every name and label the chart can make is looked at.
const everything = ['backup.restoreCheck.enabled=true', 'metrics.podMonitor.enabled=true',
  'metrics.prometheusRule.enabled=true', 'networkPolicy.enabled=true'];

const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dns1035Label = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const labelValue = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

// Every label map of an object: its own, its pod templates', its selectors'.
function labelMaps(o) {
  const maps = [['metadata.labels', o.metadata.labels]];
  const spec = o.spec ?? {};
  maps.push(['spec.selector', spec.selector?.matchLabels ?? (o.kind === 'Service' ? spec.selector : undefined)]);
  maps.push(['spec.template.metadata.labels', spec.template?.metadata?.labels]);
  maps.push(['spec.jobTemplate.metadata.labels', spec.jobTemplate?.metadata?.labels]);
  maps.push(['spec.jobTemplate.spec.template.metadata.labels', spec.jobTemplate?.spec?.template?.metadata?.labels]);
  for (const [i, c] of (spec.volumeClaimTemplates ?? []).entries()) maps.push([`spec.volumeClaimTemplates[${i}].metadata.labels`, c.metadata.labels]);
  return maps.filter(([, m]) => m);
}

// The name and label limits the API server enforces, for every rendered object.
function limitProblems(objects) {
  const problems = [];
  for (const o of objects) {
    const name = o.metadata.name;
    const where = `${o.kind}/${name}`;
    if (name.length > 253 || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name)) problems.push(`${where}: not a DNS-1123 subdomain`);
    // A Service's name is a DNS label of the cluster domain (DNS-1035, at most 63).
    if (o.kind === 'Service' && (name.length > 63 || !dns1035Label.test(name))) problems.push(`${where}: ${name.length} characters, not a DNS-1035 label of at most 63`);
    // The CronJob controller names each Job <cronjob>-<minutes since the epoch> (up to 11 more
    // characters), and a Job's name becomes its pods' job-name label (at most 63): the API
    // server refuses a CronJob name over 52.
    if (o.kind === 'CronJob' && name.length > 52) problems.push(`${where}: ${name.length} characters, over 52`);
    // A StatefulSet's pods are <name>-<ordinal> (a DNS label) and carry the label
    // controller-revision-hash=<name>-<10-character hash>.
    if (o.kind === 'StatefulSet' && name.length > 52) problems.push(`${where}: ${name.length} characters, over 52`);
    for (const [at, labels] of labelMaps(o)) {
      for (const [k, v] of Object.entries(labels)) {
        const s = String(v);
        if (s.length > 63 || !labelValue.test(s)) problems.push(`${where} ${at}.${k}: value ${JSON.stringify(s)} (${s.length} characters) is no label value`);
      }
    }
  }
  return problems;
}

const names = (objects) => objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();

test('a 53-character release name: CronJobs within 52 characters, Services within 63, labels valid', async () => {
  assert.equal(longRelease.length, 53);
  const objects = lib.render({ release: longRelease, set: [...everything, 'fullnameOverride='] });
  assert.deepEqual(await lib.checkObjects(objects), []);
  assert.deepEqual(limitProblems(objects), [], limitProblems(objects).join('\n'));
  const crons = lib.byKind(objects, 'CronJob').map((o) => o.metadata.name);
  assert.equal(crons.length, 2, crons.join(', '));
  assert.equal(new Set(crons).size, 2, `CronJob names collide: ${crons.join(', ')}`);
  // A name still says what it is and which set it belongs to.
  assert.ok(crons.some((n) => n.endsWith('-backup')) && crons.some((n) => n.endsWith('-restore-check')), crons.join(', '));
  for (const n of crons) assert.ok(n.startsWith('orders-ledger-europe-west'), n);
  assert.equal(lib.byKind(objects, 'Service').length, 4);
});

test('long fullnameOverrides: CronJob names within 52 characters, distinct per CronJob and per set', () => {
  const base = 'a'.repeat(40); // with "-one": 44 characters, the schema allows 52
  const cronsOf = (fullname) => lib.byKind(lib.render({ set: [...everything, `fullnameOverride=${fullname}`] }), 'CronJob')
    .map((o) => o.metadata.name);
  const one = cronsOf(`${base}-one`);
  const two = cronsOf(`${base}-two`);
  for (const n of [...one, ...two]) assert.ok(n.length <= 52, `${n}: ${n.length} characters`);
  // Two sets whose names differ only past the cut still get CronJobs of their own.
  assert.equal(new Set([...one, ...two]).size, 4, [...one, ...two].join(', '));
  // Short names are left as they are.
  assert.deepEqual(cronsOf('todo-db').sort(), ['todo-db-backup', 'todo-db-restore-check']);
});

// Grafana keys dashboards by uid (at most 40 characters): each release's copy of the dashboard
// needs its own, stable across upgrades, or the releases overwrite each other's.
test('the dashboard uid is per release and namespace, stable, and a valid Grafana uid', () => {
  const dashboard = (release, ns = lib.namespace) => {
    const r = lib.helm(['template', release, lib.chartDir, '--namespace', ns, ...lib.imageArgs]);
    assert.equal(r.status, 0, r.stderr);
    const cm = lib.yaml.loadAll(r.stdout).filter((o) => o?.kind === 'ConfigMap' && o.metadata.name.endsWith('-dashboard'));
    assert.equal(cm.length, 1);
    const files = Object.values(cm[0].data);
    assert.equal(files.length, 1);
    return JSON.parse(files[0]);
  };
  const a = dashboard('shop');
  const b = dashboard('orders');
  const other = dashboard('shop', 'staging');
  for (const d of [a, b, other]) {
    assert.ok(d.uid.length <= 40 && /^[A-Za-z0-9_-]+$/.test(d.uid), `uid ${d.uid}`);
    assert.ok(d.panels.length > 0 && d.templating.list.length > 0, 'the dashboard itself is kept');
  }
  assert.notEqual(a.uid, b.uid, 'two releases in one namespace');
  assert.notEqual(a.uid, other.uid, 'one release name in two namespaces');
  assert.equal(dashboard('shop').uid, a.uid, 'the same release renders the same uid');
  // Titles too: Grafana lists (and may refuse) dashboards of one title in one folder.
  assert.notEqual(a.title, b.title);
  assert.notEqual(a.title, other.title);
});

test('the PodDisruptionBudget lets unhealthy pods be evicted (AlwaysAllow), as a value', async () => {
  const pdb = (set = []) => lib.one(lib.render({ set }), 'PodDisruptionBudget');
  // A pod that is not Ready (a replica re-cloning, a crash loop) protects nothing; with the
  // API's default (IfHealthyBudget) it blocks a node drain while the budget is spent.
  assert.equal(pdb().spec.unhealthyPodEvictionPolicy, 'AlwaysAllow');
  assert.equal(pdb(['podDisruptionBudget.unhealthyPodEvictionPolicy=IfHealthyBudget']).spec.unhealthyPodEvictionPolicy, 'IfHealthyBudget');
  assert.deepEqual(await lib.checkObjects([pdb()]), []);
  const r = lib.helm(['template', 't', lib.chartDir, ...lib.imageArgs, '--set', 'podDisruptionBudget.unhealthyPodEvictionPolicy=Always']);
  assert.notEqual(r.status, 0, 'a misspelt policy was accepted');
  assert.match(r.stderr, /podDisruptionBudget\.unhealthyPodEvictionPolicy/);
});

// By default the names come from the release, so a second release in the namespace installs.
test('default values: names from the release, none shared by two releases', () => {
  const shop = lib.render({ release: 'shop' });
  lib.one(shop, 'StatefulSet', 'shop-replagent-postgres');
  for (const n of ['shop-replagent-postgres', 'shop-replagent-postgres-rw', 'shop-replagent-postgres-ro']) lib.one(shop, 'Service', n);
  lib.one(shop, 'Secret', 'shop-replagent-postgres-auth');
  lib.one(shop, 'CronJob', 'shop-replagent-postgres-backup');
  // A release whose name contains the chart's is used as it is.
  lib.one(lib.render({ release: 'replagent-postgres-orders' }), 'StatefulSet', 'replagent-postgres-orders');
  const orders = lib.render({ release: 'orders' });
  const shared = names(shop).filter((n) => names(orders).includes(n));
  assert.deepEqual(shared, [], 'objects two releases in one namespace would both own');
});

test('examples/todo-db.yaml gives the seed its names, whatever the release is called', () => {
  for (const release of ['todo', 'whatever']) {
    const objects = lib.render({ release, files: [seedValues] });
    const sts = lib.one(objects, 'StatefulSet', 'todo-db');
    assert.equal(sts.spec.serviceName, 'todo-db');
    assert.deepEqual(sts.spec.volumeClaimTemplates.map((c) => c.metadata.name), ['data'], 'claims data-todo-db-N');
    for (const n of ['todo-db', 'todo-db-rw', 'todo-db-ro']) lib.one(objects, 'Service', n);
    assert.equal(lib.one(objects, 'Service', 'todo-db-rw').spec.selector['statefulset.kubernetes.io/pod-name'], 'todo-db-0');
    lib.one(objects, 'Secret', 'todo-db-auth');
    lib.one(objects, 'CronJob', 'todo-db-backup');
    lib.one(objects, 'ConfigMap', 'todo-db-config');
  }
});
