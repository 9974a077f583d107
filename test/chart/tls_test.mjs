// TLS in the chart (values.yaml tls, issue #12 item 7): the certificate every server presents
// and where it comes from (the chart's own CA, tls.existingSecret, a cert-manager Certificate),
// its names (every pod below maxReplicas and the Services), the Secret mounted into init,
// postgres and the sidecar with the agent's three tls_*_file keys, no pod roll on a new
// certificate, and the chart's CA kept across upgrades: `lookup` answered by a stand-in for the
// API server (helm template --dry-run=server), since `helm template` alone never sees a cluster.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'node:test';
import * as lib from './lib.mjs';

const seedValues = path.join(lib.chartDir, 'examples/todo-db.yaml');
const render = (opts = {}) => lib.render({ ...opts, files: [seedValues, ...(opts.files ?? [])] });
const tlsDir = '/etc/replagent/tls';
const ns = lib.namespace;
const day = 86400 * 1000;

// The names the set's certificate must cover, written out here rather than derived the way the
// template derives them: every pod's name and headless names, the four Services, localhost.
function expectedNames(fullname, maxReplicas, domain = 'cluster.local') {
  const forms = (host) => [host, `${host}.${ns}`, `${host}.${ns}.svc`, `${host}.${ns}.svc.${domain}`];
  const names = [];
  for (let n = 0; n < maxReplicas; n++) names.push(`${fullname}-${n}`, ...forms(`${fullname}-${n}.${fullname}`));
  for (const svc of [fullname, `${fullname}-rw`, `${fullname}-ro`, `${fullname}-r`]) names.push(...forms(svc));
  return [...names, 'localhost'];
}
const sans = (cert) => cert.subjectAltName.split(', ');
const dnsSans = (cert) => sans(cert).filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4));
const ipSans = (cert) => sans(cert).filter((s) => s.startsWith('IP Address:')).map((s) => s.slice(11));
const b64 = (s) => Buffer.from(s, 'base64');

// The three containers of a database pod and the TLS volume they share.
const stsOf = (objects) => lib.one(objects, 'StatefulSet');
function databaseContainers(objects) {
  const spec = stsOf(objects).spec.template.spec;
  return [...spec.initContainers, ...spec.containers];
}
const tomlOf = (objects) => lib.byKind(objects, 'ConfigMap').find((c) => c.metadata.name.endsWith('-config')).data['replagent.toml'];
const tomlPostgres = (toml) => toml.split(/^(?=\[)/m).find((s) => s.startsWith('[postgres]')) ?? '';

// Mounts, volume and config keys of a set with TLS from the Secret `secretName`.
function checkTlsPlumbing(objects, secretName) {
  const spec = stsOf(objects).spec.template.spec;
  const containers = databaseContainers(objects);
  assert.deepEqual(containers.map((c) => c.name), ['init', 'postgres', 'replagent']);
  for (const c of containers) {
    const m = lib.mountAt(c, tlsDir);
    assert.equal(m?.name, 'tls', `${c.name}: the TLS Secret at ${tlsDir}`);
    assert.equal(m.readOnly, true, `${c.name}: read-only`);
    assert.equal(m.subPath, undefined, `${c.name}: the directory, so the kubelet refreshes the files in place`);
  }
  const vol = spec.volumes.find((v) => v.name === 'tls');
  assert.equal(vol?.secret?.secretName, secretName);
  // 0440: PostgreSQL takes a root-owned key at 0640 or less; fsGroup 999 gives postgres read.
  // The chart writes the octal 0440, which the API server reads as YAML 1.1 (octal) and
  // js-yaml as YAML 1.2 (decimal 440); rawTlsMode checks the text itself.
  assert.equal(vol.secret.defaultMode, 440);
  assert.equal(spec.securityContext.fsGroup, 999);
  // The three keys only: never the CA's key.
  assert.deepEqual(vol.secret.items, ['tls.crt', 'tls.key', 'ca.crt'].map((k) => ({ key: k, path: k })));
  const pg = tomlPostgres(tomlOf(objects));
  assert.match(pg, new RegExp(`^tls_cert_file = "${tlsDir}/tls.crt"$`, 'm'));
  assert.match(pg, new RegExp(`^tls_key_file = "${tlsDir}/tls.key"$`, 'm'));
  assert.match(pg, new RegExp(`^tls_ca_file = "${tlsDir}/ca.crt"$`, 'm'));
  // The backup Jobs read the same config, and pg_dump verifies the server it dumps against the
  // CA (sslmode=verify-full): they mount ca.crt, and neither the set's key nor its certificate.
  for (const cj of lib.byKind(objects, 'CronJob')) {
    const job = cj.spec.jobTemplate.spec.template.spec;
    for (const c of job.containers) {
      assert.equal(lib.mountAt(c, tlsDir)?.name, 'tls', `${cj.metadata.name}/${c.name}: ${tlsDir}`);
    }
    const jobVol = job.volumes.find((v) => v.name === 'tls');
    assert.equal(jobVol?.secret?.secretName, secretName, `${cj.metadata.name}: the TLS Secret`);
    assert.deepEqual(jobVol.secret.items, [{ key: 'ca.crt', path: 'ca.crt' }], `${cj.metadata.name}: ca.crt only`);
  }
}

// The TLS volume's defaultMode as helm writes it (the text, see checkTlsPlumbing).
function rawTlsMode(set = []) {
  const r = lib.helm(['template', 't', lib.chartDir, ...lib.imageArgs, '-f', seedValues, '-s', 'templates/statefulset.yaml',
    ...set.flatMap((x) => ['--set', x])]);
  assert.equal(r.status, 0, r.stderr);
  return /^ *- name: tls\n *secret:\n *secretName: \S+\n *defaultMode: (\S+)$/m.exec(r.stdout)?.[1];
}

// The CA and the set's certificate of a chart-made Secret, checked: signed by the CA, the key
// the certificate's, the names those of every pod up to maxReplicas and the Services.
function checkGeneratedSecret(secret, { fullname = 'todo-db', maxReplicas = 8, validityDays = 825, caValidityDays = 3650 } = {}) {
  assert.equal(secret.type, 'kubernetes.io/tls');
  assert.deepEqual(Object.keys(secret.data).sort(), ['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
  assert.equal(secret.metadata.annotations['helm.sh/resource-policy'], 'keep', 'kept when the release is deleted');
  const ca = new X509Certificate(b64(secret.data['ca.crt']));
  const cert = new X509Certificate(b64(secret.data['tls.crt']));
  assert.equal(ca.ca, true, 'ca.crt is a CA');
  assert.equal(cert.ca, false, 'tls.crt is not a CA');
  assert.ok(cert.checkIssued(ca), 'tls.crt issued by ca.crt');
  assert.ok(cert.verify(ca.publicKey), 'tls.crt signed with the CA key');
  assert.ok(cert.checkPrivateKey(createPrivateKey(b64(secret.data['tls.key']))), 'tls.key is the certificate\'s key');
  assert.ok(ca.checkPrivateKey(createPrivateKey(b64(secret.data['ca.key']))), 'ca.key is the CA\'s key');
  const names = expectedNames(fullname, maxReplicas);
  assert.deepEqual(dnsSans(cert), names);
  assert.deepEqual(ipSans(cert), ['127.0.0.1', '0:0:0:0:0:0:0:1']);
  for (const n of names) assert.equal(cert.checkHost(n), n, `${n} verifies`);
  assert.equal(cert.checkHost(`${fullname}-${maxReplicas}.${fullname}.${ns}.svc.cluster.local`), undefined, 'no pod beyond maxReplicas');
  assert.equal(cert.checkHost(`other.${fullname}.${ns}.svc.cluster.local`), undefined, 'no wildcard');
  assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
  assert.ok(/TLS Web Server Authentication|1\.3\.6\.1\.5\.5\.7\.3\.1/.test(cert.keyUsage?.join(' ') ?? ''), `server auth: ${cert.keyUsage}`);
  const near = (date, days) => Math.abs(new Date(date).getTime() - (Date.now() + days * day)) < 2 * day;
  assert.ok(near(cert.validTo, validityDays), `tls.crt valid ${validityDays} days: ${cert.validTo}`);
  assert.ok(near(ca.validTo, caValidityDays), `ca.crt valid ${caValidityDays} days: ${ca.validTo}`);
  return { ca, cert };
}

test('default values: the chart makes a CA and the set\'s certificate for every pod up to maxReplicas and the Services', async () => {
  const objects = render();
  assert.deepEqual(await lib.checkObjects(objects), []);
  const secret = lib.one(objects, 'Secret', 'todo-db-tls');
  checkGeneratedSecret(secret);
  assert.equal(lib.byKind(objects, 'Certificate').length, 0);
  checkTlsPlumbing(objects, 'todo-db-tls');
  assert.equal(rawTlsMode(), '0440');
});

test('the names follow fullname, namespace, clusterDomain and maxReplicas', () => {
  const objects = lib.render({ release: 'shop', set: ['maxReplicas=3', 'replicas=3', 'clusterDomain=k8s.example'] });
  const cert = new X509Certificate(b64(lib.one(objects, 'Secret', 'shop-replagent-postgres-tls').data['tls.crt']));
  assert.deepEqual(dnsSans(cert), expectedNames('shop-replagent-postgres', 3, 'k8s.example'));
  checkTlsPlumbing(objects, 'shop-replagent-postgres-tls');
});

test('a new certificate never rolls the pods: no checksum of the TLS Secret on the pod template', () => {
  // Fixed passwords: the password Secret's checksum is on the pod template on purpose. Each
  // render makes a new CA and certificate (no cluster to look up), and the pods must not care.
  const set = ['auth.superuserPassword=a', 'auth.replicationPassword=b', 'auth.monitorPassword=c', 'auth.backupPassword=d'];
  const [one, two] = [render({ set }), render({ set })];
  assert.notEqual(lib.one(one, 'Secret', 'todo-db-tls').data['tls.crt'], lib.one(two, 'Secret', 'todo-db-tls').data['tls.crt']);
  assert.deepEqual(stsOf(one).spec.template, stsOf(two).spec.template);
  const annotations = stsOf(one).spec.template.metadata.annotations;
  assert.deepEqual(Object.keys(annotations).filter((k) => /tls|cert/i.test(k)), []);
});

test('tls.existingSecret: no certificate made, the named Secret mounted', async () => {
  const objects = render({ set: ['tls.existingSecret=todo-db-certs'] });
  assert.deepEqual(await lib.checkObjects(objects), []);
  assert.deepEqual(lib.byKind(objects, 'Secret').map((s) => s.metadata.name), ['todo-db-auth']);
  assert.equal(lib.byKind(objects, 'Certificate').length, 0);
  checkTlsPlumbing(objects, 'todo-db-certs');
});

// cert-manager's Certificate (cert-manager.io/v1) is a CRD: no kubernetes-models schema is
// installed for it, so its field names (the ones the chart may use) and values are spelt out.
const certificateFields = {
  '': ['apiVersion', 'kind', 'metadata', 'spec'],
  metadata: ['name', 'namespace', 'labels', 'annotations'],
  spec: ['secretName', 'secretTemplate', 'commonName', 'dnsNames', 'ipAddresses', 'uris', 'emailAddresses',
    'duration', 'renewBefore', 'usages', 'privateKey', 'issuerRef', 'isCA', 'subject', 'revisionHistoryLimit'],
  'spec.secretTemplate': ['annotations', 'labels'],
  'spec.privateKey': ['rotationPolicy', 'algorithm', 'encoding', 'size'],
  'spec.issuerRef': ['name', 'kind', 'group'],
};
const keyUsages = ['signing', 'digital signature', 'content commitment', 'key encipherment', 'key agreement',
  'data encipherment', 'cert sign', 'crl sign', 'encipher only', 'decipher only', 'any', 'server auth',
  'client auth', 'code signing', 'email protection', 's/mime', 'ipsec end system', 'ipsec tunnel', 'ipsec user',
  'timestamping', 'ocsp signing', 'microsoft sgc', 'netscape sgc'];
function certificateProblems(c) {
  const problems = [];
  const walk = (value, key) => {
    const known = certificateFields[key];
    if (!known || value == null || typeof value !== 'object' || Array.isArray(value)) return;
    for (const [k, v] of Object.entries(value)) {
      if (!known.includes(k)) problems.push(`${key}.${k}: unknown field (known: ${known.join(', ')})`);
      else walk(v, key ? `${key}.${k}` : k);
    }
  };
  walk(c, '');
  const s = c.spec;
  if (typeof s.secretName !== 'string' || !s.secretName) problems.push('spec.secretName: a name');
  for (const f of ['dnsNames', 'ipAddresses', 'usages']) {
    if (!Array.isArray(s[f]) || !s[f].every((x) => typeof x === 'string')) problems.push(`spec.${f}: a list of strings`);
  }
  for (const u of s.usages ?? []) if (!keyUsages.includes(u)) problems.push(`spec.usages: unknown usage ${u}`);
  for (const f of ['duration', 'renewBefore']) {
    if (!/^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$/.test(s[f] ?? '')) problems.push(`spec.${f}: a Go duration, not ${s[f]}`);
  }
  if (!['Never', 'Always'].includes(s.privateKey?.rotationPolicy)) problems.push('spec.privateKey.rotationPolicy: Never or Always');
  if (!s.issuerRef?.name) problems.push('spec.issuerRef.name: required');
  return problems;
}

test('tls.certManager: a Certificate with the same names, no Secret of the chart\'s', async () => {
  const set = ['tls.certManager.enabled=true', 'tls.certManager.issuerRef.name=internal-ca',
    'tls.certManager.issuerRef.kind=ClusterIssuer', 'tls.certManager.duration=720h', 'tls.certManager.renewBefore=240h'];
  const objects = render({ set });
  const cert = lib.one(objects, 'Certificate', 'todo-db');
  assert.equal(cert.apiVersion, 'cert-manager.io/v1');
  assert.deepEqual(certificateProblems(cert), []);
  assert.deepEqual(await lib.checkObjects(objects.filter((o) => o.kind !== 'Certificate')), []);
  assert.deepEqual(lib.byKind(objects, 'Secret').map((s) => s.metadata.name), ['todo-db-auth']);
  assert.equal(cert.metadata.namespace, ns);
  assert.equal(cert.spec.secretName, 'todo-db-tls');
  // The same names as the chart's own certificate (checked against its SANs above).
  assert.deepEqual(cert.spec.dnsNames, expectedNames('todo-db', 8));
  const own = new X509Certificate(b64(lib.one(render(), 'Secret', 'todo-db-tls').data['tls.crt']));
  assert.deepEqual(cert.spec.dnsNames, dnsSans(own));
  assert.deepEqual(cert.spec.ipAddresses, ['127.0.0.1', '::1']);
  assert.deepEqual(cert.spec.issuerRef, { name: 'internal-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' });
  assert.equal(cert.spec.duration, '720h');
  assert.equal(cert.spec.renewBefore, '240h');
  assert.ok(cert.spec.usages.includes('server auth') && cert.spec.usages.includes('client auth'), `usages ${cert.spec.usages}`);
  assert.equal(cert.spec.privateKey.rotationPolicy, 'Always');
  checkTlsPlumbing(objects, 'todo-db-tls');
  assert.ok(certificateProblems({ ...cert, spec: { ...cert.spec, dnsName: [] } }).length > 0, 'the field check catches a misspelling');
});

test('tls.certManager without an issuer, or with existingSecret too, is refused naming the values', () => {
  assert.throws(() => render({ set: ['tls.certManager.enabled=true'] }), /tls\.certManager\.issuerRef\.name is required/);
  assert.throws(() => render({ set: ['tls.certManager.enabled=true', 'tls.certManager.issuerRef.name=ca', 'tls.existingSecret=mine'] }),
    /tls\.existingSecret \(mine\) and tls\.certManager\.enabled/);
  assert.throws(() => render({ set: ['tls.generated.validityDays=4000'] }), /validityDays \(4000\) exceeds tls\.generated\.caValidityDays \(3650\)/);
  assert.throws(() => render({ set: ['tls.generated.validityDays=0'] }), /validityDays/);
  assert.throws(() => render({ set: ['tls.certManager.duration=90d'] }), /duration/);
  assert.throws(() => render({ set: ['tls.secretName=x'] }), /Additional property secretName is not allowed/);
});

test('tls.enabled=false: no certificate, no mount, no TLS keys in replagent.toml', async () => {
  for (const set of [['tls.enabled=false'], ['tls.enabled=false', 'tls.certManager.enabled=true', 'tls.certManager.issuerRef.name=ca']]) {
    const objects = render({ set });
    assert.deepEqual(await lib.checkObjects(objects), []);
    assert.deepEqual(lib.byKind(objects, 'Secret').map((s) => s.metadata.name), ['todo-db-auth'], set.join(' '));
    assert.equal(lib.byKind(objects, 'Certificate').length, 0, set.join(' '));
    for (const c of databaseContainers(objects)) assert.equal(lib.mountAt(c, tlsDir), undefined, `${c.name}: no TLS mount`);
    assert.ok(!stsOf(objects).spec.template.spec.volumes.some((v) => v.name === 'tls'));
    assert.doesNotMatch(tomlOf(objects), /tls_/);
  }
});

// lint_test.mjs lints the default values (the chart's own certificate).
const lintSets = [
  ['tls.existingSecret=todo-db-certs'], ['tls.certManager.enabled=true', 'tls.certManager.issuerRef.name=ca'],
  ['tls.enabled=false'],
];
for (const set of lintSets) {
  test(`helm lint --strict ${set.length ? set.map((s) => `--set ${s}`).join(' ') : '(default values)'}`, (t) => {
    const r = lib.helm(['lint', '--strict', lib.chartDir, ...lib.imageArgs, ...set.flatMap((s) => ['--set', s])]);
    t.diagnostic(r.stdout.trim());
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    assert.doesNotMatch(r.stdout, /\[(WARNING|ERROR)\]/);
  });
}

// --- Upgrades: `lookup` against a stand-in for the API server --------------------------------
// helm template --dry-run=server runs `lookup` against the kubeconfig's cluster: this server
// answers the discovery of v1 and GETs of the Secrets it holds (404 otherwise), like an
// upgrade's lookup on a cluster where the release is installed.
async function withCluster(fn) {
  const secrets = new Map();
  const server = http.createServer((req, res) => {
    const send = (code, body) => { res.writeHead(code, { 'content-type': 'application/json' }); res.end(JSON.stringify(body)); };
    const url = new URL(req.url, 'http://localhost');
    if (url.pathname === '/api/v1') {
      return send(200, { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: 'v1',
        resources: [{ name: 'secrets', singularName: 'secret', namespaced: true, kind: 'Secret', verbs: ['get', 'list'] }] });
    }
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/secrets\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'GET' && m && secrets.has(`${m[1]}/${m[2]}`)) return send(200, secrets.get(`${m[1]}/${m[2]}`));
    send(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const dir = mkdtempSync(path.join(tmpdir(), 'replagent-chart-tls-'));
  const kubeconfig = path.join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, lib.yaml.dump({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'stand-in',
    clusters: [{ name: 'stand-in', cluster: { server: `http://127.0.0.1:${server.address().port}` } }],
    contexts: [{ name: 'stand-in', context: { cluster: 'stand-in', namespace: ns } }],
    users: [{ name: 'nobody', user: {} }],
  }));
  // Asynchronous: this process serves the API while helm runs.
  const env = { PATH: process.env.PATH, HOME: dir, HELM_CACHE_HOME: path.join(dir, 'cache'),
    HELM_CONFIG_HOME: path.join(dir, 'config'), HELM_DATA_HOME: path.join(dir, 'data') };
  const upgrade = (set = []) => new Promise((resolve, reject) => {
    const args = ['template', 't', lib.chartDir, '--namespace', ns, '--dry-run=server', '--kubeconfig', kubeconfig,
      ...lib.imageArgs, '-f', seedValues, ...set.flatMap((s) => ['--set', s])];
    execFile(lib.helmBin, args, { env, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`helm ${args.join(' ')}: ${stderr}`));
      else resolve(lib.yaml.loadAll(stdout).filter((o) => o != null));
    });
  });
  const store = (secret) => secrets.set(`${ns}/${secret.metadata.name}`, secret);
  try {
    await fn({ upgrade, store });
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('upgrades keep the chart\'s CA and certificate; new names or a due renewal re-sign with the same CA', async () => {
  await withCluster(async ({ upgrade, store }) => {
    const installed = lib.one(await upgrade(), 'Secret', 'todo-db-tls');
    checkGeneratedSecret(installed);
    store(installed);

    // An upgrade that changes nothing keeps everything.
    const same = lib.one(await upgrade(['agent.logLevel=debug']), 'Secret', 'todo-db-tls');
    assert.deepEqual(same.data, installed.data);
    assert.deepEqual(same.metadata.annotations, installed.metadata.annotations);

    // More pods: the same CA signs a certificate for the new names.
    const wider = lib.one(await upgrade(['maxReplicas=10']), 'Secret', 'todo-db-tls');
    assert.equal(wider.data['ca.crt'], installed.data['ca.crt']);
    assert.equal(wider.data['ca.key'], installed.data['ca.key']);
    assert.notEqual(wider.data['tls.crt'], installed.data['tls.crt']);
    assert.notEqual(wider.data['tls.key'], installed.data['tls.key']);
    const { ca, cert } = checkGeneratedSecret(wider, { maxReplicas: 10 });
    assert.ok(cert.verify(new X509Certificate(b64(installed.data['ca.crt'])).publicKey), 'signed by the installed CA');
    assert.equal(ca.fingerprint256, new X509Certificate(b64(installed.data['ca.crt'])).fingerprint256);

    // A renewal date passed: re-signed by the same CA, with a later renewal date.
    store({ ...installed, metadata: { ...installed.metadata,
      annotations: { ...installed.metadata.annotations, 'replagent.io/tls-renew-after': '2001-01-01T00:00:00Z' } } });
    const renewed = lib.one(await upgrade(), 'Secret', 'todo-db-tls');
    assert.equal(renewed.data['ca.crt'], installed.data['ca.crt']);
    assert.notEqual(renewed.data['tls.crt'], installed.data['tls.crt']);
    checkGeneratedSecret(renewed);
    assert.ok(new Date(renewed.metadata.annotations['replagent.io/tls-renew-after']) > new Date(), 'next renewal in the future');

    // The Secret lost its CA key (edited by hand): a new CA, rather than a certificate nobody signed.
    const { 'ca.key': _, ...noKey } = installed.data;
    store({ ...installed, data: noKey });
    const fresh = lib.one(await upgrade(), 'Secret', 'todo-db-tls');
    assert.notEqual(fresh.data['ca.crt'], installed.data['ca.crt']);
    checkGeneratedSecret(fresh);
  });
});
