/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// Loads the real dashboard bundle into a Chromium page outside VS Code, with a stand-in for
// acquireVsCodeApi and a few of VS Code's theme variables, for benchmarks and quick looks.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { RunData } from '../src/protocol/dashboardMessages';

const repo = path.resolve(__dirname, '..');

const THEMES = {
  dark: '--vscode-foreground:#cccccc;--vscode-editor-background:#1f1f1f;--vscode-descriptionForeground:#9d9d9d;--vscode-editorWidget-border:#454545;--vscode-panel-border:#2b2b2b;--vscode-badge-background:#616161;--vscode-badge-foreground:#f8f8f8;--vscode-button-background:#0078d4;--vscode-button-foreground:#ffffff;--vscode-button-secondaryBackground:#313131;--vscode-button-secondaryForeground:#cccccc;--vscode-dropdown-background:#313131;--vscode-dropdown-foreground:#cccccc;--vscode-charts-blue:#3794ff;--vscode-charts-orange:#d18616;--vscode-charts-green:#89d185;--vscode-charts-purple:#b180d7;--vscode-charts-red:#f14c4c;--vscode-charts-yellow:#cca700;--vscode-font-family:sans-serif;--vscode-font-size:13px;--vscode-progressBar-background:#0078d4;--vscode-errorForeground:#f85149',
  light: '--vscode-foreground:#3b3b3b;--vscode-editor-background:#ffffff;--vscode-descriptionForeground:#717171;--vscode-editorWidget-border:#c8c8c8;--vscode-panel-border:#e5e5e5;--vscode-badge-background:#cccccc;--vscode-badge-foreground:#3b3b3b;--vscode-button-background:#005fb8;--vscode-button-foreground:#ffffff;--vscode-button-secondaryBackground:#e5e5e5;--vscode-button-secondaryForeground:#3b3b3b;--vscode-dropdown-background:#ffffff;--vscode-dropdown-foreground:#3b3b3b;--vscode-charts-blue:#1a85ff;--vscode-charts-orange:#d18616;--vscode-charts-green:#388a34;--vscode-charts-purple:#652d90;--vscode-charts-red:#e51400;--vscode-charts-yellow:#bf8803;--vscode-font-family:sans-serif;--vscode-font-size:13px;--vscode-progressBar-background:#005fb8;--vscode-errorForeground:#e51400',
} as const;

export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-quic', '--disable-sync'] });
}

export async function openDashboard(browser: Browser, theme: keyof typeof THEMES = 'dark'): Promise<Page> {
  const bundle = path.join(repo, 'dist', 'webview', 'dashboard.js');
  if (!fs.existsSync(bundle)) throw new Error('run `npm run build` first');
  const page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
  const css = fs.readFileSync(path.join(repo, 'dist', 'webview', 'dashboard.css'), 'utf8');
  await page.setContent(`<html><head><style>${css}</style></head><body class="vscode-${theme}" style="${THEMES[theme]}"><div id="app"></div></body></html>`);
  await page.evaluate('window.__name = (f) => f'); // tsx's keepNames helper, used by evaluated functions
  await page.evaluate(() => {
    const w = window as unknown as { acquireVsCodeApi: () => unknown; sent: unknown[] };
    w.sent = [];
    w.acquireVsCodeApi = () => ({ postMessage: (m: unknown) => w.sent.push(m), getState: () => undefined, setState: () => undefined });
  });
  await page.addScriptTag({ content: fs.readFileSync(bundle, 'utf8') });
  return page;
}

/** A synthetic run: a noisy decaying loss, as a trainer would log it. */
export function syntheticRun(runId: string, color: number, steps: number, alpha: number, seed = 1): RunData {
  let r = seed;
  const rand = (): number => ((r = (r * 16807) % 2147483647) / 2147483647);
  const s = { step: [] as number[], time: [] as number[], tokens: [] as number[], loss: [] as number[], lr: [] as number[], gradNorm: [] as number[], tokensPerS: [] as number[], noiseAlpha: [] as number[], noiseNorm: [] as number[] };
  let tokens = 0;
  for (let i = 1; i <= steps; i++) {
    tokens += 900 + Math.floor(rand() * 200);
    s.step.push(i);
    s.time.push(1000 + i * 1.5);
    s.tokens.push(tokens);
    s.loss.push(1.2 + 1.8 * Math.exp(-i / (steps / 4)) - alpha * 0.01 + (rand() - 0.5) * 0.35 + (i === 3 ? 6 : 0));
    s.lr.push(1e-4 * Math.min(1, i / 10) * (0.5 + 0.5 * Math.cos((Math.PI * i) / steps)));
    s.gradNorm.push(0.8 + rand() * 0.6);
    s.tokensPerS.push(600 + rand() * 40);
    s.noiseAlpha.push(alpha);
    s.noiseNorm.push(alpha ? alpha / Math.sqrt(3) + (rand() - 0.5) * 0.02 : 0);
  }
  const evalSteps = [0, Math.floor(steps / 2), steps];
  return {
    runId,
    color,
    summary: { runId, status: 'finished', step: steps, totalSteps: steps, epoch: 1, lastLoss: s.loss[steps - 1] ?? null, noiseAlpha: alpha, device: 'cpu (bf16 autocast)', modelName: 'SmolLM2-135M-Instruct', startedAt: 1000, endedAt: 1000 + steps * 1.5, etaSeconds: null, checkpoints: [], bestEvalLoss: 1.4 - alpha * 0.01, failure: null },
    config: { base_model: 'HuggingFaceTB/SmolLM2-135M-Instruct', neftune_noise_alpha: alpha, learning_rate: 0.0001, neftune: { distribution: 'uniform', scale: 'per_example', schedule: 'constant' } },
    series: s,
    evals: { step: evalSteps, loss: evalSteps.map((e) => 1.5 + Math.exp(-e / steps) - alpha * 0.01), trainLoss: evalSteps.map((e) => 1.3 + Math.exp(-e / steps) - alpha * 0.02) },
    samples: evalSteps.map((e) => ({ step: e, samples: [{ prompt: 'What is NEFTune?', response: `At step ${e} (α ${alpha}): noise on the embeddings <b>during</b> training.` }] })),
  };
}
