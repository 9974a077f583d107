// postgres.parameters and postgres.hbaExtra: rendered into replagent.toml as the agent's
// [postgres.parameters] table and postgres.hba_extra list, read by the built replagent as
// given; what the schema can see is refused at render, and what it cannot (a parameter
// replagent owns, in another letter case) is refused by replagent itself, naming the key.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'node:test';
import * as lib from './lib.mjs';

const tomlOf = (opts) => {
  const objects = lib.render(opts);
  const cm = lib.byKind(objects, 'ConfigMap').find((o) => o.metadata.name.endsWith('-config'));
  assert.ok(cm, 'the agent config ConfigMap');
  return cm.data['replagent.toml'];
};

// `replagent config` on a rendered replagent.toml: {status, stdout, stderr}.
function agentConfig(toml) {
  const dir = mkdtempSync(path.join(tmpdir(), 'replagent-chart-params-'));
  try {
    writeFileSync(path.join(dir, 'replagent.toml'), toml);
    const r = spawnSync(lib.binary, ['--config', path.join(dir, 'replagent.toml'), 'config'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, POD_NAME: 'todo-db-1', POD_NAMESPACE: 'default', PGDATA: '/var/lib/postgresql/data/pgdata' },
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const parameters = {
  max_connections: 200,
  shared_buffers: '256MB',
  jit: false,
  random_page_cost: 1.1,
  'pg_stat_statements.max': 1000000,
  search_path: '"$user", public',
};
const hbaExtra = ['hostssl all app 10.0.0.0/8 scram-sha-256', 'local todo app md5'];

test('postgres.parameters and postgres.hbaExtra reach replagent.toml and replagent reads them', () => {
  const toml = tomlOf({
    setJson: [`postgres.parameters=${JSON.stringify(parameters)}`, `postgres.hbaExtra=${JSON.stringify(hbaExtra)}`],
  });
  assert.match(toml, /^\[postgres\.parameters\]$/m, toml);
  assert.match(toml, /^"max_connections" = 200$/m, 'numbers stay numbers (1000000 not 1e+06)');
  assert.match(toml, /^"pg_stat_statements.max" = 1000000$/m);
  assert.match(toml, /^hba_extra = \["hostssl all app 10\.0\.0\.0\/8 scram-sha-256", "local todo app md5"\]$/m);
  assert.ok(lib.binary, 'REPLAGENT_BINARY names the built replagent');
  const r = agentConfig(toml);
  assert.equal(r.status, 0, r.stderr);
  for (const [name, value] of [['max_connections', '200'], ['shared_buffers', '256MB'], ['jit', 'off'],
    ['random_page_cost', '1.1'], ['pg_stat_statements.max', '1000000'], ['search_path', '"$user", public']]) {
    const key = /^[a-z_]+$/.test(name) ? name : `'${name}'`;  // as toml++ prints a key
    assert.ok(r.stdout.includes(`${key} = '${value}'`),
      `${name} = '${value}' in replagent config:\n${r.stdout}`);
  }
  assert.match(r.stdout, /hba_extra = \[ 'hostssl all app 10\.0\.0\.0\/8 scram-sha-256', 'local todo app md5' \]/);
});

test('without postgres.parameters and hbaExtra nothing is rendered for them', () => {
  const toml = tomlOf({});
  assert.doesNotMatch(toml, /parameters|hba_extra/);
});

test('bad parameters and hba lines are rejected at render, naming the value', () => {
  const cases = [
    ['postgres.parameters={"port":5433}', /postgres\.parameters: Property name of "port"/],
    ['postgres.parameters={"wal_level":"logical"}', /postgres\.parameters: Property name of "wal_level"/],
    ['postgres.parameters={"a-b":1}', /postgres\.parameters: Property name of "a-b"/],
    ['postgres.parameters={"work_mem":"1MB\\nport = 1"}', /postgres\.parameters\.work_mem/],
    ['postgres.parameters={"work_mem":["1MB"]}', /postgres\.parameters\.work_mem/],
    ['postgres.hbaExtra=["include other.conf"]', /postgres\.hbaExtra\.0/],
    ['postgres.hbaExtra=["host all app 10.0.0.0/8 md5\\nhost all all all trust"]', /postgres\.hbaExtra\.0/],
    ['postgres.hbaExtra="host all app 10.0.0.0/8 md5"', /postgres\.hbaExtra/],
    ['agent.extraConfig={"postgres":{"parameters":{"work_mem":"1MB"}}}', /agent\.extraConfig\.postgres\.parameters/],
  ];
  for (const [setJson, expected] of cases) {
    assert.throws(() => tomlOf({ setJson: [setJson] }), expected, setJson);
  }
});

test('what only replagent can judge renders and is refused by replagent, naming the key', () => {
  assert.ok(lib.binary, 'REPLAGENT_BINARY names the built replagent');
  const cases = [
    [['postgres.parameters={"Port":5433}'], /postgres\.parameters\.Port: replagent writes port itself; use postgres\.port/],
    [['postgres.hbaExtra=["host all replicator 10.0.0.0/8 md5"]'], /postgres\.hba_extra entry 1 .*postgres\.replication_user/],
    [['postgres.hbaExtra=["host all all 10.0.0.0/8 trust"]'], /postgres\.hba_extra entry 1 .*trust for all users/],
  ];
  for (const [setJson, expected] of cases) {
    const r = agentConfig(tomlOf({ setJson }));
    assert.equal(r.status, 2, `${setJson}: exit 2\n${r.stdout}${r.stderr}`);
    assert.match(r.stderr, expected, setJson);
  }
});
