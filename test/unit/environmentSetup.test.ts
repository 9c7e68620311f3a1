import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { doctorProblems, type DoctorInfo } from '../../src/core/doctor';
import { planSetup, runSetup, stageTrainerSource, TRAINER_EXTRAS } from '../../src/core/environmentSetup';

describe('trainer environment set-up', () => {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'neftune-env-'));

  it('creates a venv, installs pinned CPU torch and the trainer, then checks', () => {
    const steps = planSetup({ basePython: 'python3', folder, trainerDir: '/ext/trainer', cuda: false });
    assert.deepEqual(steps.map((s) => s.title), ['Creating the virtual environment', 'Installing PyTorch and the tested dependencies (CPU)', 'Installing the NEFTune trainer', 'Checking the environment']);
    assert.deepEqual(steps[0]!.args, ['-m', 'venv', path.join(folder, '.venv')]);
    assert.ok(steps[1]!.args.includes('/ext/trainer/requirements-cpu.txt'));
    assert.equal(steps[2]!.args.at(-1), '/ext/trainer[gguf,export,eval]');
    for (const s of steps.slice(1)) assert.equal(s.command, path.join(folder, '.venv', 'bin', 'python'));
  });

  it('takes the CUDA build on a CUDA machine, and skips an existing venv', () => {
    fs.mkdirSync(path.join(folder, '.venv', 'bin'), { recursive: true });
    fs.writeFileSync(path.join(folder, '.venv', 'bin', 'python'), '');
    const steps = planSetup({ basePython: 'python3', folder, trainerDir: '/ext/trainer', cuda: true });
    assert.equal(steps[0]!.title, 'Installing PyTorch (CUDA build)');
    assert.deepEqual(steps[0]!.args.slice(-1), ['torch']);
    // No pinned file there: the trainer's extras bring the export and eval packages.
    assert.equal(steps[1]!.args.at(-1), '/ext/trainer[gguf,export,eval]');
  });

  it('the extras named are those trainer/pyproject.toml declares', () => {
    const toml = fs.readFileSync(path.join(__dirname, '..', '..', 'trainer', 'pyproject.toml'), 'utf8');
    const section = toml.split('[project.optional-dependencies]')[1]!.split(/^\[/m)[0]!;
    const declared = [...section.matchAll(/^([a-z0-9_-]+)\s*=/gm)].map((m) => m[1]);
    for (const e of TRAINER_EXTRAS) assert.ok(declared.includes(e), `extra ${e} not in pyproject.toml (${declared.join(', ')})`);
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

describe('environment check: packages of one feature', () => {
  const info = (packages: Record<string, string | null>): DoctorInfo => ({ python: '3.11', torch: '2.13.0', packages: { 'neftune-trainer': '0.1', transformers: '5', accelerate: '1', safetensors: '0.8', pyyaml: '6', jsonschema: '4', ...packages } });

  it('names the feature a missing package is for, and the fix', () => {
    const problems = doctorProblems(info({ onnx: null, onnxruntime: '1.32', 'onnxruntime-genai': '0.18', onnxscript: '0.7', 'rouge-score': null }));
    assert.equal(problems.length, 2);
    assert.match(problems[0]!, /onnx is missing: Export for chat needs it \(training does not\)\. Fix: run "NEFTune: Set up trainer environment"/);
    assert.match(problems[1]!, /rouge-score is missing: Evaluate run/);
  });

  it('says nothing of packages an older trainer does not report', () => {
    assert.deepEqual(doctorProblems(info({})), []);
  });
});

describe('the trainer source pip builds from', () => {
  it('is a copy in a temporary folder, without earlier build leftovers; the original is untouched', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'neftune-stage-'));
    const src = path.join(root, 'ext', 'trainer');
    fs.mkdirSync(path.join(src, 'neftune_trainer', '__pycache__'), { recursive: true });
    fs.mkdirSync(path.join(src, 'build', 'lib'), { recursive: true });
    fs.mkdirSync(path.join(src, 'neftune_trainer.egg-info'), { recursive: true });
    fs.writeFileSync(path.join(src, 'pyproject.toml'), '[project]\nname = "neftune-trainer"\n');
    fs.writeFileSync(path.join(src, 'neftune_trainer', '__init__.py'), '');
    fs.chmodSync(src, 0o555); // an installed extension's folder may be read-only
    try {
      const staged = stageTrainerSource(src, root);
      assert.notEqual(staged, src);
      assert.ok(fs.existsSync(path.join(staged, 'pyproject.toml')));
      assert.ok(fs.existsSync(path.join(staged, 'neftune_trainer', '__init__.py')));
      for (const gone of ['build', 'neftune_trainer.egg-info', path.join('neftune_trainer', '__pycache__')]) assert.ok(!fs.existsSync(path.join(staged, gone)), gone);
      fs.writeFileSync(path.join(staged, 'written-by-pip'), ''); // the copy is writable
      assert.deepEqual(fs.readdirSync(src).sort(), ['build', 'neftune_trainer', 'neftune_trainer.egg-info', 'pyproject.toml']);
    } finally {
      fs.chmodSync(src, 0o755);
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('a trainer folder without pyproject.toml is an error saying so', () => {
    assert.throws(() => stageTrainerSource(path.join(os.tmpdir(), 'no-such-trainer')), /has no pyproject\.toml.*reinstall the extension/);
  });
});
