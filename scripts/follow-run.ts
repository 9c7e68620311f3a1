// Prints a run's events as they are written (one readable line each) until the run ends:
// the headless counterpart of the output channel. Usage: node --import tsx scripts/follow-run.ts RUN_DIR
import * as path from 'node:path';
import { EventTail } from '../src/core/eventLog';
import { describeEvent } from '../src/core/eventText';
import { isTerminalEvent } from '../src/protocol/events';

const runDir = path.resolve(process.argv[2] ?? '.');
const tail = new EventTail(path.join(runDir, 'events.jsonl'), {
  pollMs: 200,
  onEvents: (events) => {
    for (const e of events) {
      console.log(describeEvent(e));
      if (isTerminalEvent(e)) {
        tail.close();
        process.exit(0);
      }
    }
  },
  onBadLine: (err) => console.error(err),
});
tail.start();
// The trainer's wrapper ends this process if the trainer dies without a final event.
process.on('SIGTERM', () => {
  tail.readNow();
  process.exit(0);
});
