// scripts/package-vsix.mjs: the per-target ignore file lets in exactly that platform's
// onnxruntime binding, and the VSIX check catches what must not ship.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
// @ts-expect-error: a plain ES module script without type declarations
import { BINDING_LINE, bindingFiles, checkContents, ignoreFileFor, shippedTargets } from '../../scripts/package-vsix.mjs';

const repo = path.resolve(__dirname, '..', '..');
const base = fs.readFileSync(path.join(repo, '.vscodeignore'), 'utf8');

/** A fake repository with onnxruntime-node's bin folder laid out as npm unpacks it. */
function fakeOrt(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ort-bin-'));
  for (const [rel, body] of Object.entries(files)) {
    const f = path.join(dir, 'node_modules/onnxruntime-node/bin/napi-v6', rel);
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, body);
  }
  return dir;
}

const good = [
  'package.json', 'dist/extension.js', 'dist/chatEngine.js', 'dist/cli.js', 'trainer/pyproject.toml', 'trainer/neftune_trainer/__init__.py',
  'trainer/neftune_trainer/schemas/run-config.schema.json', 'node_modules/onnxruntime-node/dist/index.js', 'node_modules/onnxruntime-common/dist/cjs/index.js', 'media/icon.png', 'changelog.md', 'THIRD_PARTY_NOTICES.md',
  'node_modules/onnxruntime-node/bin/napi-v6/linux/arm64/onnxruntime_binding.node', 'node_modules/onnxruntime-node/bin/napi-v6/linux/arm64/libonnxruntime.so.1',
].map((f) => `extension/${f}`);

describe('package-vsix', () => {
  it('.vscodeignore has the binding line the script replaces, and nothing else lets a binding in', () => {
    assert.ok(base.split('\n').some((l) => l.trim() === BINDING_LINE));
    const other = base.split('\n').filter((l) => l.includes('onnxruntime-node/bin') && l.trim() !== BINDING_LINE && !l.startsWith('#'));
    assert.deepEqual(other, []);
  });

  it('the ignore file for a target lists that target\'s files in place of the linux-x64 line', () => {
    const text = ignoreFileFor(base, 'darwin-arm64', ['node_modules/onnxruntime-node/bin/napi-v6/darwin/arm64/onnxruntime_binding.node']);
    assert.ok(!text.includes('linux/x64'));
    assert.ok(text.includes('!node_modules/onnxruntime-node/bin/napi-v6/darwin/arm64/onnxruntime_binding.node'));
    assert.equal(text.split('\n').length, base.split('\n').length);
    assert.throws(() => ignoreFileFor('**\n!dist/extension.js\n', 'linux-x64', []), /no line/);
  });

  it('of identical copies only the one the binding names ships; distinct files all ship', () => {
    const dir = fakeOrt({
      'darwin/arm64/onnxruntime_binding.node': 'MACHO...@rpath/libonnxruntime.1.dylib...',
      'darwin/arm64/libonnxruntime.1.dylib': 'ORT',
      'darwin/arm64/libonnxruntime.1.30.0.dylib': 'ORT',
      'win32/x64/onnxruntime_binding.node': 'PE...onnxruntime.dll',
      'win32/x64/onnxruntime.dll': 'ORT',
      'win32/x64/DirectML.dll': 'DML',
      'linux/x64/onnxruntime_binding.node': 'ELF',
    });
    try {
      assert.deepEqual(shippedTargets(dir), ['darwin-arm64', 'linux-x64', 'win32-x64']);
      const names = (t: string) => (bindingFiles(t, dir) as string[]).map((f) => path.basename(f));
      assert.deepEqual(names('darwin-arm64'), ['libonnxruntime.1.dylib', 'onnxruntime_binding.node']);
      assert.deepEqual(names('win32-x64'), ['DirectML.dll', 'onnxruntime.dll', 'onnxruntime_binding.node']);
      assert.throws(() => bindingFiles('linux-arm64', dir), /no onnxruntime-node binding for linux-arm64/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the real node_modules ships a binding for linux-x64 (what e2e installs)', () => {
    assert.ok((shippedTargets() as string[]).includes('linux-x64'));
  });

  it('the VSIX check passes a good file list and names what is wrong in a bad one', () => {
    assert.deepEqual(checkContents(good, 'linux-arm64'), []);
    const wrongTarget = checkContents(good, 'linux-x64') as string[];
    assert.ok(wrongTarget.some((p) => /want exactly one for linux\/x64/.test(p)), wrongTarget.join('; '));
    const bad = checkContents(
      [...good, 'extension/dist/extension.js.map', 'extension/src/extension.ts', 'extension/trainer/tests/test_x.py', 'extension/node_modules/onnxruntime-web/dist/ort.min.js', 'extension/node_modules/onnxruntime-node/bin/napi-v6/win32/x64/onnxruntime_binding.node'].filter((f) => f !== 'extension/media/icon.png'),
      'linux-arm64',
    ) as string[];
    const text = bad.join('\n');
    for (const want of ['missing media/icon.png', 'extension.js.map', 'src/extension.ts', 'trainer/tests/test_x.py', 'onnxruntime-web', 'want exactly one']) assert.ok(text.includes(want), `${want} not reported in:\n${text}`);
  });
});
