// Status bar: the active (or most recently ended) run's step, loss and ETA; a click opens its
// dashboard.
import { markdownText } from '../core/markdownText';
import * as vscode from 'vscode';
import { formatDuration } from '../shared/format';
import { isEnded } from '../protocol/runSummary';
import type { RunManager } from './runManager';
import { RUN_STATUS_ICONS } from './runStatusIcons';

export class RunStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('neftune.status', vscode.StatusBarAlignment.Left, 50);
  private readonly sub: vscode.Disposable;
  private hideTimer: NodeJS.Timeout | undefined;

  constructor(runs: RunManager) {
    this.item.name = 'NEFTune run';
    this.sub = runs.onDidChange(({ ref, update, live }) => {
      // The status bar is about the runs this window follows, not an old run opened to look at
      // (clicking an old failed run once turned it red as if that run had just failed).
      if (!live) return;
      const s = update.summary;
      clearTimeout(this.hideTimer);
      const parts = [`$(${RUN_STATUS_ICONS[s.status].icon}) NEFTune`];
      if (s.status === 'starting') parts.push('starting');
      else parts.push(`step ${s.step}/${s.totalSteps ?? '?'}`);
      if (s.lastLoss !== null) parts.push(`loss ${s.lastLoss.toFixed(3)}`);
      if (s.etaSeconds !== null) parts.push(`ETA ${formatDuration(s.etaSeconds)}`);
      if (isEnded(s.status)) parts.push(s.status);
      this.item.text = parts.join(' · ');
      this.item.tooltip = new vscode.MarkdownString(
        `**${markdownText(ref.runId)}**: ${s.status}${s.failure ? `\n\n${markdownText(s.failure)}` : ''}${s.noiseAlpha !== null ? `\n\nNEFTune alpha ${s.noiseAlpha}` : ''}\n\nClick to open the dashboard.`,
      );
      this.item.command = { title: 'Open dashboard', command: 'neftune.openDashboard', arguments: [ref.runId] };
      this.item.backgroundColor = s.status === 'failed' ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
      this.item.show();
      const others = runs.activeRuns().filter((r) => r.ref.runId !== ref.runId);
      if (isEnded(s.status) && others.length === 0) {
        // Keep the result visible for a while, then get out of the way.
        this.hideTimer = setTimeout(() => this.item.hide(), 60_000);
      }
    });
  }

  dispose(): void {
    clearTimeout(this.hideTimer);
    this.sub.dispose();
    this.item.dispose();
  }
}
