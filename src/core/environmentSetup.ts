// "Set up trainer environment": a venv with PyTorch, the trainer package and its dependencies.
// A plan of commands (each spawned without a shell), run one after the other with their output
// streamed line by line, and cancellable.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LineSplitter } from './lineSplitter';
import { trainerArgv } from './trainerCli';
import { venvPython } from './pythonInterpreter';

export interface SetupStep {
  readonly title: string;
  readonly command: string;
  readonly args: readonly string[];
}

export interface SetupOptions {
  /** A Python 3.9+ to create the venv with (python3 on PATH, or the Python extension's). */
  readonly basePython: string;
  /** The folder that holds (or will hold) `.venv`. */
  readonly folder: string;
  /** The extension's `trainer/` folder (pyproject.toml). */
  readonly trainerDir: string;
  /** A CUDA GPU is present (nvidia-smi answered): take PyPI's default (CUDA) torch build. */
  readonly cuda: boolean;
}

/** The trainer's optional dependency groups (trainer/pyproject.toml) that the extension uses. */
export const TRAINER_EXTRAS = ['gguf', 'export', 'eval'] as const;

export function planSetup(o: SetupOptions): SetupStep[] {
  const py = venvPython(o.folder);
  const steps: SetupStep[] = [];
  if (!fs.existsSync(py)) steps.push({ title: 'Creating the virtual environment', command: o.basePython, args: ['-m', 'venv', path.join(o.folder, '.venv')] });
  const pip = (title: string, ...args: string[]): SetupStep => ({ title, command: py, args: ['-m', 'pip', 'install', '--disable-pip-version-check', ...args] });
  const pinned = path.join(o.trainerDir, 'requirements-cpu.txt');
  if (o.cuda) {
    // PyPI's default Linux build of torch is the CUDA one.
    steps.push(pip('Installing PyTorch (CUDA build)', 'torch'));
  } else {
    // Pinned: an unpinned torch pulls a newer multi-GB build; these versions are the tested ones.
    steps.push(pip('Installing PyTorch and the tested dependencies (CPU)', '-r', pinned));
  }
  // With what Export for chat (ONNX) and Evaluate run (ROUGE-L) need: a CUDA machine gets no
  // pinned file, so the extras bring them there.
  steps.push(pip('Installing the NEFTune trainer', `${o.trainerDir}[${TRAINER_EXTRAS.join(',')}]`));
  steps.push({ title: 'Checking the environment', command: py, args: trainerArgv('doctor') });
  return steps;
}

/**
 * A copy of the extension's trainer source in a fresh temporary folder, for pip to build from:
 * pip builds in the source tree (build/, *.egg-info), and an installed extension's folder may be
 * read-only, or shared by several windows. Leftovers of an earlier build are not copied. The
 * caller removes the copy (fs.rmSync(dir, { recursive: true })).
 */
export function stageTrainerSource(trainerDir: string, tmpRoot = os.tmpdir()): string {
  if (!fs.existsSync(path.join(trainerDir, 'pyproject.toml'))) throw new Error(`${trainerDir} has no pyproject.toml: the extension's trainer folder is incomplete (reinstall the extension)`);
  const dir = fs.mkdtempSync(path.join(tmpRoot, 'neftune-trainer-src-'));
  const skip = new Set(['build', 'dist', '__pycache__', '.pytest_cache']);
  fs.cpSync(trainerDir, dir, { recursive: true, filter: (src) => !skip.has(path.basename(src)) && !src.endsWith('.egg-info') });
  return dir;
}

/** Runs the steps in order; resolves with the failing step, or null when all succeeded. */
export async function runSetup(
  steps: readonly SetupStep[],
  on: { step(s: SetupStep, index: number): void; line(text: string): void },
  signal?: AbortSignal,
): Promise<{ step: SetupStep; code: number | null; error?: string } | null> {
  for (const [i, s] of steps.entries()) {
    if (signal?.aborted) return { step: s, code: null, error: 'cancelled' };
    on.step(s, i);
    on.line(`$ ${s.command} ${s.args.join(' ')}`);
    const result = await new Promise<{ code: number | null; error?: string }>((resolve) => {
      const child = spawn(s.command, [...s.args], { shell: false, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PIP_NO_INPUT: '1' } });
      const out = new LineSplitter();
      const err = new LineSplitter();
      child.stdout.on('data', (b: Buffer) => out.push(b).forEach(on.line));
      child.stderr.on('data', (b: Buffer) => err.push(b).forEach(on.line));
      const abort = (): void => void child.kill('SIGTERM');
      signal?.addEventListener('abort', abort, { once: true });
      child.once('error', (e) => resolve({ code: null, error: e.message }));
      child.once('close', (code) => {
        signal?.removeEventListener('abort', abort);
        [...out.end(), ...err.end()].forEach(on.line); // a last line without its newline
        resolve(signal?.aborted ? { code, error: 'cancelled' } : { code });
      });
    });
    if (result.code !== 0) return { step: s, ...result };
  }
  return null;
}
