// The README's images are the e2e suite's real screenshots, committed small under media/ (which
// the VSIX carries, so the extension's details page shows them): every one exists, is a PNG and
// stays small, and none points outside media/ or to the network.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

const repo = path.resolve(__dirname, '..', '..');
const MAX_BYTES = 150 * 1024;

describe('README images', () => {
  it('are PNG files under media/, each under 150 KiB', () => {
    const readme = fs.readFileSync(path.join(repo, 'README.md'), 'utf8');
    const images = [...readme.matchAll(/!\[[^\]]*\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
    assert.ok(images.length >= 3, `README has ${images.length} images`);
    for (const src of images) {
      assert.match(src, /^media\/[\w./-]+\.png$/, `${src}: not a PNG under media/`);
      const file = path.join(repo, src);
      assert.ok(fs.existsSync(file), `${src} does not exist`);
      const bytes = fs.readFileSync(file);
      assert.equal(bytes.subarray(1, 4).toString('latin1'), 'PNG', `${src} is not a PNG`);
      assert.ok(bytes.length <= MAX_BYTES, `${src} is ${bytes.length} bytes (keep it under ${MAX_BYTES})`);
    }
  });
});
