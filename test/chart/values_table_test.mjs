// docs/chart-values.md, the table of the chart's values, is generated from values.yaml's
// comments by scripts/gen-values-table: it must be up to date, cover every value with its real
// default, and the generator must refuse a value nobody described.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'node:test';
import * as lib from './lib.mjs';

const script = path.join(lib.source, 'scripts/gen-values-table');
const valuesFile = path.join(lib.chartDir, 'values.yaml');
const schemaFile = path.join(lib.chartDir, 'values.schema.json');
const docFile = path.join(lib.source, 'docs/chart-values.md');

const work = mkdtempSync(path.join(tmpdir(), 'replagent-values-table-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

// scripts/gen-values-table ARGS: {status, stdout, stderr}.
function gen(args) {
  const r = spawnSync(process.execPath, [script, ...args], {
    encoding: 'utf8', env: { ...process.env, REPLAGENT_CHART_TOOLS: lib.tools },
  });
  if (r.error) throw r.error;
  return r;
}

// values.yaml with `edit` applied, checked against the committed table.
function checkEdited(name, edit) {
  const file = path.join(work, name);
  const text = readFileSync(valuesFile, 'utf8');
  const edited = edit(text);
  assert.notEqual(edited, text, `${name}: the edit changed nothing`);
  writeFileSync(file, edited);
  return gen(['--check', '--values', file, '--schema', schemaFile, '--doc', docFile]);
}

test('docs/chart-values.md is what scripts/gen-values-table makes of values.yaml', () => {
  const r = gen(['--check']);
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
});

test('every value of values.yaml has a row with its default and a description', () => {
  const values = lib.yaml.load(readFileSync(valuesFile, 'utf8'));
  const rows = new Map();
  for (const line of readFileSync(docFile, 'utf8').split('\n')) {
    const m = /^\| `([^`]+)` \| (.*?) \| (.*) \|$/.exec(line);
    if (m) rows.set(m[1], { def: m[2], desc: m[3] });
  }
  const at = (keys) => keys.reduce((v, k) => v?.[k], values);
  for (const [key, row] of rows) {
    assert.ok(row.desc.trim(), `${key}: empty description`);
    if (row.def === '') continue; // a section's own row
    const text = row.def.replace(/^``? ?|`? ?`$/g, '').replace(/\\\|/g, '|');
    assert.deepEqual(lib.yaml.load(text), at(key.split('.')), `${key}: the table's default ${row.def}`);
  }
  // Every scalar, list and empty map is in a row of its own or in a row above it (a map the
  // table shows whole, such as resources.requests).
  const uncovered = [];
  const walk = (v, keys) => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length) {
      for (const [k, c] of Object.entries(v)) walk(c, [...keys, k]);
      return;
    }
    const covered = keys.some((_, i) => rows.get(keys.slice(0, i + 1).join('.'))?.def);
    if (!covered) uncovered.push(keys.join('.'));
  };
  walk(values, []);
  assert.deepEqual(uncovered, [], 'values.yaml keys missing from docs/chart-values.md');
});

test('the check fails when values.yaml gains a value or changes a default', () => {
  const added = checkEdited('added.yaml', (t) => `${t}\n# A value the test adds.\naddedByTheTest: 1\n`);
  assert.equal(added.status, 1, `${added.stdout}\n${added.stderr}`);
  assert.match(added.stdout, /^\+\| `addedByTheTest` \| `1` \| A value the test adds\. \|$/m);
  assert.match(added.stderr, /regenerate it with scripts\/gen-values-table/);

  let key;
  const changed = checkEdited('changed.yaml', (t) => t.replace(/^([A-Za-z]+): (\d+)$/m, (_, k, n) => {
    key = k;
    return `${k}: ${Number(n) + 1}`;
  }));
  assert.equal(changed.status, 1, `${changed.stdout}\n${changed.stderr}`);
  assert.match(changed.stdout, new RegExp(`^-\\| \`${key}\` `, 'm'));
  assert.match(changed.stdout, new RegExp(`^\\+\\| \`${key}\` `, 'm'));
});

test('a value without a comment is refused, naming it and its line', () => {
  for (const [name, tail, key] of [
    ['bare', '\nundocumentedByTheTest: 1\n', 'undocumentedByTheTest'],
    // A commented-out example is not a description.
    ['example', '\n#  exampleKey: 2\nexampleOnlyByTheTest: 1\n', 'exampleOnlyByTheTest'],
  ]) {
    const r = checkEdited(`${name}.yaml`, (t) => t + tail);
    assert.equal(r.status, 1, `${name}: ${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, new RegExp(`${name}\\.yaml:\\d+: ${key} has no comment`));
  }
  // The key right below a described one, with no blank line between, shares its description.
  const r = checkEdited('shared.yaml', (t) => `${t}\n# Two values the test adds.\nfirstByTheTest: 1\nsecondByTheTest: 2\n`);
  assert.doesNotMatch(r.stderr, /has no comment/);
  assert.match(r.stdout, /^\+\| `secondByTheTest` \| `2` \| Two values the test adds\. \|$/m);
});
