// What THIRD_PARTY_NOTICES.md is generated from, read from the tree: esbuild's inputs for the
// entry points of esbuild.mjs (a metafile, nothing written), the node_modules files .vscodeignore
// lets into the VSIX, each package's package.json and LICENSE, and the trainer's requirements.
// Shared by scripts/gen-notices.ts and test/unit/thirdPartyNotices.test.ts.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import { esbuildConfig, packageDirOf, packagedFiles, packagedModuleNames, parseRequirements, pyprojectGroups, type NoticesInput, type NpmPackage } from '../src/core/thirdPartyNotices';

function walk(dir: string, base: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? walk(p, base) : [path.relative(base, p).split(path.sep).join('/')];
  });
}

function repositoryOf(pkg: { repository?: string | { url?: string }; homepage?: string }): string | undefined {
  const r = typeof pkg.repository === 'string' ? pkg.repository : pkg.repository?.url ?? pkg.homepage;
  if (!r) return undefined;
  const url = r.replace(/^git\+/, '').replace(/\.git$/, '').replace(/^github:/, 'https://github.com/');
  return /^[\w.-]+\/[\w.-]+$/.test(url) ? `https://github.com/${url}` : url.replace(/^http:/, 'https:');
}

function readPackage(repo: string, dir: string, bundles: string[], files?: string[]): NpmPackage {
  const abs = path.join(repo, dir);
  const pkg = JSON.parse(fs.readFileSync(path.join(abs, 'package.json'), 'utf8')) as { name: string; version: string; license?: string; repository?: string | { url?: string }; homepage?: string };
  const licenseFile = fs.readdirSync(abs).find((f) => /^(licen[cs]e|copying)(\.(md|txt))?$/i.test(f));
  const repository = repositoryOf(pkg);
  return {
    name: pkg.name,
    version: pkg.version,
    license: pkg.license ?? 'UNKNOWN',
    ...(repository ? { repository } : {}),
    ...(licenseFile ? { licenseText: fs.readFileSync(path.join(abs, licenseFile), 'utf8') } : {}),
    bundles,
    ...(files ? { files } : {}),
  };
}

/** The bundled npm package folders, each with the dist/ outputs it is compiled into. */
export async function bundledPackages(repo: string): Promise<Map<string, string[]>> {
  const { entries, external } = esbuildConfig(fs.readFileSync(path.join(repo, 'esbuild.mjs'), 'utf8'));
  if (entries.length === 0) throw new Error('esbuild.mjs: no entryPoints found');
  const byDir = new Map<string, Set<string>>();
  for (const entry of entries) {
    const result = await esbuild.build({
      absWorkingDir: repo, entryPoints: [entry.input], bundle: true, write: false, metafile: true, outdir: 'out', logLevel: 'silent',
      platform: entry.input.startsWith('src/') ? 'node' : 'browser', external,
    });
    for (const input of Object.keys(result.metafile.inputs)) {
      const dir = packageDirOf(input);
      if (dir) (byDir.get(dir) ?? byDir.set(dir, new Set()).get(dir)!).add(entry.output);
    }
  }
  return new Map([...byDir].map(([d, s]) => [d, [...s].sort()]));
}

export async function noticesInput(repo: string): Promise<NoticesInput> {
  const npm: NpmPackage[] = [];
  for (const [dir, bundles] of await bundledPackages(repo)) npm.push(readPackage(repo, dir, bundles));
  const ignore = fs.readFileSync(path.join(repo, '.vscodeignore'), 'utf8');
  for (const name of packagedModuleNames(ignore)) {
    const dir = `node_modules/${name}`;
    const files = packagedFiles(ignore, walk(path.join(repo, dir), repo)).map((f) => f.slice(dir.length + 1));
    npm.push(readPackage(repo, dir, [], files));
  }
  const python = parseRequirements(fs.readFileSync(path.join(repo, 'trainer', 'requirements-cpu.txt'), 'utf8'));
  const pythonGroups = pyprojectGroups(fs.readFileSync(path.join(repo, 'trainer', 'pyproject.toml'), 'utf8'));
  // The same files the packager stages per target (scripts/package-vsix.mjs).
  // @ts-expect-error: a plain ES module script without type declarations
  const { bindingFiles, shippedTargets } = (await import('./package-vsix.mjs')) as { bindingFiles(t: string, repo?: string): string[]; shippedTargets(repo?: string): string[] };
  const targets = shippedTargets(repo).map((target) => ({ target, files: bindingFiles(target, repo).map((f) => path.basename(f)) }));
  return { npm, python, pythonGroups, targets };
}
