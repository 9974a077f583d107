// helm lint --strict on the chart, with the default values, with each value set and with each
// example values file the chart ships (charts/replagent-postgres/examples/).
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import * as lib from './lib.mjs';

const yamlIn = (dir) => readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort().map((f) => [path.join(dir, f)]);
const examplesDir = path.join(lib.chartDir, 'examples');
const examples = yamlIn(examplesDir);
const sets = [[], ...yamlIn(lib.valuesDir), ...examples];

test('the chart ships the seed\'s example values', () => {
  assert.ok(examples.some(([f]) => path.basename(f) === 'todo-db.yaml'), `examples: ${examples.join(', ')}`);
});

for (const files of sets) {
  const shown = files.map((f) => path.relative(lib.source, f));
  test(`helm lint --strict ${files.length ? '-f ' + shown.join(' ') : '(default values)'}`, (t) => {
    const args = ['lint', '--strict', lib.chartDir, ...files.flatMap((f) => ['-f', f])];
    const r = lib.helm(args);
    t.diagnostic(r.stdout.trim());
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    assert.doesNotMatch(r.stdout, /\[(WARNING|ERROR)\]/);
  });
}
