// The generated TypeScript in gen/ is exactly what proto/ generates today: regenerate into a
// temporary folder with the one script (scripts/gen-proto.sh) and compare file by file.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';

const ROOT = path.resolve(__dirname, '..', '..', '..');

function files(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name)))
    .sort();
}

test('gen/ is in sync with proto/ (run `npm run gen` after changing a .proto)', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'tcpscope-gen-'));
  try {
    execFileSync('bash', [path.join(ROOT, 'scripts', 'gen-proto.sh'), out], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    const fresh = path.join(out, 'gen'); // buf writes the plugin's out folder under -o
    const want = files(fresh);
    assert.ok(want.length >= 3, `the generator produced ${want.length} files`);
    assert.deepEqual(files(path.join(ROOT, 'gen')), want, 'the same files');
    for (const f of want) {
      assert.equal(fs.readFileSync(path.join(ROOT, 'gen', f), 'utf8'), fs.readFileSync(path.join(fresh, f), 'utf8'), `gen/${f} is stale: run \`npm run gen\``);
    }
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});
