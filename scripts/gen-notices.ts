// Writes THIRD_PARTY_NOTICES.md from what ships (scripts/noticesInput.ts).
// Usage: node --import tsx scripts/gen-notices.ts   (test/unit/thirdPartyNotices.test.ts fails when
// the file differs from what this writes).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { renderNotices, unlicensedRequirements } from '../src/core/thirdPartyNotices';
import { noticesInput } from './noticesInput';

const repo = path.resolve(__dirname, '..');
void (async () => {
  const input = await noticesInput(repo);
  const missing = unlicensedRequirements(input.python);
  if (missing.length) throw new Error(`trainer/requirements-cpu.txt: no license known for ${missing.join(', ')}; add them to PYTHON_LICENSES in src/core/thirdPartyNotices.ts`);
  fs.writeFileSync(path.join(repo, 'THIRD_PARTY_NOTICES.md'), renderNotices(input));
  console.log(`wrote THIRD_PARTY_NOTICES.md (${input.npm.length} npm packages, ${input.python.length} Python packages)`);
})();
