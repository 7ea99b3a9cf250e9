import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const fixturePath = (name: string): string =>
  fileURLToPath(new URL(`../../fixtures/${name}`, import.meta.url));
export const readFixture = (name: string): Uint8Array => new Uint8Array(readFileSync(fixturePath(name)));
