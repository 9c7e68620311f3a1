// Each run status's codicon and colour, for the Runs view (a ThemeIcon) and the status bar
// (`$(name)` in its text; the status bar item takes no icon colour).
import type { RunStatus } from '../protocol/runSummary';

export const RUN_STATUS_ICONS: Readonly<Record<RunStatus, { readonly icon: string; readonly color?: string }>> = {
  queued: { icon: 'clock' },
  starting: { icon: 'loading~spin' },
  running: { icon: 'sync~spin', color: 'charts.blue' },
  stopping: { icon: 'loading~spin', color: 'charts.yellow' },
  finished: { icon: 'pass', color: 'testing.iconPassed' },
  stopped: { icon: 'debug-stop', color: 'charts.yellow' },
  failed: { icon: 'error', color: 'testing.iconFailed' },
};
