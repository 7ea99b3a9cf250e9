/**
 * Golden manifests: fixtures/manifests/<scenario>/input.json -> expected/<file>, compared exactly.
 * Regenerate with UPDATE_GOLDEN=1 npm run test:unit, then review the diff like code.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Scenario, renderAll } from '../support/scenario.js';
import { fixturePath } from '../support/fixtures.js';

const root = fixturePath('manifests');
const update = process.env.UPDATE_GOLDEN === '1';

describe('golden manifests', () => {
  for (const name of readdirSync(root)) {
    it(`renders scenario "${name}" exactly as expected`, () => {
      const scenario = JSON.parse(readFileSync(join(root, name, 'input.json'), 'utf8')) as Scenario;
      const files = renderAll(scenario);
      const dir = join(root, name, 'expected');
      if (update) {
        mkdirSync(dir, { recursive: true });
        for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text);
      }
      expect(existsSync(dir), `${dir} missing: run with UPDATE_GOLDEN=1`).toBe(true);
      expect(readdirSync(dir).sort()).toEqual(Object.keys(files).sort());
      for (const [file, text] of Object.entries(files)) {
        expect(text, `${name}/${file}`).toBe(readFileSync(join(dir, file), 'utf8'));
      }
    });
  }
});
