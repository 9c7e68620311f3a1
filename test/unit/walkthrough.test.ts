// The walkthrough: when it opens by itself (core/walkthrough.ts), and package.json's
// contributes.walkthroughs agrees with the code: every button runs a contributed command, every
// completion event is a contributed command or a context key the extension really sets, every
// step's media file exists and is theme-neutral Markdown.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { WALKTHROUGH_ID, WALKTHROUGH_KEYS, firstRunDecision } from '../../src/core/walkthrough';

const repo = path.resolve(__dirname, '..', '..');
interface Step { id: string; title: string; description: string; media: { markdown?: string; image?: string }; completionEvents?: string[] }
const manifest = JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8')) as {
  contributes: {
    commands: Array<{ command: string; title: string; category?: string }>;
    views: Record<string, Array<{ id: string }>>;
    walkthroughs: Array<{ id: string; title: string; steps: Step[] }>;
  };
  activationEvents: string[];
};
const commands = new Set(manifest.contributes.commands.map((c) => c.command));
const views = new Set(Object.values(manifest.contributes.views).flat().map((v) => v.id));
const vscodeLayer = fs.readdirSync(path.join(repo, 'src', 'vscode')).map((f) => fs.readFileSync(path.join(repo, 'src', 'vscode', f), 'utf8')).join('\n');

describe('first-run walkthrough', () => {
  it('opens once, only in a workspace without runs, and never against the user setting', () => {
    assert.deepEqual(firstRunDecision({ handledBefore: false, runCount: 0, openOnInstall: true }), { open: true, remember: true });
    assert.deepEqual(firstRunDecision({ handledBefore: true, runCount: 0, openOnInstall: true }), { open: false, remember: false });
    // Someone who already has runs knows the extension: settled, not opened.
    assert.deepEqual(firstRunDecision({ handledBefore: false, runCount: 3, openOnInstall: true }), { open: false, remember: true });
    // walkthroughs.openOnInstall off: nothing opens and nothing is settled.
    assert.deepEqual(firstRunDecision({ handledBefore: false, runCount: 0, openOnInstall: false }), { open: false, remember: false });
  });
});

describe('contributes.walkthroughs', () => {
  const wt = manifest.contributes.walkthroughs.find((w) => w.id === WALKTHROUGH_ID);

  it('has the getting-started walkthrough with its steps in order', () => {
    assert.ok(wt, `no walkthrough ${WALKTHROUGH_ID}`);
    assert.deepEqual(
      wt.steps.map((s) => s.id),
      ['setupEnvironment', 'checkEnvironment', 'openDataset', 'createRunConfig', 'startRun', 'watchDashboard', 'exportAndChat', 'compareRuns'],
    );
  });

  it('each step has a button (a command link on its own line) that runs a contributed command', () => {
    for (const s of wt!.steps) {
      const buttons = s.description.split('\n').map((l) => /^\[[^\]]+\]\(command:([\w.]+)(\?[^)]*)?\)$/.exec(l.trim())?.[1]).filter((x): x is string => !!x);
      assert.ok(buttons.length > 0, `step ${s.id} has no button`);
      for (const b of buttons) {
        const isViewFocus = b.endsWith('.focus') && views.has(b.slice(0, -'.focus'.length));
        assert.ok(commands.has(b) || isViewFocus, `step ${s.id}: button runs ${b}, which is not contributed`);
      }
    }
  });

  it('completion events name contributed commands or context keys the extension sets', () => {
    const keys = new Set<string>(Object.values(WALKTHROUGH_KEYS));
    const used = new Set<string>();
    for (const s of wt!.steps) {
      assert.ok(s.completionEvents?.length, `step ${s.id} has no completion event (it would be done when merely selected)`);
      for (const e of s.completionEvents!) {
        const [kind, arg] = [e.slice(0, e.indexOf(':')), e.slice(e.indexOf(':') + 1)];
        if (kind === 'onCommand') assert.ok(commands.has(arg), `step ${s.id}: ${e} is not a contributed command`);
        else if (kind === 'onContext') {
          assert.ok(keys.has(arg), `step ${s.id}: ${e} is not one of WALKTHROUGH_KEYS`);
          used.add(arg);
        } else assert.fail(`step ${s.id}: unexpected completion event ${e}`);
      }
    }
    // Each key is used by a step and set by the vscode layer (markWalkthroughDone(WALKTHROUGH_KEYS.x)).
    for (const [name, key] of Object.entries(WALKTHROUGH_KEYS)) {
      assert.ok(used.has(key), `${key} is not used by any step`);
      assert.match(vscodeLayer, new RegExp(`markWalkthroughDone\\(WALKTHROUGH_KEYS\\.${name}\\)`), `${key} is never set`);
    }
  });

  it('step descriptions use only what VS Code renders there (links, bold), and no featuredFor', () => {
    // A code span shows its backticks in a step description.
    for (const s of wt!.steps) assert.ok(!s.description.includes('`'), `step ${s.id}: backticks in its description`);
    // featuredFor delays the walkthrough's registration past our first-run open (see src/vscode/walkthrough.ts).
    assert.ok(!('featuredFor' in wt!));
  });

  it('each step shows an existing, theme-neutral Markdown file from media/walkthrough', () => {
    for (const s of wt!.steps) {
      const md = s.media.markdown;
      assert.ok(md && md.startsWith('media/walkthrough/') && md.endsWith('.md'), `step ${s.id}: media ${JSON.stringify(s.media)}`);
      const text = fs.readFileSync(path.join(repo, md), 'utf8');
      assert.ok(text.trim().length > 100, `${md} is almost empty`);
      // Theme-neutral: no colours or inline HTML styling; the workbench's theme styles it.
      assert.doesNotMatch(text, /#[0-9a-f]{3,8}\b|rgb\(|style=|<font|<span/i, `${md} sets a colour`);
    }
  });

  it('"NEFTune: Get started" is contributed, registered, and opens this walkthrough', () => {
    const c = manifest.contributes.commands.find((x) => x.command === 'neftune.getStarted');
    assert.ok(c && c.category === 'NEFTune' && c.title === 'Get started');
    assert.match(vscodeLayer, /registerCommand\('neftune\.getStarted'/);
    assert.match(vscodeLayer, /workbench\.action\.openWalkthrough/);
  });

  it('activation stays lazy', () => {
    assert.ok(!manifest.activationEvents.includes('*'));
    assert.ok(!manifest.activationEvents.includes('onStartupFinished'));
  });
});
