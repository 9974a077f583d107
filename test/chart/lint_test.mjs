// helm lint --strict on the chart, with the default values and with each value set.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import * as lib from './lib.mjs';

const sets = [[], ...readdirSync(lib.valuesDir).filter((f) => f.endsWith('.yaml')).sort().map((f) => [f])];

for (const files of sets) {
  test(`helm lint --strict ${files.length ? '-f ' + files.join(' ') : '(default values)'}`, (t) => {
    const args = ['lint', '--strict', lib.chartDir, ...files.flatMap((f) => ['-f', path.join(lib.valuesDir, f)])];
    const r = lib.helm(args);
    t.diagnostic(r.stdout.trim());
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    assert.doesNotMatch(r.stdout, /\[(WARNING|ERROR)\]/);
  });
}
