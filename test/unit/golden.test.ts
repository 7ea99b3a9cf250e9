/**
 * Golden manifests: fixtures/manifests/<scenario>/input.json -> expected/<manifest name>, compared exactly. Rendered
 * by the production renderManifestSet, under the names the manifest worker stores them with (manifestName).
 * Regenerate with UPDATE_GOLDEN=1 npx vitest run test/unit/golden.test.ts, then review the diff like code.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Scenario, renderScenario } from '../support/scenario.js';
import { fixturePath } from '../support/fixtures.js';

const root = fixturePath('manifests');
const update = process.env.UPDATE_GOLDEN === '1';

function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)).split('\\').join('/'));
}

describe('golden manifests', () => {
  for (const name of readdirSync(root)) {
    it(`renders scenario "${name}" exactly as expected`, () => {
      const scenario = JSON.parse(readFileSync(join(root, name, 'input.json'), 'utf8')) as Scenario;
      const files = renderScenario(scenario);
      const dir = join(root, name, 'expected');
      if (update) {
        rmSync(dir, { recursive: true, force: true });
        for (const [file, f] of files) {
          mkdirSync(dirname(join(dir, file)), { recursive: true });
          writeFileSync(join(dir, file), f.body);
        }
      }
      expect(existsSync(dir), `${dir} missing: run with UPDATE_GOLDEN=1`).toBe(true);
      expect(listFiles(dir).sort()).toEqual([...files.keys()].sort());
      for (const [file, f] of files) {
        expect(f.body, `${name}/${file}`).toBe(readFileSync(join(dir, file), 'utf8'));
      }
    });
  }
});
