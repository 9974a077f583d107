// helm template with the default values and each value set in test/chart/values/: every object
// valid against the Kubernetes schemas, no unknown field names, and the pod anatomy of
// shared/DESIGN.md in the rendered content. Bad values (test/chart/values/bad/) are rejected.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'node:test';
import * as lib from './lib.mjs';

// Every render here passes the seed's values first (examples/todo-db.yaml: the names todo-db,
// todo-db-rw, ... these expectations use); names_test.mjs checks the default names, which
// follow the release.
const seedValues = path.join(lib.chartDir, 'examples/todo-db.yaml');
const render = (opts = {}) => lib.render({ ...opts, files: [seedValues, ...(opts.files ?? [])] });

const bin = '/usr/local/bin/replagent';
const dataMount = '/var/lib/postgresql/data';
const configPath = '/etc/replagent/replagent.toml';
const secretDir = '/etc/replagent/secrets';

// What each value set must render to.
const defaults = {
  replicas: 2, readiness: 'exec', secretName: 'todo-db-auth', renderedSecret: true,
  superuserKey: 'superuser-password', replicationKey: 'replication-password',
  monitorKey: 'monitor-password', backupKey: 'backup-password',
  schedule: '30 2 * * *', suspend: false, ttl: 86400, claim: 'todo-db-backup', renderedClaim: true,
  podMonitor: false, prometheusRule: false, storageClass: undefined, size: '8Gi', retention: undefined,
  maxLag: '1GiB', restoreCheck: false, restoreSchedule: '30 3 * * *', restoreSuspend: false, tmpSize: '2Gi',
  networkPolicy: false, tlsSecret: true,
};
const image = `${lib.testImage}:0.1.0`;
const valueSets = [
  { name: 'default values', files: [], expect: {} },
  { name: '3 replicas + PodMonitor', files: ['three-replicas-podmonitor.yaml'],
    expect: { replicas: 3, podMonitor: true, prometheusRule: true, storageClass: 'fast-ssd', size: '5Gi',
      retention: { whenDeleted: 'Retain', whenScaled: 'Delete' }, maxLag: '64MB' } },
  { name: 'existingSecret', files: ['existing-secret.yaml'],
    expect: { secretName: 'todo-db-credentials', renderedSecret: false,
      superuserKey: 'postgres-password', replicationKey: 'replicator-password',
      monitorKey: 'exporter-password', backupKey: 'dump-password' } },
  { name: 'HTTP probes', files: ['http-probes.yaml'], expect: { readiness: 'http', statusToken: 'todo-db-status-token' } },
  { name: 'backup suspended', files: ['backup-suspended.yaml'],
    expect: { suspend: true, schedule: '15 */6 * * *', ttl: 3600, claim: 'todo-db-backups-nfs', renderedClaim: false } },
  { name: 'restore check', files: ['restore-check.yaml'],
    expect: { restoreCheck: true, restoreSchedule: '0 5 * * 0', tmpSize: '8Gi' } },
  { name: 'NetworkPolicy', files: ['network-policy.yaml'], expect: { networkPolicy: true, restoreCheck: true } },
];

const podSpecOf = (o) => (o.kind === 'CronJob' ? o.spec.jobTemplate.spec.template.spec : o.spec.template.spec);
const podLabelsOf = (o) => (o.kind === 'CronJob' ? o.spec.jobTemplate.spec.template.metadata.labels : o.spec.template.metadata.labels);
const container = (spec, name, init = false) => {
  const c = (init ? spec.initContainers : spec.containers)?.find((x) => x.name === name);
  assert.ok(c, `${init ? 'init ' : ''}container ${name}`);
  return c;
};

function checkPodBasics(owner) {
  const spec = podSpecOf(owner);
  const where = `${owner.kind}/${owner.metadata.name}`;
  // Non-root as the postgres image's uid; fsGroup so every container reads volumes and secrets.
  assert.equal(spec.securityContext.runAsNonRoot, true, `${where} runAsNonRoot`);
  assert.equal(spec.securityContext.runAsUser, 999, `${where} runAsUser`);
  assert.equal(spec.securityContext.fsGroup, 999, `${where} fsGroup`);
  const volumes = new Set([...(spec.volumes ?? []).map((v) => v.name),
    ...(owner.spec.volumeClaimTemplates ?? []).map((v) => v.metadata.name)]);
  for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
    assert.equal(c.securityContext?.allowPrivilegeEscalation, false, `${where} ${c.name} allowPrivilegeEscalation`);
    assert.deepEqual(c.securityContext?.capabilities?.drop, ['ALL'], `${where} ${c.name} drops capabilities`);
    for (const m of c.volumeMounts ?? []) assert.ok(volumes.has(m.name), `${where} ${c.name}: mount of unknown volume ${m.name}`);
  }
  // One image for every container (PostgreSQL with replagent inside): no install container,
  // no shared binary volume, nothing left to an entrypoint script.
  for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
    assert.equal(c.image, image, `${where} ${c.name} image`);
    assert.notEqual(c.name, 'install', `${where}: no install container`);
  }
  assert.ok(!(spec.volumes ?? []).some((v) => v.name === 'replagent-bin'), `${where}: no replagent-bin volume`);
  return spec;
}

// Every container that runs replagent from the postgres image: the agent, config and secrets
// mounted, /tmp and the socket directory on emptyDirs, identity from the downward API.
function checkAgentContainer(spec, c, { readOnly = true } = {}) {
  assert.equal(lib.mountAt(c, configPath)?.name, 'config', `${c.name}: config at ${configPath}`);
  for (const dir of ['/tmp', '/var/run/postgresql']) {
    const m = lib.mountAt(c, dir);
    assert.ok(m && spec.volumes.find((v) => v.name === m.name).emptyDir, `${c.name}: ${dir} on an emptyDir`);
  }
  assert.equal(c.securityContext.readOnlyRootFilesystem, readOnly, `${c.name}: readOnlyRootFilesystem`);
  assert.equal(lib.envOf(c, 'POD_NAME')?.valueFrom?.fieldRef?.fieldPath, 'metadata.name', `${c.name}: POD_NAME`);
  assert.equal(lib.envOf(c, 'POD_NAMESPACE')?.valueFrom?.fieldRef?.fieldPath, 'metadata.namespace', `${c.name}: POD_NAMESPACE`);
}

// Each container mounts only the passwords of the roles it uses (least privilege): one volume
// per role, the Secret's key at <secretDir>/<role>/password, named to replagent by the
// environment (REPLAGENT_POSTGRES_<ROLE>_PASSWORD_FILE).
const allRoles = ['superuser', 'replication', 'monitor', 'backup'];
function checkSecrets(spec, c, roles, e) {
  const keys = { superuser: e.superuserKey, replication: e.replicationKey, monitor: e.monitorKey, backup: e.backupKey };
  for (const role of allRoles) {
    const dir = `${secretDir}/${role}`;
    const m = lib.mountAt(c, dir);
    const env = lib.envOf(c, `REPLAGENT_POSTGRES_${role.toUpperCase()}_PASSWORD_FILE`);
    if (!roles.includes(role)) {
      assert.equal(m, undefined, `${c.name}: must not mount the ${role} password`);
      assert.equal(env, undefined, `${c.name}: must not name the ${role} password`);
      continue;
    }
    assert.equal(m?.readOnly, true, `${c.name}: ${role} password mounted read-only at ${dir}`);
    assert.equal(env?.value, `${dir}/password`, `${c.name}: ${role} password file`);
    const vol = spec.volumes.find((v) => v.name === m.name)?.secret;
    assert.equal(vol?.secretName, e.secretName, `${c.name}: ${role} from ${e.secretName}`);
    assert.deepEqual(vol.items, [{ key: keys[role], path: 'password' }]);
  }
  assert.ok(!(c.volumeMounts ?? []).some((m) => m.mountPath === secretDir), `${c.name}: no mount of every secret`);
}

// The text of one [section] of a TOML document.
const tomlSection = (toml, name) => (toml.split(/^(?=\[)/m).find((s) => s.startsWith(`[${name}]`)) ?? '');

// PGDATA is a subdirectory of the data volume's mount (never the mount itself: lost+found),
// and the same path in every container: init writes primary_conninfo with a passfile inside
// PGDATA, which the postgres container's server must find at the same path.
function checkPgdata(c) {
  const pgdata = lib.envOf(c, 'PGDATA')?.value;
  const m = c.volumeMounts.find((x) => x.name === 'data');
  assert.ok(m, `${c.name}: data volume mounted`);
  assert.equal(m.mountPath, dataMount, `${c.name}: data mount`);
  assert.equal(pgdata, `${dataMount}/pgdata`, `${c.name}: PGDATA`);
  assert.ok(pgdata.startsWith(m.mountPath + '/') && pgdata !== m.mountPath, `${c.name}: PGDATA below the mount`);
  return m;
}

// The rendered replagent.toml is accepted by replagent itself (unknown keys are errors there).
function checkToml(configMap, e) {
  const toml = configMap.data['replagent.toml'];
  // No password file in the shared config: each container names only its own (checkSecrets).
  assert.doesNotMatch(toml, /password_file/);
  assert.match(tomlSection(toml, 'postgres'), /monitor_user = "replagent_monitor"/);
  assert.match(tomlSection(toml, 'postgres'), /backup_user = "replagent_backup"/);
  assert.match(tomlSection(toml, 'postgres'), /superuser_network_login = false/);
  if (!lib.binary) return;
  const dir = mkdtempSync(path.join(tmpdir(), 'replagent-chart-toml-'));
  try {
    writeFileSync(path.join(dir, 'replagent.toml'), toml);
    writeFileSync(path.join(dir, 'su'), 'x\n', { mode: 0o600 });
    writeFileSync(path.join(dir, 'repl'), 'y\n', { mode: 0o600 });
    // The password files live in the pod; here the environment (which outranks the file)
    // points them at local ones.
    const out = lib.run(lib.binary, ['--config', path.join(dir, 'replagent.toml'), 'config'], {
      env: { PATH: process.env.PATH, POD_NAME: 'todo-db-1', POD_NAMESPACE: 'default', PGDATA: `${dataMount}/pgdata`,
        REPLAGENT_POSTGRES_SUPERUSER_PASSWORD_FILE: path.join(dir, 'su'),
        REPLAGENT_POSTGRES_REPLICATION_PASSWORD_FILE: path.join(dir, 'repl'),
        REPLAGENT_POSTGRES_MONITOR_PASSWORD_FILE: path.join(dir, 'repl'),
        REPLAGENT_POSTGRES_BACKUP_PASSWORD_FILE: path.join(dir, 'repl') },
    });
    assert.match(out, /service = 'todo-db'/);
    assert.match(out, new RegExp(`max_lag = '${e.maxLag}'`));
    assert.match(out, /listen = '0\.0\.0\.0:9187'/);
    assert.match(out, /superuser_password = '\[redacted\]'/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const set of valueSets) {
  const e = { ...defaults, ...set.expect };
  test(`${set.name}: renders, valid against the Kubernetes schemas, no unknown fields`, async (t) => {
    const objects = render({ files: set.files });
    const problems = await lib.checkObjects(objects);
    assert.deepEqual(problems, [], problems.join('\n'));

    const kinds = objects.map((o) => o.kind).sort();
    t.diagnostic(`kinds: ${kinds.join(', ')}`);
    const expectKinds = ['ConfigMap', 'ConfigMap', 'ConfigMap', 'CronJob', ...(e.restoreCheck ? ['CronJob'] : []), 'PodDisruptionBudget', 'Service', 'Service',
      'Service', 'Service', 'StatefulSet', 'ServiceAccount', 'Role', 'RoleBinding', ...(e.renderedSecret ? ['Secret'] : []), ...(e.tlsSecret ? ['Secret'] : []),
      ...(e.renderedClaim ? ['PersistentVolumeClaim'] : []), ...(e.podMonitor ? ['PodMonitor'] : []),
      ...(e.prometheusRule ? ['PrometheusRule'] : []), ...(e.networkPolicy ? ['NetworkPolicy'] : [])].sort();
    assert.deepEqual(kinds, expectKinds);
    assert.ok(objects.every((o) => o.metadata.namespace === lib.namespace), 'every object in the release namespace');
    checkEveryPod(objects);

    // --- StatefulSet -------------------------------------------------------------------------
    const sts = lib.one(objects, 'StatefulSet', 'todo-db');
    assert.equal(sts.spec.serviceName, 'todo-db');
    // Parallel: the agent sequences the set; OrderedReady deadlocks with primaryOrdinal > 0.
    assert.equal(sts.spec.podManagementPolicy, 'Parallel');
    assert.equal(sts.spec.replicas, e.replicas);
    assert.ok(lib.matches(sts.spec.selector.matchLabels, sts.spec.template.metadata.labels), 'selector matches the pods');
    assert.deepEqual(sts.spec.persistentVolumeClaimRetentionPolicy, e.retention);
    const [vct] = sts.spec.volumeClaimTemplates;
    assert.equal(vct.metadata.name, 'data');
    assert.equal(vct.spec.resources.requests.storage, e.size);
    assert.equal(vct.spec.storageClassName, e.storageClass);

    const spec = checkPodBasics(sts);
    assert.deepEqual(spec.initContainers.map((c) => c.name), ['init'], 'init containers');
    assert.deepEqual(spec.containers.map((c) => c.name), ['postgres', 'replagent']);
    const init = container(spec, 'init', true);
    assert.deepEqual([...init.command, ...(init.args ?? [])], [bin, 'init']);
    checkAgentContainer(spec, init);
    checkPgdata(init);

    const pg = container(spec, 'postgres');
    // The server itself, explicitly: nothing depends on an image's entrypoint script.
    assert.deepEqual(pg.command, ['postgres']);
    assert.equal(pg.args, undefined);
    checkAgentContainer(spec, pg);
    checkPgdata(pg);
    assert.equal(pg.ports.find((p) => p.name === 'postgres')?.containerPort, 5432);
    assert.equal(pg.livenessProbe, undefined, 'no liveness on postgres: replay or start-up must not get it killed');
    if (e.readiness === 'exec') {
      assert.deepEqual(pg.readinessProbe.exec.command, [bin, 'probe', 'ready']);
      assert.equal(pg.readinessProbe.httpGet, undefined);
    } else {
      // The number: the name "metrics" is the sidecar's port, unknown to the postgres container.
      assert.deepEqual(pg.readinessProbe.httpGet, { path: '/readyz', port: 9187 });
      assert.equal(pg.readinessProbe.exec, undefined);
    }
    assert.match(pg.lifecycle.preStop.exec.command.join(' '), /pg_ctl stop .* -m fast/);

    const side = container(spec, 'replagent');
    assert.deepEqual([...side.command, ...(side.args ?? [])], [bin, 'sidecar']);
    assert.equal(side.ports.find((p) => p.name === 'metrics')?.containerPort, 9187);
    assert.deepEqual(side.livenessProbe.httpGet, { path: '/healthz', port: 'metrics' });
    assert.equal(side.securityContext.readOnlyRootFilesystem, true);
    assert.equal(checkPgdata(side).readOnly, true, 'the sidecar mounts the data volume read-only');
    assert.equal(lib.mountAt(side, configPath)?.name, 'config');

    // --- Config and secrets --------------------------------------------------------------------
    const cm = lib.one(objects, 'ConfigMap', 'todo-db-config');
    assert.equal(spec.volumes.find((v) => v.name === 'config').configMap.name, cm.metadata.name);
    checkToml(cm, e);
    checkSecrets(spec, container(spec, 'init', true), allRoles, e);
    // The probe and the sidecar reach their server over the socket by peer authentication
    // (no password for health); the sidecar holds the files the primary's password sync
    // applies (never the superuser's); the socket directory is the postgres container's.
    checkSecrets(spec, container(spec, 'postgres'), [], e);
    checkSecrets(spec, container(spec, 'replagent'), ['replication', 'monitor', 'backup'], e);
    for (const name of ['postgres', 'replagent']) {
      const c = container(spec, name);
      assert.equal(lib.envOf(c, 'REPLAGENT_POSTGRES_HOST')?.value, '/var/run/postgresql', `${name}: the socket`);
      assert.equal(lib.mountAt(c, '/var/run/postgresql')?.name, 'run', `${name}: the shared socket directory`);
    }
    // A changed chart-made Secret rolls the pods (replicas first); an existingSecret cannot.
    const annotations = sts.spec.template.metadata.annotations ?? {};
    assert.equal('checksum/secret' in annotations, e.renderedSecret, 'checksum/secret only for the chart-made Secret');
    // agent.statusToken: the sidecar alone reads the /status bearer token, from its own Secret.
    const tokenFile = lib.envOf(container(spec, 'replagent'), 'REPLAGENT_SIDECAR_STATUS_TOKEN_FILE');
    if (e.statusToken) {
      assert.equal(tokenFile?.value, `${secretDir}/status-token/token`);
      const m = lib.mountAt(container(spec, 'replagent'), `${secretDir}/status-token`);
      assert.equal(spec.volumes.find((v) => v.name === m?.name)?.secret?.secretName, e.statusToken);
    } else {
      assert.equal(tokenFile, undefined);
    }
    for (const c of [...spec.initContainers, ...spec.containers].filter((x) => x.name !== 'replagent')) {
      assert.equal(lib.envOf(c, 'REPLAGENT_SIDECAR_STATUS_TOKEN_FILE'), undefined, `${c.name}: no status token`);
    }
    if (e.renderedSecret) {
      const secret = lib.one(objects, 'Secret', e.secretName);
      assert.deepEqual(Object.keys(secret.data).sort(),
        [e.replicationKey, e.superuserKey, e.monitorKey, e.backupKey].sort());
      for (const v of Object.values(secret.data)) assert.ok(Buffer.from(v, 'base64').length >= 16, 'generated password');
    } else {
      // The TLS one (tls_test.mjs) is the only Secret left.
      assert.deepEqual(lib.byKind(objects, 'Secret').map((o) => o.metadata.name), e.tlsSecret ? ['todo-db-tls'] : [],
        'no password Secret with existingSecret');
    }

    // --- Services ------------------------------------------------------------------------------
    const podLabels = sts.spec.template.metadata.labels;
    const headless = lib.one(objects, 'Service', 'todo-db');
    assert.equal(headless.spec.clusterIP, 'None');
    assert.equal(headless.spec.publishNotReadyAddresses, true);
    assert.deepEqual(headless.spec.selector, sts.spec.selector.matchLabels);
    const rw = lib.one(objects, 'Service', 'todo-db-rw');
    assert.deepEqual(rw.spec.selector, { ...sts.spec.selector.matchLabels, 'statefulset.kubernetes.io/pod-name': 'todo-db-0' });
    // -ro: the replicas only, by the role label each sidecar sets on its pod; -r: every ready pod.
    const ro = lib.one(objects, 'Service', 'todo-db-ro');
    assert.deepEqual(ro.spec.selector, { ...sts.spec.selector.matchLabels, 'replagent.io/role': 'replica' });
    assert.notEqual(ro.spec.publishNotReadyAddresses, true, '-ro only routes to ready pods');
    const r = lib.one(objects, 'Service', 'todo-db-r');
    assert.deepEqual(r.spec.selector, sts.spec.selector.matchLabels);
    assert.notEqual(r.spec.publishNotReadyAddresses, true, '-r only routes to ready pods');
    const ports = new Set(spec.containers.flatMap((c) => c.ports.map((p) => p.name)));
    for (const svc of [headless, rw, ro, r]) {
      for (const p of svc.spec.ports) assert.ok(ports.has(p.targetPort), `${svc.metadata.name}: targetPort ${p.targetPort}`);
      const { 'statefulset.kubernetes.io/pod-name': _, 'replagent.io/role': __, ...rest } = svc.spec.selector;
      assert.ok(lib.matches(rest, podLabels), `${svc.metadata.name} selects the database pods`);
    }
    const pdb = lib.one(objects, 'PodDisruptionBudget');
    assert.deepEqual(pdb.spec.selector.matchLabels, sts.spec.selector.matchLabels);

    // --- Backup CronJob --------------------------------------------------------------------------
    const cron = lib.one(objects, 'CronJob', 'todo-db-backup');
    assert.equal(cron.apiVersion, 'batch/v1');
    assert.equal(cron.spec.schedule, e.schedule);
    assert.equal(cron.spec.suspend, e.suspend);
    assert.equal(cron.spec.concurrencyPolicy, 'Forbid');
    assert.equal(cron.spec.jobTemplate.spec.ttlSecondsAfterFinished, e.ttl);
    const jobSpec = checkPodBasics(cron);
    assert.equal(jobSpec.restartPolicy, 'Never');
    assert.equal(jobSpec.initContainers, undefined, 'the backup Job has no init container');
    const backup = container(jobSpec, 'backup');
    assert.deepEqual([...backup.command, ...(backup.args ?? [])], [bin, 'backup']);
    checkAgentContainer(jobSpec, backup);
    checkSecrets(jobSpec, backup, ['backup'], e);
    assert.equal(lib.envOf(backup, 'REPLAGENT_POD_SERVICE')?.value, 'todo-db', 'a Job names the set through pod.service');
    // backup.* settings come from their own ConfigMap, never from replagent.toml, whose
    // checksum is on the StatefulSet: a backup setting must not restart the database.
    const backupConfig = lib.one(objects, 'ConfigMap', 'todo-db-backup');
    assert.deepEqual(backup.envFrom, [{ configMapRef: { name: backupConfig.metadata.name } }]);
    assert.equal(backupConfig.data.REPLAGENT_BACKUP_DIR, '/backup');
    assert.equal(backupConfig.data.REPLAGENT_BACKUP_DATABASE, 'postgres');
    assert.equal(tomlSection(lib.one(objects, 'ConfigMap', 'todo-db-config').data['replagent.toml'], 'backup'), '',
      'no [backup] in replagent.toml');
    const backupVol = jobSpec.volumes.find((v) => v.name === lib.mountAt(backup, '/backup')?.name);
    assert.equal(backupVol?.persistentVolumeClaim?.claimName, e.claim);
    if (e.renderedClaim) {
      const pvc = lib.one(objects, 'PersistentVolumeClaim', e.claim);
      assert.equal(pvc.metadata.annotations['helm.sh/resource-policy'], 'keep');
    }
    // Backup pods are never mistaken for database pods by a Service or the PDB.
    for (const sel of [headless.spec.selector, ro.spec.selector, pdb.spec.selector.matchLabels]) {
      assert.ok(!lib.matches(sel, podLabelsOf(cron)), 'a Service selects the backup pod');
    }

    // --- Restore-check CronJob (backup.restoreCheck) -----------------------------------------------
    const restoreCrons = lib.byKind(objects, 'CronJob').filter((o) => o.metadata.name === 'todo-db-restore-check');
    if (!e.restoreCheck) {
      assert.equal(restoreCrons.length, 0, 'no restore-check CronJob unless backup.restoreCheck.enabled');
    } else {
      const rc = lib.one(objects, 'CronJob', 'todo-db-restore-check');
      assert.equal(rc.spec.schedule, e.restoreSchedule);
      assert.equal(rc.spec.suspend, e.restoreSuspend);
      assert.equal(rc.spec.concurrencyPolicy, 'Forbid');
      assert.equal(rc.spec.jobTemplate.spec.ttlSecondsAfterFinished, e.ttl);
      assert.equal(podLabelsOf(rc)['app.kubernetes.io/component'], 'restore-check');
      const rcSpec = checkPodBasics(rc);
      assert.equal(rcSpec.restartPolicy, 'Never');
      assert.equal(rcSpec.initContainers, undefined, 'the restore check has no init container');
      const check = container(rcSpec, 'restore-check');
      assert.deepEqual([...check.command, ...(check.args ?? [])], [bin, 'backup', '--verify-restore']);
      checkAgentContainer(rcSpec, check);
      checkSecrets(rcSpec, check, [], e);
      assert.equal(lib.envOf(check, 'REPLAGENT_POD_SERVICE')?.value, 'todo-db');
      // The restore goes into $TMPDIR: /tmp, an emptyDir sized by backup.restoreCheck.tmpSize.
      assert.equal(lib.envOf(check, 'TMPDIR')?.value, '/tmp');
      const tmpVol = rcSpec.volumes.find((v) => v.name === lib.mountAt(check, '/tmp')?.name);
      assert.equal(tmpVol?.emptyDir?.sizeLimit, e.tmpSize, '/tmp emptyDir sized by tmpSize');
      // The same backup volume as the backup's, read-only (--verify-restore takes no lock, writes nothing).
      const m = lib.mountAt(check, '/backup');
      assert.equal(m?.readOnly, true, '/backup mounted read-only');
      const rcBackupVol = rcSpec.volumes.find((v) => v.name === m.name);
      assert.equal(rcBackupVol?.persistentVolumeClaim?.claimName, e.claim);
      assert.equal(rcBackupVol.persistentVolumeClaim.readOnly, true);
      // Same config as the backup pods (one rendered replagent.toml).
      assert.equal(rcSpec.volumes.find((v) => v.name === 'config').configMap.name, 'todo-db-config');
      assert.equal(rc.spec.jobTemplate.spec.template.metadata.annotations['checksum/config'],
        cron.spec.jobTemplate.spec.template.metadata.annotations['checksum/config']);
      for (const sel of [headless.spec.selector, ro.spec.selector, pdb.spec.selector.matchLabels]) {
        assert.ok(!lib.matches(sel, podLabelsOf(rc)), 'a Service selects the restore-check pod');
      }
    }

    // --- Monitoring ------------------------------------------------------------------------------
    if (e.podMonitor) {
      const pm = lib.one(objects, 'PodMonitor');
      assert.ok(lib.matches(pm.spec.selector.matchLabels, podLabels), 'PodMonitor selects the database pods');
      assert.ok(!lib.matches(pm.spec.selector.matchLabels, podLabelsOf(cron)), 'PodMonitor skips backup pods');
      for (const rc of restoreCrons) assert.ok(!lib.matches(pm.spec.selector.matchLabels, podLabelsOf(rc)));
      assert.ok(ports.has(pm.spec.podMetricsEndpoints[0].port));
      assert.equal(pm.spec.podMetricsEndpoints[0].path, '/metrics');
    }
    const dash = lib.one(objects, 'ConfigMap', 'todo-db-dashboard');
    assert.equal(dash.metadata.labels.grafana_dashboard, '1');
    JSON.parse(dash.data['todo-db.json']);

    // --- NetworkPolicy (networkPolicy.enabled) ---------------------------------------------------
    if (!e.networkPolicy) {
      assert.equal(lib.byKind(objects, 'NetworkPolicy').length, 0, 'no NetworkPolicy unless networkPolicy.enabled');
    } else {
      const np = lib.one(objects, 'NetworkPolicy', 'todo-db');
      const values = lib.yaml.load(readFileSync(path.join(lib.valuesDir, 'network-policy.yaml'), 'utf8')).networkPolicy;
      const jobs = lib.byKind(objects, 'CronJob');
      checkNetworkPolicy(np, { sts, jobs, allowedClients: values.allowedClients, metricsFrom: values.metricsFrom });
      // These clients do not include every pod of the namespace: the restore check (which
      // needs no server of the set) and the database pods themselves stay off the metrics port.
      assert.ok(!admits(np, podLabelsOf(lib.one(objects, 'CronJob', 'todo-db-restore-check')), 5432), 'restore check admitted');
      assert.ok(!admits(np, podLabels, 9187), 'database pods admitted to the metrics port');
      assert.ok(admits(np, { app: 'todo' }, 5432), 'the app admitted');
      assert.ok(!admits(np, { app: 'todo' }, 9187), 'the app admitted to the metrics port');
    }
  });
}

// Checks every pod the chart renders, whatever makes it (StatefulSet, CronJobs): no Service
// environment variables and no API token, and every probe's port reachable.
function checkEveryPod(objects) {
  const pods = lib.podSpecs(objects);
  assert.ok(pods.length >= 2, 'pod templates found');
  for (const { where, spec } of pods) {
    // The kubelet injects <SERVICE>_SERVICE_HOST/_PORT* for every Service of the namespace
    // unless told not to (look-alike REPLAGENT_* settings). No container gets the API token
    // but the database pods' sidecar (the role label, role_label_test.mjs).
    assert.equal(spec.enableServiceLinks, false, `${where}: enableServiceLinks`);
    assert.equal(spec.automountServiceAccountToken, false, `${where}: automountServiceAccountToken`);
    const tokenVolumes = (spec.volumes ?? []).filter((v) => v.projected?.sources?.some((s) => s.serviceAccountToken))
      .map((v) => v.name);
    for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
      const mounted = (c.volumeMounts ?? []).filter((m) => tokenVolumes.includes(m.name));
      if (c.name !== 'replagent' || !where.startsWith('StatefulSet')) assert.deepEqual(mounted, [], `${where}/${c.name}: mounts the API token`);
    }
  }
  const problems = lib.probePortProblems(objects);
  assert.deepEqual(problems, [], problems.join('\n'));
}

// Whether a NetworkPolicy admits a pod of the release's namespace with these labels on this
// port (peers with a namespaceSelector or an ipBlock are other namespaces' or networks').
function admits(np, labels, port) {
  return np.spec.ingress.some((r) => (r.ports ?? []).some((p) => p.port === port) &&
    (r.from ?? []).some((peer) => peer.podSelector && !peer.namespaceSelector && !peer.ipBlock &&
      !peer.podSelector.matchExpressions && lib.matches(peer.podSelector.matchLabels ?? {}, labels)));
}

// The policy selects the database pods only; PostgreSQL's port admits the set's pods, the
// backup Job's pods and allowedClients; the sidecar's port metricsFrom only.
function checkNetworkPolicy(np, { sts, jobs, allowedClients, metricsFrom }) {
  const podLabels = sts.spec.template.metadata.labels;
  assert.deepEqual(np.spec.policyTypes, ['Ingress'], 'ingress only');
  assert.deepEqual(np.spec.podSelector.matchLabels, sts.spec.selector.matchLabels, 'selects the database pods');
  for (const j of jobs) assert.ok(!lib.matches(np.spec.podSelector.matchLabels, podLabelsOf(j)), `applies to ${j.metadata.name}'s pods`);
  const spec = podSpecOf(sts);
  const pgPort = container(spec, 'postgres').ports.find((p) => p.name === 'postgres').containerPort;
  const metricsPort = container(spec, 'replagent').ports.find((p) => p.name === 'metrics').containerPort;
  assert.deepEqual(np.spec.ingress.map((r) => r.ports), [[{ protocol: 'TCP', port: pgPort }], [{ protocol: 'TCP', port: metricsPort }]]);
  const [pg, metrics] = np.spec.ingress;
  assert.ok(admits(np, podLabels, pgPort), 'the set reaches PostgreSQL (replication)');
  const backup = jobs.find((j) => j.metadata.name === 'todo-db-backup');
  assert.ok(backup && admits(np, podLabelsOf(backup), pgPort), 'the backup Job reaches PostgreSQL');
  assert.deepEqual(pg.from.slice(2), allowedClients, 'then networkPolicy.allowedClients');
  assert.deepEqual(metrics.from, metricsFrom, 'the metrics port: networkPolicy.metricsFrom');
}

// The defaults keep applications working: any pod of the namespace reaches PostgreSQL; the
// metrics port is for the namespace named monitoring.
test('NetworkPolicy with default values: any pod of the namespace, metrics from "monitoring"', async () => {
  const objects = render({ set: ['networkPolicy.enabled=true'] });
  assert.deepEqual(await lib.checkObjects(objects), []);
  const np = lib.one(objects, 'NetworkPolicy', 'todo-db');
  checkNetworkPolicy(np, { sts: lib.one(objects, 'StatefulSet'), jobs: lib.byKind(objects, 'CronJob'),
    allowedClients: [{ podSelector: {} }],
    metricsFrom: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }] });
  assert.ok(admits(np, { app: 'anything' }, 5432));
  // Empty lists: only the set and its backups reach PostgreSQL, nobody the metrics port.
  const closed = lib.one(render({ set: ['networkPolicy.enabled=true'],
    setJson: ['networkPolicy.allowedClients=[]', 'networkPolicy.metricsFrom=[]'] }), 'NetworkPolicy');
  assert.equal(closed.spec.ingress.length, 1);
  assert.equal(closed.spec.ingress[0].from.length, 2);
  assert.ok(!admits(closed, { app: 'anything' }, 5432));
});

// The probe-port check catches the review's finding (an HTTP readiness probe on the postgres
// container naming the sidecar's port) and a port no container declares.
test('the probe-port check catches a named port of another container', () => {
  const objects = render({ files: ['http-probes.yaml'] });
  assert.deepEqual(lib.probePortProblems(objects), []);
  const sts = lib.one(objects, 'StatefulSet');
  const pg = sts.spec.template.spec.containers.find((c) => c.name === 'postgres');
  pg.readinessProbe.httpGet.port = 'metrics';
  pg.lifecycle.preStop = { tcpSocket: { port: 1234 } };
  const problems = lib.probePortProblems(objects);
  assert.equal(problems.length, 2, problems.join('\n'));
  assert.match(problems[0], /container postgres readinessProbe\.httpGet\.port "metrics": no port of that name in this container \(has: postgres\)/);
  assert.match(problems[1], /preStop\.tcpSocket\.port 1234: no container of the pod declares it/);
});

// terminationGracePeriodSeconds counts the preStop hook: pg_ctl's timeout must end before it,
// and the default leaves a large shutdown checkpoint more than a minute.
test('preStop pg_ctl stop timeout stays below terminationGracePeriodSeconds', () => {
  const stopOf = (set) => {
    const spec = lib.one(render({ set }), 'StatefulSet').spec.template.spec;
    const cmd = container(spec, 'postgres').lifecycle.preStop.exec.command.join(' ');
    const m = /pg_ctl stop .*-m fast .*-t (\d+)/.exec(cmd);
    assert.ok(m, `pg_ctl stop -m fast -t N in ${cmd}`);
    return { grace: spec.terminationGracePeriodSeconds, timeout: Number(m[1]) };
  };
  const d = stopOf([]);
  assert.ok(d.grace >= 120, `default grace ${d.grace}s leaves a shutdown checkpoint too little time`);
  for (const { grace, timeout } of [d, stopOf(['terminationGracePeriodSeconds=600']), stopOf(['terminationGracePeriodSeconds=15'])]) {
    assert.ok(timeout > 0 && timeout < grace, `pg_ctl -t ${timeout} within the grace period ${grace}`);
  }
  assert.equal(stopOf(['terminationGracePeriodSeconds=600']).grace, 600);
  assert.ok(d.timeout >= 100, `default pg_ctl timeout ${d.timeout}s`);
});

// The agent image is published nowhere: without image.repository the chart refuses to render
// and says how to build and push it.
test('rendering without image.repository fails with how to build and push the image', () => {
  const r = lib.helm(['template', 't', lib.chartDir]);
  assert.notEqual(r.status, 0, 'rendered without image.repository');
  assert.match(r.stderr, /image\.repository is required/);
  assert.match(r.stderr, /scripts\/image/);
  assert.match(r.stderr, /docker build -f docker\/Dockerfile/);
  assert.match(r.stderr, /--set image\.repository=/);
  // Named, it is used with the chart's appVersion unless image.tag says otherwise.
  const sts = lib.one(render({ image: false, set: ['image.repository=reg.example/ra', 'image.tag=1.2'] }), 'StatefulSet');
  assert.equal(sts.spec.template.spec.initContainers[0].image, 'reg.example/ra:1.2');
});

// Optional settings reach replagent.toml only when set (an unset one keeps replagent's default).
test('optional agent settings are rendered into replagent.toml only when set', () => {
  const toml = (set) => lib.one(render({ set }), 'ConfigMap', 'todo-db-config').data['replagent.toml'];
  const plain = toml([]);
  assert.doesNotMatch(plain, /max_age|max_rate/);
  // The WAL bounds are always rendered, derived from the volume: size/4 and size/8.
  assert.match(tomlSection(plain, 'postgres'), /max_slot_wal_keep_size = "2048MiB"/);
  assert.match(tomlSection(plain, 'postgres'), /max_wal_size = "1024MiB"/);
  const small = toml(['persistence.size=512Mi']);
  assert.match(tomlSection(small, 'postgres'), /max_slot_wal_keep_size = "128MiB"/);
  assert.match(tomlSection(small, 'postgres'), /max_wal_size = "64MiB"/);
  const decimal = toml(['persistence.size=10G']);
  assert.match(tomlSection(decimal, 'postgres'), /max_slot_wal_keep_size = "2384MiB"/);
  assert.match(toml(['postgres.maxSlotWalKeepSize=unlimited']), /max_slot_wal_keep_size = "unlimited"/);
  const withAll = toml(['backup.maxAge=168h', 'agent.initMaxRate=50MB', 'agent.extraConfig.init.verify=false',
    'postgres.maxSlotWalKeepSize=8GiB', 'postgres.maxWalSize=2GiB',
    'agent.extraConfig.dns.timeout=5s', 'primaryOrdinal=1']);
  assert.doesNotMatch(withAll, /max_age/, 'backup settings are not in replagent.toml');
  const backupConfig = (set) => lib.one(render({ set }), 'ConfigMap', 'todo-db-backup').data;
  assert.equal(backupConfig(['backup.maxAge=168h']).REPLAGENT_BACKUP_MAX_AGE, '168h');
  assert.equal(backupConfig([]).REPLAGENT_BACKUP_MAX_AGE, undefined);
  assert.match(tomlSection(withAll, 'init'), /max_rate = "50MB"/);
  assert.match(tomlSection(withAll, 'postgres'), /max_slot_wal_keep_size = "8GiB"/);
  assert.match(tomlSection(withAll, 'postgres'), /max_wal_size = "2GiB"/);
  assert.match(tomlSection(withAll, 'init'), /verify = false/);
  assert.match(withAll, /\[dns\]\n\s*timeout = "5s"/);
  assert.match(withAll, /primary_ordinal = 1/);
  const rw = lib.one(render({ set: ['primaryOrdinal=1'] }), 'Service', 'todo-db-rw');
  assert.equal(rw.spec.selector['statefulset.kubernetes.io/pod-name'], 'todo-db-1');
});

// Without the seed's values (the chart's default), everything follows the release's name
// consistently.
test('names follow the release by default', async () => {
  const objects = lib.render({ release: 'shop' });
  assert.deepEqual(await lib.checkObjects(objects), []);
  const sts = lib.one(objects, 'StatefulSet', 'shop-replagent-postgres');
  assert.equal(sts.spec.serviceName, 'shop-replagent-postgres');
  lib.one(objects, 'Service', 'shop-replagent-postgres');
  const rw = lib.one(objects, 'Service', 'shop-replagent-postgres-rw');
  assert.equal(rw.spec.selector['statefulset.kubernetes.io/pod-name'], 'shop-replagent-postgres-0');
  const toml = lib.one(objects, 'ConfigMap', 'shop-replagent-postgres-config').data['replagent.toml'];
  assert.match(toml, /service = "shop-replagent-postgres"/);
  const cron = lib.one(objects, 'CronJob', 'shop-replagent-postgres-backup');
  const backup = cron.spec.jobTemplate.spec.template.spec.containers[0];
  assert.equal(lib.envOf(backup, 'REPLAGENT_POD_SERVICE').value, 'shop-replagent-postgres');
});

// The restore check follows its own values, and only exists alongside backups.
test('restore-check CronJob: suspend and schedule from values, needs backup.enabled', () => {
  const rc = lib.one(render({ set: ['backup.restoreCheck.enabled=true', 'backup.restoreCheck.suspend=true',
    'backup.restoreCheck.schedule=45 4 * * 1'] }), 'CronJob', 'todo-db-restore-check');
  assert.equal(rc.spec.suspend, true);
  assert.equal(rc.spec.schedule, '45 4 * * 1');
  // Disabled by default, and backup.enabled=false renders neither CronJob.
  assert.deepEqual(lib.byKind(render(), 'CronJob').map((o) => o.metadata.name), ['todo-db-backup']);
  assert.deepEqual(lib.byKind(render({ set: ['backup.enabled=false'] }), 'CronJob'), []);
  const r = lib.helm(['template', 't', lib.chartDir, ...lib.imageArgs, '--set', 'backup.enabled=false', '--set', 'backup.restoreCheck.enabled=true']);
  assert.notEqual(r.status, 0, 'a restore check without backups was accepted');
  assert.match(r.stderr, /backup\.restoreCheck\.enabled needs backup\.enabled/);
});

// The dashboard and the alerts use only metric names the sidecar exports.
test('dashboard and alert expressions use metrics the sidecar exports', () => {
  const exported = new Set(readFileSync(path.join(lib.source, 'probes/metrics.cpp'), 'utf8')
    .match(/"(replagent|pg)_[a-z_]+"/g).map((s) => s.slice(1, -1)));
  assert.ok(exported.has('replagent_up'), 'metric names found in probes/metrics.cpp');
  const objects = render({ files: ['three-replicas-podmonitor.yaml'] });
  const exprs = [
    ...JSON.parse(lib.one(objects, 'ConfigMap', 'todo-db-dashboard').data['todo-db.json']).panels
      .flatMap((p) => p.targets.map((t) => t.expr)),
    ...lib.one(objects, 'PrometheusRule').spec.groups.flatMap((g) => g.rules.map((r) => r.expr)),
  ];
  for (const expr of exprs) {
    for (const name of expr.match(/\b(replagent|pg)_[a-z_]+/g) ?? []) {
      const base = name.replace(/_(bucket|sum|count)$/, '');
      assert.ok(exported.has(base), `${name} (in ${expr.trim()}) is not exported by the sidecar`);
    }
  }
});

// Bad values: the schema (or the chart) refuses them with a message naming the key.
const badExpect = {
  'replicas-string.yaml': /replicas: Invalid type\. Expected: integer, given: string/,
  'negative-size.yaml': /persistence\.size: Does not match pattern/,
  'misspelt-key.yaml': /Additional property replica is not allowed/,
  'primary-out-of-range.yaml': /primaryOrdinal \(2\) must be below replicas \(2\)/,
  'bad-probe-mode.yaml': /probes\.readiness\.mode/,
  'role-name-injection.yaml': /auth\.replicationUser/,
  'network-not-cidr.yaml': /auth\.allowedNetworks/,
  'restore-check-enabled-string.yaml': /backup\.restoreCheck\.enabled: Invalid type\. Expected: boolean, given: string/,
  'image-repository-empty.yaml': /image\.repository is required: .*scripts\/image.*docker build -f docker\/Dockerfile/,
  'network-policy-empty-peer.yaml': /networkPolicy\.allowedClients\.0: Must have at least 1 properties/,
  // Checked against files/config-keys.txt (the agent's keys): names the closest ones.
  'extra-config-unknown-key.yaml': /agent\.extraConfig\.init\.wait_timout: replagent has no key init\.wait_timout \(did you mean one of: [^)]*init\.wait_timeout[^)]*docs\/configuration\.md\)/,
  'extra-config-password.yaml': /agent\.extraConfig\.postgres\.replication_password: replagent refuses a password or token in its config file/,
};
test('bad values are rejected', () => {
  const files = readdirSync(path.join(lib.valuesDir, 'bad')).sort();
  assert.deepEqual(files, Object.keys(badExpect).sort(), 'each bad value set has an expected message');
  for (const f of files) {
    const r = lib.helm(['template', 't', lib.chartDir, ...lib.imageArgs, '-f', path.join(lib.valuesDir, 'bad', f)]);
    assert.notEqual(r.status, 0, `${f} was accepted`);
    assert.match(r.stderr, badExpect[f], `${f}: ${r.stderr}`);
  }
  // The same through --set, as an operator would type it.
  const r = lib.helm(['template', 't', lib.chartDir, ...lib.imageArgs, '--set', 'persistence.size=-5Gi']);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /persistence\.size/);
  // An unknown section and key: the agent's sections are named.
  const section = lib.helm(['template', 't', lib.chartDir, ...lib.imageArgs, '--set', 'agent.extraConfig.sidcar.maxlag=1MB']);
  assert.notEqual(section.status, 0);
  assert.match(section.stderr, /agent\.extraConfig\.sidcar\.maxlag: replagent has no key sidcar\.maxlag \(no section sidcar; replagent's sections: backup, dns, init, log, pod, postgres, sidecar;/);
});

// WAL senders and slots are sized for maxReplicas, never for replicas (a scale-up would clone
// against a primary that restarts last), and replicas cannot exceed it.
test('max_wal_senders and max_replication_slots follow maxReplicas', () => {
  const toml = (set) => lib.one(render({ set }), 'ConfigMap', 'todo-db-config').data['replagent.toml'];
  const pg = (set) => tomlSection(toml(set), 'postgres');
  assert.match(pg([]), /^max_wal_senders = 20$/m, 'default maxReplicas 8: 2 x 8 + 4');
  assert.match(pg([]), /^max_replication_slots = 10$/m);
  assert.match(pg(['maxReplicas=20', 'replicas=20']), /^max_wal_senders = 44$/m);
  assert.match(pg(['maxReplicas=20', 'replicas=20']), /^max_replication_slots = 22$/m);
  assert.equal(pg(['replicas=5']), pg([]), 'replicas alone changes neither');
  const r = lib.helm(['template', 't', lib.chartDir, ...lib.imageArgs, '--set', 'replicas=9']);
  assert.notEqual(r.status, 0, 'replicas above maxReplicas was accepted');
  assert.match(r.stderr, /replicas \(9\) exceeds maxReplicas \(8\).*Raise maxReplicas first/);
  const cap = lib.helm(['template', 't', lib.chartDir, ...lib.imageArgs, '--set', 'maxReplicas=65']);
  assert.notEqual(cap.status, 0, 'maxReplicas above the schema cap was accepted');
});

// What restarts the database: only what the pods run. A backup setting or a chart version
// bump leaves the StatefulSet's pod template as it was (a changed template is a rolling restart
// of every pod, the primary included).
test('backup settings and the chart version do not change the pod template', () => {
  // Fixed passwords: generated ones differ per render, and the Secret's checksum with them.
  const passwords = ['superuser', 'replication', 'monitor', 'backup'].map((r) => `auth.${r}Password=pw-${r}`);
  const template = (set) => JSON.stringify(lib.one(render({ set: [...passwords, ...set] }), 'StatefulSet').spec.template);
  const base = template([]);
  for (const set of [['backup.schedule=0 4 * * *'], ['backup.database=todo'], ['backup.keep=30'],
                     ['backup.maxAge=48h'], ['backup.source=primary']]) {
    assert.equal(template(set), base, `${set} changed the pod template`);
  }
  const labels = lib.one(render(), 'StatefulSet').spec.template.metadata.labels;
  assert.ok(!('helm.sh/chart' in labels) && !('app.kubernetes.io/version' in labels),
    `version labels on the pod template: ${JSON.stringify(labels)}`);
  assert.notEqual(template(['agent.pollInterval=3s']), base, 'an agent setting still rolls the pods');
});

// Sensible resources by default on every container: requests, a memory limit, no CPU limit;
// the postgres container's memory limit leaves room beside its memory-backed /dev/shm.
test('every container has requests and a memory limit by default, none a CPU limit', () => {
  const mib = (q) => {
    const m = /^([0-9.]+)(Ki|Mi|Gi)?$/.exec(String(q));
    assert.ok(m, `quantity ${q}`);
    return Number(m[1]) * { Ki: 1 / 1024, Mi: 1, Gi: 1024, undefined: 1 / (1 << 20) }[m[2]];
  };
  const objects = render({ set: ['backup.restoreCheck.enabled=true'] });
  const sts = lib.one(objects, 'StatefulSet');
  const pods = [sts.spec.template.spec, ...lib.byKind(objects, 'CronJob').map((c) => podSpecOf(c))];
  let count = 0;
  for (const spec of pods) {
    for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
      count++;
      const r = c.resources ?? {};
      assert.ok(r.requests?.cpu && r.requests?.memory, `${c.name}: requests`);
      assert.ok(r.limits?.memory, `${c.name}: a memory limit`);
      assert.equal(r.limits?.cpu, undefined, `${c.name}: no CPU limit`);
      assert.ok(mib(r.limits.memory) >= mib(r.requests.memory), `${c.name}: limit >= request`);
    }
  }
  assert.equal(count, 5, 'init, postgres, sidecar, backup, restore check');
  const pg = sts.spec.template.spec.containers.find((c) => c.name === 'postgres');
  const shm = sts.spec.template.spec.volumes.find((v) => v.name === 'shm').emptyDir.sizeLimit;
  assert.ok(mib(pg.resources.limits.memory) >= mib(shm) + 512,
    `postgres memory limit ${pg.resources.limits.memory} leaves room beside /dev/shm ${shm}`);
  // null removes them (a {} would merge with the defaults), for clusters with a LimitRange.
  const bare = lib.one(render({ setJson: ['postgres.resources=null'] }), 'StatefulSet');
  assert.equal(bare.spec.template.spec.containers.find((c) => c.name === 'postgres').resources, undefined);
});

// The validators themselves catch what they are there for (so a green run means something).
test('the validators catch a misspelt field and a wrong type', async () => {
  const sts = lib.one(render(), 'StatefulSet');
  const misspelt = structuredClone(sts);
  misspelt.spec.servicName = misspelt.spec.serviceName;
  misspelt.spec.template.spec.containers[0].readinesProbe = {};
  const errors = await lib.unknownFields(misspelt);
  assert.equal(errors.length, 2, errors.join('\n'));
  assert.ok(errors.some((x) => x.includes('spec.servicName')));
  assert.ok(errors.some((x) => x.includes('containers[0].readinesProbe')));
  const wrongType = structuredClone(sts);
  wrongType.spec.replicas = 'two';
  await assert.rejects(lib.validateSchema(wrongType), /replicas must be integer/);
  const noSelector = structuredClone(sts);
  delete noSelector.spec.selector;
  await assert.rejects(lib.validateSchema(noSelector), /selector/);
  const pm = lib.one(render({ files: ['three-replicas-podmonitor.yaml'] }), 'PodMonitor');
  pm.spec.podMetricEndpoints = pm.spec.podMetricsEndpoints;
  assert.equal((await lib.unknownFields(pm)).length, 1);
});

// The application's role and database (auth.username, auth.database) and the init scripts
// (initdbScripts, initdbScriptsConfigMap): nothing of them unless set; then the Secret key, the
// password mounted into init and the sidecar only, the scripts into init only; the backups dump
// the application's database by default.
test('application database, user and initdb scripts', async () => {
  const sts = (objects) => lib.one(objects, 'StatefulSet');
  const appEnv = 'REPLAGENT_POSTGRES_APP_PASSWORD_FILE';
  const backupDb = (objects) => lib.one(objects, 'ConfigMap', 'todo-db-backup').data.REPLAGENT_BACKUP_DATABASE;

  const plain = render();
  assert.ok(!('app-password' in lib.one(plain, 'Secret', 'todo-db-auth').data));
  for (const c of [...podSpecOf(sts(plain)).initContainers, ...podSpecOf(sts(plain)).containers]) {
    assert.equal(lib.envOf(c, appEnv), undefined, `${c.name} has ${appEnv}`);
    assert.equal(lib.envOf(c, 'REPLAGENT_INIT_SCRIPTS_DIR'), undefined, c.name);
  }
  assert.ok(!podSpecOf(sts(plain)).volumes.some((v) => v.name === 'secret-app' || v.name === 'initdb'));
  assert.equal(lib.byKind(plain, 'ConfigMap').filter((c) => c.metadata.name === 'todo-db-initdb').length, 0);
  const plainToml = lib.one(plain, 'ConfigMap', 'todo-db-config').data['replagent.toml'];
  assert.doesNotMatch(plainToml, /app_user|app_database/);
  assert.equal(backupDb(plain), 'postgres', 'no application database: postgres');

  const objects = render({ set: ['auth.username=todo', 'auth.database=todo_data',
    'initdbScripts.01-schema\\.sql=CREATE TABLE t (id int);', 'initdbScriptsConfigMap=todo-seed'] });
  assert.deepEqual(await lib.checkObjects(objects), []);
  const secret = lib.one(objects, 'Secret', 'todo-db-auth');
  assert.ok(Buffer.from(secret.data['app-password'], 'base64').toString().length >= 16, 'generated');
  const pg = tomlSection(lib.one(objects, 'ConfigMap', 'todo-db-config').data['replagent.toml'], 'postgres');
  assert.match(pg, /^app_user = "todo"$/m);
  assert.match(pg, /^app_database = "todo_data"$/m);
  assert.equal(backupDb(objects), 'todo_data', 'backups dump the application database');
  assert.equal(backupDb(render({ set: ['auth.database=todo_data', 'backup.database=other'] })), 'other');

  const spec = podSpecOf(sts(objects));
  const init = container(spec, 'init', true);
  const sidecar = container(spec, 'replagent');
  for (const c of [init, sidecar]) {
    assert.equal(lib.envOf(c, appEnv)?.value, `${secretDir}/app/password`, c.name);
    assert.ok(lib.mountAt(c, `${secretDir}/app`), `${c.name} mounts the app password`);
  }
  assert.equal(lib.envOf(container(spec, 'postgres'), appEnv), undefined);
  const appVolume = spec.volumes.find((v) => v.name === 'secret-app');
  assert.deepEqual(appVolume.secret.items, [{ key: 'app-password', path: 'password' }]);

  assert.equal(lib.envOf(init, 'REPLAGENT_INIT_SCRIPTS_DIR')?.value, '/etc/replagent/initdb.d');
  assert.equal(lib.mountAt(init, '/etc/replagent/initdb.d')?.readOnly, true);
  assert.equal(lib.mountAt(sidecar, '/etc/replagent/initdb.d'), undefined, 'the scripts are init\'s');
  const scripts = lib.one(objects, 'ConfigMap', 'todo-db-initdb');
  assert.deepEqual(scripts.data, { '01-schema.sql': 'CREATE TABLE t (id int);' });
  const sources = spec.volumes.find((v) => v.name === 'initdb').projected.sources.map((s) => s.configMap.name);
  assert.deepEqual(sources, ['todo-db-initdb', 'todo-seed']);

  // Only an existing ConfigMap: mounted, no ConfigMap of the chart's.
  const only = render({ set: ['initdbScriptsConfigMap=todo-seed'] });
  assert.equal(lib.byKind(only, 'ConfigMap').filter((c) => c.metadata.name === 'todo-db-initdb').length, 0);
  assert.deepEqual(podSpecOf(sts(only)).volumes.find((v) => v.name === 'initdb').projected.sources,
    [{ configMap: { name: 'todo-seed' } }]);

  // An existing Secret names its key; a bad name is refused by the schema.
  const existing = sts(render({ set: ['auth.existingSecret=mine', 'auth.username=todo', 'auth.appPasswordKey=todo-pw'] }));
  assert.deepEqual(podSpecOf(existing).volumes.find((v) => v.name === 'secret-app').secret.items,
    [{ key: 'todo-pw', path: 'password' }]);
  for (const bad of ['auth.username=Todo', 'auth.database=todo-db']) {
    const r = lib.helm(['template', 't', lib.chartDir, ...lib.imageArgs, '--set', bad]);
    assert.notEqual(r.status, 0, `${bad} was accepted`);
  }
});
