// Writes docs/config-reference.md (from the run-config schema and rules) and
// docs/settings-reference.md (from package.json contributes.configuration).
// Usage: node --import tsx scripts/gen-config-reference.ts   (test/unit/configReference.test.ts
// and manifestSettings.test.ts fail when either file differs from what this writes).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { renderConfigReference } from '../src/core/configReference';
import { renderSettingsReference } from '../src/core/settingsReference';
import { runConfigRules, runConfigSchema } from '../src/core/schemas';

const repo = path.resolve(__dirname, '..');
const manifest = JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8'));
const out: Array<[string, string]> = [
  ['docs/config-reference.md', renderConfigReference(runConfigSchema, runConfigRules)],
  ['docs/settings-reference.md', renderSettingsReference(manifest)],
];
for (const [rel, text] of out) {
  fs.mkdirSync(path.dirname(path.join(repo, rel)), { recursive: true });
  fs.writeFileSync(path.join(repo, rel), text);
  console.log(`wrote ${rel}`);
}
