// `node dist/cli.js chat --model DIR --prompt TEXT [...]`: one prompt through the chat engine
// child, the answer streamed to stdout (nothing else goes there), figures to stderr with --stats.
import * as path from 'node:path';
import { ChannelError } from '../jsonLinesChannel';
import { DEFAULT_GENERATION, ENGINE_ERROR, PRECISIONS, type GenerationSettings, type Precision } from '../../protocol/chatEngine';
import { ChatEngineClient } from './engineClient';

export const CHAT_USAGE =
  'chat --model DIR --prompt TEXT [--system TEXT] [--precision fp32|int8|int4] [--greedy] [--max-new-tokens N] [--temperature T] [--top-k K] [--top-p P] [--repetition-penalty R] [--seed S] [--stop TEXT]... [--threads N] [--stats]';

/** Exit codes: 0 answered, 1 the engine failed while generating, 2 bad arguments or a bad model folder. */
const OK = 0;
const FAILED = 1;
const BAD_INPUT = 2;

interface ChatArgs {
  model: string;
  prompt: string;
  system?: string;
  precision?: Precision;
  threads?: number;
  stats: boolean;
  settings: GenerationSettings;
}

export class ArgError extends Error {}

export function parseChatArgs(argv: readonly string[]): ChatArgs {
  const s: { -readonly [K in keyof GenerationSettings]: GenerationSettings[K] } = { ...DEFAULT_GENERATION, stop: [] };
  const out: Partial<ChatArgs> = { stats: false };
  const stop: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new ArgError(`${a} needs a value`);
      return v;
    };
    const num = (min: number, max = Infinity, integer = false): number => {
      const raw = value();
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
        throw new ArgError(`${a}: ${JSON.stringify(raw)} is not ${integer ? 'an integer' : 'a number'} ${max === Infinity ? `>= ${min}` : `in [${min}, ${max}]`}`);
      }
      return n;
    };
    switch (a) {
      case '--model':
        out.model = value();
        break;
      case '--prompt':
        out.prompt = value();
        break;
      case '--system':
        out.system = value();
        break;
      case '--precision': {
        const p = value();
        if (!PRECISIONS.includes(p as Precision)) throw new ArgError(`--precision: ${JSON.stringify(p)} is not one of ${PRECISIONS.join(', ')}`);
        out.precision = p as Precision;
        break;
      }
      case '--greedy':
        s.greedy = true;
        break;
      case '--max-new-tokens':
        s.maxNewTokens = num(1, Infinity, true);
        break;
      case '--temperature':
        s.temperature = num(0);
        break;
      case '--top-k':
        s.topK = num(0, Infinity, true);
        break;
      case '--top-p':
        s.topP = num(Number.MIN_VALUE, 1);
        break;
      case '--repetition-penalty':
        s.repetitionPenalty = num(Number.MIN_VALUE);
        break;
      case '--seed':
        s.seed = num(-(2 ** 31), 2 ** 32 - 1, true);
        break;
      case '--stop':
        stop.push(value());
        break;
      case '--threads':
        out.threads = num(1, 1024, true);
        break;
      case '--stats':
        out.stats = true;
        break;
      default:
        throw new ArgError(`unknown option ${JSON.stringify(a)}`);
    }
  }
  if (!out.model) throw new ArgError('--model DIR (an export folder) is required');
  if (out.prompt === undefined) throw new ArgError('--prompt TEXT is required');
  s.stop = stop;
  return { ...(out as ChatArgs), settings: s };
}

export async function chatCommand(argv: readonly string[], stdout: NodeJS.WritableStream, stderr: NodeJS.WritableStream, enginePath?: string): Promise<number> {
  let args: ChatArgs;
  try {
    args = parseChatArgs(argv);
  } catch (e) {
    if (!(e instanceof ArgError)) throw e;
    stderr.write(`chat: ${e.message}\nusage: node dist/cli.js ${CHAT_USAGE}\n`);
    return BAD_INPUT;
  }
  const client = new ChatEngineClient(enginePath ? { enginePath } : {});
  const streamId = 'cli';
  let interrupted = false;
  const onSigint = (): void => {
    // First Ctrl-C: stop the answer (what came so far stays printed); a second one: the default.
    if (interrupted) process.exit(130);
    interrupted = true;
    void client.stop(streamId).catch(() => undefined);
  };
  process.on('SIGINT', onSigint);
  try {
    const loaded = await client.load({ modelDir: path.resolve(args.model), ...(args.precision ? { precision: args.precision } : {}), ...(args.threads ? { threads: args.threads } : {}) });
    const messages = [...(args.system !== undefined ? [{ role: 'system' as const, content: args.system }] : []), { role: 'user' as const, content: args.prompt }];
    const result = await client.generate({ modelId: loaded.modelId, streamId, messages, settings: args.settings }, { onToken: (t) => stdout.write(t.text) });
    stdout.write('\n');
    if (args.stats) {
      const { text: _text, ...figures } = result;
      stderr.write(`${JSON.stringify({ load: loaded, generate: figures })}\n`);
    }
    return interrupted ? 130 : OK;
  } catch (e) {
    if (e instanceof ChannelError && e.kind === 'remote') {
      stderr.write(`chat: ${e.message}\n`);
      return e.code === ENGINE_ERROR.badModel || e.code === ENGINE_ERROR.badParams || e.code === ENGINE_ERROR.tooLong ? BAD_INPUT : FAILED;
    }
    stderr.write(`chat: the engine failed: ${e instanceof Error ? e.message : String(e)}\n`);
    return FAILED;
  } finally {
    process.off('SIGINT', onSigint);
    await client.dispose();
  }
}
