// One readable line per trainer event, for the output channel, the terminal and "Open log".
import { TRAINER_EVENT_TYPES, type TrainerEvent } from '../protocol/events';
import { formatCount, plural } from '../shared/format';

function num(x: number, digits = 4): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? x.toExponential(2) : x.toFixed(digits).replace(/\.?0+$/, '');
}

export function describeEvent(e: TrainerEvent): string {
  switch (e.type) {
    case 'run_started':
      return `run ${e.run_id} started on ${e.device}: ${e.model.name} (${formatCount(e.model.trainable_parameters)} trainable of ${formatCount(e.model.parameters)} parameters)${e.total_steps ? `, ${e.total_steps} steps` : ''}`;
    case 'step':
      return `step ${e.step}/${e.total_steps}  loss ${num(e.loss)}  lr ${num(e.lr)}  grad_norm ${num(e.grad_norm, 3)}  ${formatCount(e.tokens_per_s)} tok/s  noise alpha ${num(e.noise_alpha, 2)} norm ${num(e.noise_norm, 3)}`;
    case 'eval':
      return `eval at step ${e.step}: loss ${e.eval_loss === null ? 'n/a' : num(e.eval_loss)}${e.samples?.length ? `, ${plural(e.samples.length, 'sample')}` : ''}`;
    case 'checkpoint':
      return `checkpoint at step ${e.step}: ${e.path}`;
    case 'log':
      return e.message;
    case 'error': {
      const w = e.where;
      const at = w ? [w.file, w.line, w.field].filter((x) => x !== undefined).join(':') : '';
      return `error: ${e.message}${at && !e.message.includes(at) ? ` (at ${at})` : ''}`;
    }
    case 'finished':
      return `finished at step ${e.step}${e.loss !== null ? `, loss ${num(e.loss)}` : ''}${e.checkpoint ? `; checkpoint ${e.checkpoint}` : ''}`;
    case 'stopped':
      return `stopped at step ${e.step}${e.checkpoint ? `; checkpoint ${e.checkpoint}` : ''}`;
    case 'export':
      return `export ${e.stage}${e.precision ? ` (${e.precision})` : ''} ${Math.round(e.progress * 100)}%: ${e.message}${e.stage === 'done' && e.path && !e.message.includes(e.path) ? ` -> ${e.path}` : ''}`;
    case 'eval_progress':
      return `${e.command} ${e.stage} ${e.done}/${e.total}: ${e.message}`;
  }
}

function clock(unixSeconds: number): string {
  const d = new Date(unixSeconds * 1000);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/**
 * trainer.log made readable: the trainer echoes each event as a JSON line on stdout, next to
 * what Python itself prints (warnings, a traceback). Event lines become "time  text"; every
 * other line is kept as it is, so nothing of a failure is lost.
 */
export function readableLog(text: string): string {
  return text
    .split(/\r?\n/)
    .map((line) => {
      const t = line.trim();
      if (!t.startsWith('{')) return line;
      try {
        const e = JSON.parse(t) as Partial<TrainerEvent> | null;
        if (!e || typeof e.time !== 'number' || !TRAINER_EVENT_TYPES.includes(e.type as TrainerEvent['type'])) return line;
        return `${clock(e.time)}  ${describeEvent(e as TrainerEvent)}`;
      } catch {
        return line; // not JSON after all, or an event missing fields: shown as written
      }
    })
    .join('\n');
}
