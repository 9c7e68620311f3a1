// The chat settings (package.json `contributes.configuration`, neftune.chat.*): the generation
// defaults of the panel's settings pane, "Ask the tuned model" and @neftune, and how the engine
// loads a model.
import * as vscode from 'vscode';
import { DEFAULT_GENERATION, type GenerationSettings, type LoadParams } from '../protocol/chatEngine';
import { isGenerationSettings } from '../protocol/chatMessages';

export function chatGenerationDefaults(): GenerationSettings {
  const cfg = vscode.workspace.getConfiguration('neftune.chat');
  const d = DEFAULT_GENERATION;
  const stop = cfg.get<unknown>('stop', d.stop);
  const s: GenerationSettings = {
    maxNewTokens: Math.floor(cfg.get<number>('maxNewTokens', d.maxNewTokens)),
    greedy: cfg.get<boolean>('greedy', d.greedy),
    temperature: cfg.get<number>('temperature', d.temperature),
    topK: Math.floor(cfg.get<number>('topK', d.topK)),
    topP: cfg.get<number>('topP', d.topP),
    repetitionPenalty: cfg.get<number>('repetitionPenalty', d.repetitionPenalty),
    seed: Math.floor(cfg.get<number>('seed', d.seed)),
    stop: Array.isArray(stop) ? stop.filter((x): x is string => typeof x === 'string' && x.length > 0) : d.stop,
  };
  // A hand-edited settings.json can hold anything: out-of-range values fall back to the defaults.
  return isGenerationSettings(s) ? s : d;
}

export function chatLoadOptions(): Pick<LoadParams, 'threads' | 'provider'> {
  const cfg = vscode.workspace.getConfiguration('neftune.chat');
  const threads = Math.floor(cfg.get<number>('threads', 0));
  const provider = cfg.get<string>('provider', 'auto');
  return {
    ...(threads > 0 ? { threads } : {}),
    provider: provider === 'cpu' || provider === 'cuda' ? provider : 'auto',
  };
}
