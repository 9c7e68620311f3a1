#!/usr/bin/env node
// `npm run package [-- --target T[,T…]|all] [--out FILE]`: production bundles, then one VSIX per
// platform with `vsce package --target T`.
//
// Why a script: the chat engine needs onnxruntime-node's native binding, which is 25-86 MB per
// platform; a VSIX should carry its own platform's only. .vscodeignore cannot vary per target,
// so for each target a copy of it with the linux-x64 binding line pointed at that target's
// folder is passed to vsce (--ignoreFile). Each VSIX is then read back and checked (no sources,
// tests or source maps; exactly its platform's binding; the trainer package), and its size and
// contents are printed.
//
// No target: linux-x64, written to dist/neftune-studio.vsix (what test/e2e installs).
// A target: dist/neftune-studio-<target>.vsix. `all`: every platform onnxruntime-node ships.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { inflateRawSync } from 'node:zlib';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ORT_BIN = 'node_modules/onnxruntime-node/bin';
/** The line of .vscodeignore that lets the default (linux-x64) binding in. */
export const BINDING_LINE = '!node_modules/onnxruntime-node/bin/napi-v*/linux/x64/**';
export const DEFAULT_TARGET = 'linux-x64';
/** vsce's targets whose platform/arch names match Node's (alpine is musl: onnxruntime ships glibc only). */
const VSCE_TARGETS = ['win32-x64', 'win32-arm64', 'linux-x64', 'linux-arm64', 'linux-armhf', 'darwin-x64', 'darwin-arm64'];

/** Targets onnxruntime-node has a binding for: bin/napi-v*\/<platform>/<arch>/onnxruntime_binding.node. */
export function shippedTargets(repo = REPO) {
  const bin = path.join(repo, ORT_BIN);
  const found = new Set();
  for (const napi of fs.readdirSync(bin).filter((d) => d.startsWith('napi-v'))) {
    for (const platform of fs.readdirSync(path.join(bin, napi))) {
      for (const arch of fs.readdirSync(path.join(bin, napi, platform))) {
        if (fs.existsSync(path.join(bin, napi, platform, arch, 'onnxruntime_binding.node'))) found.add(`${platform}-${arch}`);
      }
    }
  }
  return [...found].filter((t) => VSCE_TARGETS.includes(t)).sort();
}

/**
 * The files of `target`'s binding folder(s) that the VSIX needs, relative to the repository.
 * npm unpacks the release's symlinks as copies (darwin: libonnxruntime.1.30.0.dylib next to the
 * identical libonnxruntime.1.dylib, 43 MB each): of identical files only the ones the binding
 * names (its load commands) are kept.
 */
export function bindingFiles(target, repo = REPO) {
  const [platform, arch] = target.split('-');
  const bin = path.join(repo, ORT_BIN);
  const out = [];
  for (const napi of fs.readdirSync(bin).filter((d) => d.startsWith('napi-v'))) {
    const dir = path.join(bin, napi, platform, arch);
    if (!fs.existsSync(path.join(dir, 'onnxruntime_binding.node'))) continue;
    const names = fs.readdirSync(dir).filter((f) => fs.statSync(path.join(dir, f)).isFile());
    const binding = fs.readFileSync(path.join(dir, 'onnxruntime_binding.node'));
    const bytes = new Map(names.map((f) => [f, fs.readFileSync(path.join(dir, f))]));
    const keep = names.filter((f) => {
      const twins = names.filter((g) => g !== f && bytes.get(g).equals(bytes.get(f)));
      if (twins.length === 0) return true;
      const named = (n) => binding.includes(Buffer.from(n));
      // A copy the binding does not name, of a file it does: left out.
      return named(f) || !twins.some(named);
    });
    out.push(...keep.map((f) => `${ORT_BIN}/${napi}/${platform}/${arch}/${f}`));
  }
  if (!out.length) throw new Error(`no onnxruntime-node binding for ${target} under ${ORT_BIN}`);
  return out.sort();
}

/** .vscodeignore's text with the (linux-x64) binding line replaced by `files` (bindingFiles). */
export function ignoreFileFor(base, target, files) {
  const lines = base.split('\n');
  const i = lines.findIndex((l) => l.trim() === BINDING_LINE);
  if (i < 0) throw new Error(`.vscodeignore: no line "${BINDING_LINE}" to point at the ${target} binding`);
  lines.splice(i, 1, ...files.map((f) => `!${f}`));
  return lines.join('\n');
}

/** Entries of a zip file (its central directory): name, compressed and uncompressed size. */
export function zipEntries(buf) {
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 0xffff); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error('not a zip file (no end of central directory)');
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const out = [];
  for (let n = 0; n < count; n++) {
    if (buf.readUInt32LE(p) !== 0x02014b50) throw new Error(`zip: bad central directory entry ${n}`);
    const method = buf.readUInt16LE(p + 10);
    const compressed = buf.readUInt32LE(p + 20);
    const size = buf.readUInt32LE(p + 24);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    const local = buf.readUInt32LE(p + 42);
    const name = buf.toString('utf8', p + 46, p + 46 + nameLen);
    out.push({ name, size, compressed, method, local });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}

/** The bytes of one entry (stored or deflated). */
export function zipRead(buf, entry) {
  const p = entry.local;
  const start = p + 30 + buf.readUInt16LE(p + 26) + buf.readUInt16LE(p + 28);
  const data = buf.subarray(start, start + entry.compressed);
  return entry.method === 0 ? data : inflateRawSync(data);
}

/** What must and must not be in the VSIX for `target`; returns the problems (empty: fine). */
export function checkContents(names, target) {
  const problems = [];
  const files = names.filter((n) => n.startsWith('extension/')).map((n) => n.slice('extension/'.length));
  const [platform, arch] = target.split('-');
  for (const need of ['package.json', 'dist/extension.js', 'dist/chatEngine.js', 'dist/cli.js', 'trainer/pyproject.toml', 'trainer/neftune_trainer/__init__.py', 'trainer/neftune_trainer/schemas/run-config.schema.json', 'node_modules/onnxruntime-node/dist/index.js', 'node_modules/onnxruntime-common/dist/cjs/index.js', 'media/icon.png', 'changelog.md', 'THIRD_PARTY_NOTICES.md']) {
    if (!files.includes(need)) problems.push(`missing ${need}`);
  }
  const bindings = files.filter((f) => f.endsWith('onnxruntime_binding.node'));
  const want = new RegExp(`^node_modules/onnxruntime-node/bin/napi-v\\d+/${platform}/${arch}/onnxruntime_binding\\.node$`);
  if (bindings.length !== 1 || !want.test(bindings[0])) problems.push(`onnxruntime bindings ${JSON.stringify(bindings)}, want exactly one for ${platform}/${arch}`);
  const unwanted = files.filter(
    (f) =>
      /\.map$|\.tsx?$|(^|\/)__pycache__\/|\.pyc$|^test\/|^trainer\/tests\/|^src\/|^webview\/|^scripts\/|^bench\/|^\.cache\/|\.vsix$/.test(f) ||
      (/^node_modules\//.test(f) && !/^node_modules\/onnxruntime-(node|common)\//.test(f)),
  );
  if (unwanted.length) problems.push(`unwanted files: ${unwanted.slice(0, 10).join(', ')}${unwanted.length > 10 ? ` and ${unwanted.length - 10} more` : ''}`);
  return problems;
}

const mb = (n) => `${(n / 1024 / 1024).toFixed(1)} MB`;

/** Uncompressed size per part of the extension, for the summary. */
export function summarize(entries) {
  const parts = new Map();
  for (const e of entries) {
    if (!e.name.startsWith('extension/')) continue;
    const f = e.name.slice('extension/'.length);
    const part = f.startsWith('node_modules/onnxruntime-node/bin/')
      ? 'onnxruntime-node native binding'
      : f.startsWith('node_modules/')
        ? 'onnxruntime-node/-common JS'
        : f.startsWith('dist/webview/')
          ? 'dist/webview (webview bundles)'
          : f.startsWith('dist/')
            ? 'dist (extension, chat engine, CLI bundles)'
            : f.startsWith('trainer/')
              ? 'trainer (Python package)'
              : f.startsWith('media/')
                ? 'media (icons, walkthrough, screenshots)'
                : 'package.json, README, LICENSE, CHANGELOG, notices';
    const p = parts.get(part) ?? { files: 0, size: 0 };
    p.files += 1;
    p.size += e.size;
    parts.set(part, p);
  }
  return [...parts.entries()].sort((a, b) => b[1].size - a[1].size);
}

function parseArgs(argv) {
  let targets = [];
  let out;
  let build = true;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--target' || a === '-t') targets.push(...value().split(','));
    else if (a.startsWith('--target=')) targets.push(...a.slice('--target='.length).split(','));
    else if (a === '--out' || a === '-o') out = value();
    else if (a === '--no-build') build = false;
    else throw new Error(`unknown argument ${a} (use --target T[,T…]|all, --out FILE, --no-build)`);
  }
  const shipped = shippedTargets();
  if (targets.includes('all')) targets = shipped;
  for (const t of targets) {
    if (!shipped.includes(t)) throw new Error(`--target ${t}: onnxruntime-node ships no binding for it; targets: ${shipped.join(', ')}, all`);
  }
  if (out && targets.length > 1) throw new Error('--out names one VSIX: give one target');
  return { targets, out, build };
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: REPO, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${path.basename(cmd)} ${args.join(' ')} exited with ${r.status ?? r.signal}`);
}

function main() {
  const { targets, out, build } = parseArgs(process.argv.slice(2));
  const jobs = targets.length
    ? targets.map((t) => ({ target: t, file: out ?? path.join('dist', `neftune-studio-${t}.vsix`) }))
    : [{ target: DEFAULT_TARGET, file: out ?? path.join('dist', 'neftune-studio.vsix') }];
  if (build) {
    // A clean dist/ (earlier VSIXs stay): a dev build's source maps or an old bundle must not end up in a VSIX.
    const dist = path.join(REPO, 'dist');
    for (const f of fs.existsSync(dist) ? fs.readdirSync(dist) : []) {
      if (!f.endsWith('.vsix')) fs.rmSync(path.join(dist, f), { recursive: true, force: true });
    }
    run(process.execPath, ['esbuild.mjs', '--production']);
  }
  const vsce = path.join(path.dirname(createRequire(import.meta.url).resolve('@vscode/vsce/package.json')), 'vsce');
  const base = fs.readFileSync(path.join(REPO, '.vscodeignore'), 'utf8');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'neftune-vsix-'));
  const results = [];
  try {
    for (const { target, file } of jobs) {
      const ignore = path.join(tmp, `vscodeignore-${target}`);
      fs.writeFileSync(ignore, ignoreFileFor(base, target, bindingFiles(target)));
      const dest = path.resolve(REPO, file);
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      console.log(`\n== ${target}: vsce package --target ${target} -> ${path.relative(REPO, dest)}`);
      run(process.execPath, [vsce, 'package', '--target', target, '--ignoreFile', ignore, '--allow-missing-repository', '--no-rewrite-relative-links', '-o', dest]);
      const buf = fs.readFileSync(dest);
      const entries = zipEntries(buf);
      const manifest = zipRead(buf, entries.find((e) => e.name === 'extension.vsixmanifest')).toString('utf8');
      const problems = checkContents(entries.map((e) => e.name), target);
      if (!manifest.includes(`TargetPlatform="${target}"`)) problems.push(`extension.vsixmanifest has no TargetPlatform="${target}"`);
      if (problems.length) throw new Error(`${path.relative(REPO, dest)}:\n  ${problems.join('\n  ')}`);
      console.log(`${path.relative(REPO, dest)}: ${mb(buf.length)} (${entries.length} files, ${mb(entries.reduce((s, e) => s + e.size, 0))} unpacked)`);
      for (const [part, p] of summarize(entries)) console.log(`  ${part.padEnd(44)} ${String(p.files).padStart(4)} files ${mb(p.size).padStart(9)}`);
      results.push({ target, file: path.relative(REPO, dest), size: buf.length, files: entries.length });
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  if (results.length > 1) {
    console.log('\n| target | VSIX | size | files |\n| --- | --- | ---: | ---: |');
    for (const r of results) console.log(`| ${r.target} | ${r.file} | ${mb(r.size)} | ${r.files} |`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  try {
    main();
  } catch (e) {
    console.error(`package-vsix: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  }
}
