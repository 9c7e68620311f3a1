import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { planSetup, runSetup } from '../../src/core/environmentSetup';

describe('trainer environment set-up', () => {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'neftune-env-'));

  it('creates a venv, installs pinned CPU torch and the trainer, then checks', () => {
    const steps = planSetup({ basePython: 'python3', folder, trainerDir: '/ext/trainer', cuda: false });
    assert.deepEqual(steps.map((s) => s.title), ['Creating the virtual environment', 'Installing PyTorch and the tested dependencies (CPU)', 'Installing the NEFTune trainer', 'Checking the environment']);
    assert.deepEqual(steps[0]!.args, ['-m', 'venv', path.join(folder, '.venv')]);
    assert.ok(steps[1]!.args.includes('/ext/trainer/requirements-cpu.txt'));
    assert.equal(steps[2]!.args.at(-1), '/ext/trainer[gguf]');
    for (const s of steps.slice(1)) assert.equal(s.command, path.join(folder, '.venv', 'bin', 'python'));
  });

  it('takes the CUDA build on a CUDA machine, and skips an existing venv', () => {
    fs.mkdirSync(path.join(folder, '.venv', 'bin'), { recursive: true });
    fs.writeFileSync(path.join(folder, '.venv', 'bin', 'python'), '');
    const steps = planSetup({ basePython: 'python3', folder, trainerDir: '/ext/trainer', cuda: true });
    assert.equal(steps[0]!.title, 'Installing PyTorch (CUDA build)');
    assert.deepEqual(steps[0]!.args.slice(-1), ['torch']);
  });

  it('runs steps in order, streams their output, and stops at the first failure', async () => {
    const lines: string[] = [];
    const titles: string[] = [];
    const node = process.execPath;
    const failed = await runSetup(
      [
        { title: 'one', command: node, args: ['-e', 'console.log("hello"); console.error("warn")'] },
        { title: 'two', command: node, args: ['-e', 'process.exit(3)'] },
        { title: 'three', command: node, args: ['-e', ''] },
      ],
      { step: (s) => titles.push(s.title), line: (l) => lines.push(l) },
    );
    assert.deepEqual(titles, ['one', 'two']);
    assert.ok(lines.includes('hello') && lines.includes('warn'), lines.join('|'));
    assert.equal(failed?.step.title, 'two');
    assert.equal(failed?.code, 3);
  });

  it('a missing command fails its step with a message, and cancel stops a running step', async () => {
    const missing = await runSetup([{ title: 'x', command: '/nonexistent/python', args: [] }], { step: () => undefined, line: () => undefined });
    assert.match(missing?.error ?? '', /ENOENT/);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const t0 = Date.now();
    const cancelled = await runSetup([{ title: 'slow', command: process.execPath, args: ['-e', 'setTimeout(() => {}, 20000)'] }], { step: () => undefined, line: () => undefined }, ac.signal);
    assert.equal(cancelled?.error, 'cancelled');
    assert.ok(Date.now() - t0 < 5000);
  });
});
