// THIRD_PARTY_NOTICES.md is what scripts/gen-notices.ts writes from what ships, and what ships is
// read correctly: esbuild.mjs's entries, .vscodeignore as vsce applies it, the requirements.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { esbuildConfig, NOTICES_COMMAND, packageDirOf, packagedFiles, packagedModuleNames, parseRequirements, pyprojectGroups, REDISTRIBUTABLES, renderNotices, unlicensedRequirements } from '../../src/core/thirdPartyNotices';
import { noticesInput } from '../../scripts/noticesInput';

const repo = path.resolve(__dirname, '..', '..');

describe('third-party notices', () => {
  it('THIRD_PARTY_NOTICES.md is up to date', async () => {
    const input = await noticesInput(repo);
    const file = path.join(repo, 'THIRD_PARTY_NOTICES.md');
    const onDisk = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    assert.ok(onDisk === renderNotices(input), `THIRD_PARTY_NOTICES.md is stale (or missing): regenerate it with \`${NOTICES_COMMAND}\``);
  });

  it('lists what the bundles and the VSIX really hold, each with a license', async () => {
    const input = await noticesInput(repo);
    const names = input.npm.map((p) => p.name);
    // The runtime dependencies of package.json are all reached from an entry point.
    const deps = Object.keys((JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies);
    for (const d of deps) assert.ok(names.includes(d), `${d} (a dependency) is neither bundled nor shipped`);
    // Nothing only the tests and benchmarks use.
    for (const dev of ['chart.js', 'playwright-core', 'typescript', 'esbuild', 'tsx']) assert.ok(!names.includes(dev), `${dev} is a devDependency`);
    for (const p of input.npm) assert.ok(p.license && p.license !== 'UNKNOWN', `${p.name}: no license`);
    const ort = input.npm.find((p) => p.name === 'onnxruntime-node');
    assert.ok(ort && ort.bundles.length === 0 && (ort.files ?? []).some((f) => /linux\/x64\/onnxruntime_binding\.node$/.test(f)), 'onnxruntime-node ships as a node_modules folder with its linux-x64 binding');
    assert.ok(!(ort.files ?? []).some((f) => f.includes('/darwin/') || f.includes('/win32/')), 'other platforms\' binaries stay out of the VSIX');
    assert.deepEqual(unlicensedRequirements(input.python), [], 'add the license of each new requirement to PYTHON_LICENSES');
    assert.ok(input.python.some((r) => r.name === 'torch') && input.python.some((r) => r.name === 'onnxruntime-genai'));
  });

  it('names every native file of every per-platform VSIX, and whose each non-ONNX-Runtime one is', async () => {
    const input = await noticesInput(repo);
    const targets = input.targets ?? [];
    assert.ok(targets.some((t) => t.target === 'linux-x64') && targets.some((t) => t.target.startsWith('win32')), JSON.stringify(targets.map((t) => t.target)));
    const text = renderNotices(input);
    for (const t of targets) {
      for (const f of t.files) {
        assert.ok(text.includes(f), `${t.target}: ${f} is not in the notices`);
        // A native file that is neither ONNX Runtime nor its binding needs its owner and license named.
        if (!/^(lib)?onnxruntime|^onnxruntime_binding\.node$/.test(f)) assert.ok(REDISTRIBUTABLES[f], `${t.target}: ${f} ships without a named owner and license (REDISTRIBUTABLES)`);
      }
    }
  });

  it('reads esbuild.mjs: each entry with its output, and the externals', () => {
    const { entries, external } = esbuildConfig(fs.readFileSync(path.join(repo, 'esbuild.mjs'), 'utf8'));
    assert.deepEqual(entries.find((e) => e.input === 'src/extension.ts'), { input: 'src/extension.ts', output: 'dist/extension.js' });
    assert.deepEqual(entries.find((e) => e.input === 'webview/dashboard/dashboard.css'), { input: 'webview/dashboard/dashboard.css', output: 'dist/webview/dashboard.css' });
    assert.ok(external.includes('onnxruntime-node') && external.includes('vscode'));
    assert.throws(() => esbuildConfig("build({ entryPoints: ['a.ts'], bundle: true, outfile: 'x.js' })"), /esbuild\.mjs: 1 entryPoints but only 0/);
  });

  it('applies .vscodeignore as vsce does (any ! pattern lets a file back in, whatever the order)', () => {
    const ignore = '**\n!node_modules/ort/bin/*/linux/x64/**\n!node_modules/ort/package.json\n**/*.map\n!node_modules/@s/p/index.js\n';
    const files = ['node_modules/ort/package.json', 'node_modules/ort/bin/napi-v6/linux/x64/lib.so.1', 'node_modules/ort/bin/napi-v6/darwin/arm64/lib.dylib', 'node_modules/ort/README.md'];
    assert.deepEqual(packagedFiles(ignore, files), ['node_modules/ort/package.json', 'node_modules/ort/bin/napi-v6/linux/x64/lib.so.1']);
    assert.deepEqual(packagedModuleNames(ignore), ['ort', '@s/p']);
    assert.equal(packageDirOf('node_modules/ajv/node_modules/fast-uri/index.js'), 'node_modules/ajv/node_modules/fast-uri');
    assert.equal(packageDirOf('node_modules/@huggingface/jinja/dist/index.js'), 'node_modules/@huggingface/jinja');
    assert.equal(packageDirOf('src/core/x.ts'), null);
  });

  it('reads pinned requirements and the pyproject groups', () => {
    assert.deepEqual(parseRequirements('# c\ntorch==2.13.0\n\nPyYAML==6.0.3  # yaml\n'), [{ name: 'torch', version: '2.13.0' }, { name: 'pyyaml', version: '6.0.3' }]);
    assert.throws(() => parseRequirements('torch>=2\n'), /expected NAME==VERSION, got "torch>=2"/);
    const g = pyprojectGroups('[project]\ndependencies = [\n    "torch>=2.3",\n]\n[project.optional-dependencies]\nexport = ["onnx>=1.17"]\n[tool.x]\ny = ["z"]\n');
    assert.deepEqual([...g], [['torch', 'trainer'], ['onnx', 'trainer[export]']]);
    assert.deepEqual(unlicensedRequirements([{ name: 'torch', version: '1' }, { name: 'left-pad', version: '1' }]), ['left-pad']);
  });
});
