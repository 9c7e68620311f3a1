// A self-contained SVG of a run's loss curve (raw and smoothed), for the headless demo and
// for anyone without VS Code at hand. No dependencies: plain path data.
import type { StepSeries } from '../protocol/dashboardMessages';
import { debiasedEma } from '../shared/smoothing';

export function lossCurveSvg(series: StepSeries, title: string, width = 720, height = 360): string {
  const pad = { l: 56, r: 16, t: 36, b: 40 };
  const xs = series.step;
  const raw = series.loss;
  const smooth = debiasedEma(raw, 0.6);
  const finite = raw.filter(Number.isFinite);
  const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  if (xs.length === 0 || finite.length === 0) {
    return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><text x="20" y="40">${esc(title)}: no points</text></svg>`;
  }
  const x0 = xs[0] ?? 0;
  const x1 = Math.max(xs[xs.length - 1] ?? 1, x0 + 1);
  let y0 = Math.min(...finite);
  let y1 = Math.max(...finite);
  if (y1 - y0 < 1e-9) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  const X = (x: number): number => pad.l + ((x - x0) / (x1 - x0)) * (width - pad.l - pad.r);
  const Y = (y: number): number => height - pad.b - ((y - y0) / (y1 - y0)) * (height - pad.t - pad.b);
  const line = (ys: readonly number[]): string =>
    ys.map((y, i) => (Number.isFinite(y) ? `${i === 0 ? 'M' : 'L'}${X(xs[i] ?? 0).toFixed(1)},${Y(y).toFixed(1)}` : '')).join('');
  const ticks = 5;
  const grid: string[] = [];
  for (let i = 0; i <= ticks; i++) {
    const y = y0 + ((y1 - y0) * i) / ticks;
    grid.push(`<line x1="${pad.l}" x2="${width - pad.r}" y1="${Y(y).toFixed(1)}" y2="${Y(y).toFixed(1)}" stroke="#8884"/>`);
    grid.push(`<text x="${pad.l - 6}" y="${(Y(y) + 4).toFixed(1)}" text-anchor="end">${y.toFixed(3)}</text>`);
    const x = x0 + ((x1 - x0) * i) / ticks;
    grid.push(`<text x="${X(x).toFixed(1)}" y="${height - pad.b + 16}" text-anchor="middle">${Math.round(x)}</text>`);
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11" fill="#666">
<rect width="100%" height="100%" fill="#fff"/>
<text x="${pad.l}" y="20" font-size="14" fill="#222">${esc(title)}</text>
${grid.join('\n')}
<text x="${(width + pad.l) / 2}" y="${height - 6}" text-anchor="middle">step</text>
<path d="${line(raw)}" fill="none" stroke="#3794ff" stroke-opacity="0.35" stroke-width="1"/>
<path d="${line(smooth)}" fill="none" stroke="#1f6fd1" stroke-width="2"/>
</svg>
`;
}
