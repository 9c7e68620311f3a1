// After a headless run: writes RUN_DIR/loss.svg and prints a summary with where things are.
// Usage: node --import tsx scripts/demo-report.ts RUN_DIR
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readAllEvents } from '../src/core/eventLog';
import { RunState } from '../src/core/runState';
import { lossCurveSvg } from '../src/core/lossCurveSvg';
import { formatDuration } from '../src/shared/format';

const runDir = path.resolve(process.argv[2] ?? '');
const events = readAllEvents(path.join(runDir, 'events.jsonl'));
const state = new RunState(path.basename(runDir));
state.apply(events);
const s = state.summary({ alive: false });
const svg = path.join(runDir, 'loss.svg');
fs.writeFileSync(svg, lossCurveSvg(state.series, `${s.runId}: training loss (NEFTune alpha ${s.noiseAlpha ?? 0})`));

const loss = state.series.loss;
const mean = (a: readonly number[]): number => a.reduce((x, y) => x + y, 0) / Math.max(1, a.length);
const k = Math.min(5, loss.length);
const tps = state.series.tokensPerS;
const lines = [
  '',
  `run ${s.runId}: ${s.status} at step ${s.step}/${s.totalSteps ?? '?'}${s.failure ? ` (${s.failure})` : ''}`,
  `  model ${s.modelName ?? '?'} on ${s.device ?? '?'}, NEFTune alpha ${s.noiseAlpha ?? 0}`,
  loss.length ? `  loss: first ${k} steps ${mean(loss.slice(0, k)).toFixed(4)} -> last ${k} steps ${mean(loss.slice(-k)).toFixed(4)}` : '  no steps logged',
  tps.length ? `  real tokens/s: ${mean(tps).toFixed(0)}; noise norm (mean) ${mean(state.series.noiseNorm).toFixed(3)}` : '',
  s.startedAt && s.endedAt ? `  wall time ${formatDuration(s.endedAt - s.startedAt)}` : '',
  `  run folder:  ${runDir}`,
  `  loss curve:  ${svg}`,
  `  events:      ${path.join(runDir, 'events.jsonl')}`,
  s.checkpoints.length ? `  checkpoint:  ${path.join(runDir, s.checkpoints[s.checkpoints.length - 1] ?? '')}` : '',
  '',
  'Open this folder in VS Code with the extension (F5) and run "NEFTune: Open dashboard" to see the live dashboard.',
];
console.log(lines.filter((l) => l !== '').join('\n'));
process.exit(s.status === 'finished' ? 0 : 1);
