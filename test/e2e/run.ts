// Runner for the end-to-end tests: `node --import tsx test/e2e/run.ts [files...]`.
//
// 1. installs code-server into <repo>/.cache/code-server when it is not there (timed),
// 2. clears test/e2e/artifacts/,
// 3. runs the scenario files one after the other with node's test runner
//    (node 20's --test does not expand globs itself, so the files are listed here),
// 4. lists the screenshots the run took, and exits with the test runner's exit code.
//
// The packaging (`npm run package`) is done before, by the npm script; a missing VSIX
// is built by the harness. SIGINT/SIGTERM are passed on to the test runner, whose test
// files stop their code-server and browser (see cleanup.ts).

import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ARTIFACTS, E2E_DIR, REPO, ensureCodeServer, log } from './harness';

function main(): void {
  const t0 = Date.now();
  ensureCodeServer();
  if (existsSync(ARTIFACTS)) {
    for (const f of readdirSync(ARTIFACTS)) rmSync(join(ARTIFACTS, f), { recursive: true, force: true });
  }
  const args = process.argv.slice(2);
  const files = args.length
    ? args
    : readdirSync(E2E_DIR)
        .filter((f) => f.endsWith('.e2e.ts'))
        .sort()
        .map((f) => join(E2E_DIR, f));
  log(`running ${files.length} file(s): ${files.map((f) => relative(REPO, f)).join(' ')}`);

  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files],
    { cwd: REPO, stdio: 'inherit', env: { ...process.env, NEFTUNE_REPO: REPO } },
  );
  const forward = (sig: NodeJS.Signals) => () => {
    log(`${sig}: passing it on to the test runner`);
    child.kill(sig);
  };
  process.on('SIGINT', forward('SIGINT'));
  process.on('SIGTERM', forward('SIGTERM'));
  process.on('SIGHUP', forward('SIGHUP'));

  child.on('exit', (code, signal) => {
    const shots = existsSync(ARTIFACTS)
      ? readdirSync(ARTIFACTS)
          .filter((f) => f.endsWith('.png') || f.endsWith('.log'))
          .sort()
      : [];
    process.stdout.write(`\nE2E artifacts (${relative(REPO, ARTIFACTS)}/), ${shots.length} file(s):\n`);
    for (const f of shots) {
      const kb = (statSync(join(ARTIFACTS, f)).size / 1024).toFixed(0);
      process.stdout.write(`  ${f}  (${kb} KB)\n`);
    }
    // Last, so that a log that keeps only the tail (CI's) still says what failed and why.
    const digests = existsSync(ARTIFACTS) ? readdirSync(ARTIFACTS).filter((f) => f.endsWith('.digest.txt')).sort() : [];
    for (const f of digests) process.stdout.write(`\nE2E FAILED ${f.replace(/\.digest\.txt$/, '')}\n${readFileSync(join(ARTIFACTS, f), 'utf8')}`);
    process.stdout.write(`E2E total ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    process.exit(code ?? (signal ? 128 + (signal === 'SIGINT' ? 2 : 15) : 1));
  });
}

main();
