// The chart's values schema accepts exactly the sizes and durations replagent accepts: every
// row of test/data/quantities.tsv (the table test/unit/units_test.cpp runs the agent's parsers
// and load_config over) goes through `helm template` in a value of its kind, and the schema
// must accept it exactly when the agent does. A value the schema passes but the agent refuses
// makes every pod's init exit 2 in a loop; the other way round, helm refuses a valid setting.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'node:test';
import * as lib from './lib.mjs';

const table = path.join(lib.source, 'test/data/quantities.tsv');

// The chart's values of each kind, and the value that carries each agent key of the table.
const fieldsOfKind = {
  size: ['agent.maxLag', 'agent.initMaxRate', 'postgres.maxWalSize', 'postgres.maxSlotWalKeepSize'],
  duration: ['agent.pollInterval', 'agent.initWaitTimeout', 'backup.maxAge'],
};
const fieldOfKey = {
  'sidecar.max_lag': 'agent.maxLag',
  'init.max_rate': 'agent.initMaxRate',
  'postgres.max_wal_size': 'postgres.maxWalSize',
  'postgres.max_slot_wal_keep_size': 'postgres.maxSlotWalKeepSize',
  'sidecar.poll_interval': 'agent.pollInterval',
  'init.wait_timeout': 'agent.initWaitTimeout',
  'backup.max_age': 'backup.maxAge',
};

// [{line, kind, text, agent}] from the table (TEXT between double quotes).
function readTable() {
  const rows = [];
  readFileSync(table, 'utf8').split('\n').forEach((line, i) => {
    if (line === '' || line.startsWith('#')) return;
    const m = /^([a-z_.]+)\t"(.*)"\t([0-9]+|yes|no|overflow)$/.exec(line);
    assert.ok(m, `quantities.tsv:${i + 1}: expected KIND<tab>"TEXT"<tab>AGENT, got ${JSON.stringify(line)}`);
    rows.push({ line: i + 1, kind: m[1], text: m[2], agent: m[3] });
  });
  return rows;
}

// The checks, each {field, text, accept, line}: a key's row for its value, and each size or
// duration row in one value of its kind, spread over them (one helm call sets every value
// once, so the calls are as many as the most checks one value gets). A key's own row (empty,
// "unlimited") overrides the grammar's verdict on the same text for that value.
function checks(rows) {
  const byField = new Map();
  const add = (c) => byField.set(c.field, [...(byField.get(c.field) ?? []), c]);
  const own = new Set();
  for (const r of rows.filter((r) => !fieldsOfKind[r.kind])) {
    const field = fieldOfKey[r.kind];
    assert.ok(field, `quantities.tsv:${r.line}: no chart value known for the key ${r.kind} (fieldOfKey)`);
    own.add(`${field}\0${r.text}`);
    add({ field, text: r.text, accept: r.agent === 'yes', line: r.line, agent: r.agent });
  }
  for (const r of rows.filter((r) => fieldsOfKind[r.kind])) {
    const candidates = fieldsOfKind[r.kind].filter((f) => !own.has(`${f}\0${r.text}`));
    if (candidates.length === 0) continue; // every value of the kind has a row of its own
    const field = candidates.reduce((a, b) => ((byField.get(b)?.length ?? 0) < (byField.get(a)?.length ?? 0) ? b : a));
    // "overflow": in the grammar, so the schema's pattern accepts it; the agent names the key.
    add({ field, text: r.text, accept: r.agent !== 'no', line: r.line, agent: `${r.kind} ${r.agent}` });
  }
  return byField;
}

function setPath(obj, dotted, value) {
  const parts = dotted.split('.');
  let o = obj;
  for (const p of parts.slice(0, -1)) o = o[p] ??= {};
  o[parts.at(-1)] = value;
}

test('values.schema.json accepts exactly the sizes and durations replagent accepts (test/data/quantities.tsv)', (t) => {
  const rows = readTable();
  for (const kind of ['size', 'duration']) {
    assert.ok(rows.some((r) => r.kind === kind && r.agent !== 'no'), `no accepted ${kind} in the table`);
    assert.ok(rows.some((r) => r.kind === kind && r.agent === 'no'), `no refused ${kind} in the table`);
  }
  const byField = checks(rows);
  const calls = Math.max(...[...byField.values()].map((l) => l.length));
  const dir = mkdtempSync(path.join(tmpdir(), 'replagent-quantities-'));
  const wrong = [];
  try {
    for (let i = 0; i < calls; i++) {
      const batch = [...byField.values()].map((l) => l[i]).filter(Boolean);
      const values = {};
      for (const c of batch) setPath(values, c.field, c.text);
      const file = path.join(dir, `values-${i}.json`);
      writeFileSync(file, JSON.stringify(values));
      const r = lib.helm(['template', 't', lib.chartDir, ...lib.imageArgs, '-f', file]);
      // helm lists every value the schema refuses: "- agent.maxLag: Does not match pattern ...".
      const refused = new Set([...r.stderr.matchAll(/^- ([A-Za-z0-9_.]+): /gm)].map((m) => m[1]));
      if (r.status !== 0 && refused.size === 0) assert.fail(`helm failed for another reason with ${JSON.stringify(values)}:\n${r.stderr}`);
      for (const f of refused) {
        assert.ok(batch.some((c) => c.field === f), `helm refused ${f}, which this call did not set:\n${r.stderr}`);
      }
      for (const c of batch) {
        const accepted = !refused.has(c.field);
        if (accepted !== c.accept) {
          wrong.push(`${c.field} = ${JSON.stringify(c.text)}: the schema ${accepted ? 'accepts' : 'refuses'} it, ` +
            `quantities.tsv:${c.line} says ${c.agent}`);
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  t.diagnostic(`${[...byField.values()].flat().length} checks in ${calls} helm calls`);
  assert.deepEqual(wrong, []);
});
