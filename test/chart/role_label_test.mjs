// The role label (values roleLabel, rbac, serviceAccount): each database pod's sidecar labels
// its own pod replagent.io/role=primary|replica through the Kubernetes API, so -ro selects the
// replicas only (-r every ready pod). The token reaches the sidecar container only, and the
// Role allows exactly `patch` on the set's pod names. What the sidecar does with it runs on the
// runtime bed (test/runtime: kubesim plays the API server).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import test from 'node:test';
import * as lib from './lib.mjs';

const seed = path.join(lib.chartDir, 'examples/todo-db.yaml');
const render = (set = []) => lib.render({ files: [seed], set });
const sidecarOf = (objects) => lib.one(objects, 'StatefulSet').spec.template.spec.containers.find((c) => c.name === 'replagent');
const tokenDir = '/var/run/secrets/kubernetes.io/serviceaccount';

test('by default: -ro selects replicas by the role label the sidecar sets with its own token', async () => {
  const objects = render(['maxReplicas=4']);
  const problems = await lib.checkObjects(objects);
  assert.deepEqual(problems, [], problems.join('\n'));

  const sa = lib.one(objects, 'ServiceAccount', 'todo-db');
  assert.equal(sa.automountServiceAccountToken, false);
  const role = lib.one(objects, 'Role', 'todo-db-role-label');
  assert.deepEqual(role.rules, [{ apiGroups: [''], resources: ['pods'], verbs: ['patch'],
    resourceNames: ['todo-db-0', 'todo-db-1', 'todo-db-2', 'todo-db-3'] }]);
  const binding = lib.one(objects, 'RoleBinding', 'todo-db-role-label');
  assert.deepEqual(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'todo-db-role-label' });
  assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'todo-db', namespace: lib.namespace }]);

  const spec = lib.one(objects, 'StatefulSet').spec.template.spec;
  assert.equal(spec.serviceAccountName, 'todo-db');
  assert.equal(spec.automountServiceAccountToken, false, 'no container gets a token by default');
  const sidecar = sidecarOf(objects);
  assert.equal(lib.envOf(sidecar, 'REPLAGENT_SIDECAR_ROLE_LABEL')?.value, 'replagent.io/role');
  const mount = lib.mountAt(sidecar, tokenDir);
  assert.ok(mount?.readOnly, 'the sidecar mounts the token read-only where client-go looks');
  const volume = spec.volumes.find((v) => v.name === mount.name);
  const sources = volume.projected.sources;
  assert.ok(sources.some((s) => s.serviceAccountToken?.path === 'token'));
  assert.ok(sources.some((s) => s.configMap?.name === 'kube-root-ca.crt' && s.configMap.items[0].path === 'ca.crt'));
  assert.ok(sources.some((s) => s.downwardAPI?.items[0].fieldRef.fieldPath === 'metadata.namespace'));
  for (const c of [...spec.initContainers, ...spec.containers].filter((c) => c !== sidecar))
    assert.equal(lib.mountAt(c, tokenDir), undefined, `${c.name} mounts the token`);

  const ro = lib.one(objects, 'Service', 'todo-db-ro');
  assert.equal(ro.spec.selector['replagent.io/role'], 'replica');
  const r = lib.one(objects, 'Service', 'todo-db-r');
  assert.equal(r.spec.selector['replagent.io/role'], undefined);
});

test('roleLabel.enabled=false: no token, no Role, -ro selects every ready pod like -r', () => {
  const objects = render(['roleLabel.enabled=false']);
  assert.equal(lib.byKind(objects, 'Role').length, 0);
  assert.equal(lib.byKind(objects, 'RoleBinding').length, 0);
  const spec = lib.one(objects, 'StatefulSet').spec.template.spec;
  assert.equal(lib.envOf(sidecarOf(objects), 'REPLAGENT_SIDECAR_ROLE_LABEL'), undefined);
  assert.equal(lib.mountAt(sidecarOf(objects), tokenDir), undefined);
  assert.ok(!spec.volumes.some((v) => v.projected?.sources?.some((s) => s.serviceAccountToken)));
  assert.deepEqual(lib.one(objects, 'Service', 'todo-db-ro').spec.selector,
    lib.one(objects, 'Service', 'todo-db-r').spec.selector);
});

test('an existing ServiceAccount, RBAC of your own', () => {
  const objects = render(['serviceAccount.create=false', 'serviceAccount.name=db-pods', 'rbac.create=false']);
  assert.equal(lib.byKind(objects, 'ServiceAccount').length, 0);
  assert.equal(lib.byKind(objects, 'Role').length, 0);
  assert.equal(lib.one(objects, 'StatefulSet').spec.template.spec.serviceAccountName, 'db-pods');
  const named = render(['serviceAccount.name=db-pods']);
  assert.equal(lib.one(named, 'ServiceAccount', 'db-pods').metadata.name, 'db-pods');
  assert.equal(lib.one(named, 'RoleBinding').subjects[0].name, 'db-pods');
});

test('the agent takes the chart key: replagent validates REPLAGENT_SIDECAR_ROLE_LABEL', { skip: !lib.binary }, () => {
  const env = { ...process.env, REPLAGENT_SIDECAR_ROLE_LABEL: 'Not A Label/', POD_NAME: 'todo-db-0' };
  const bad = spawnSync(lib.binary, ['config'], { env, encoding: 'utf8' });
  assert.equal(bad.status, 2, bad.stderr);
  assert.match(bad.stderr, /sidecar\.role_label/);
  const good = spawnSync(lib.binary, ['config'], { env: { ...env, REPLAGENT_SIDECAR_ROLE_LABEL: 'replagent.io/role',
    KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }, encoding: 'utf8' });
  assert.equal(good.status, 0, good.stderr);
  assert.match(good.stdout, /role_label = 'replagent.io\/role'/);
});
