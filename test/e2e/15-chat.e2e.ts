// Scenario 15 (issue 12): chat with the tuned model. Two finished 12-step runs of the tiny model
// (alpha 0 and alpha 5), each exported for chat from the Runs view ("Export for chat" on a
// checkpoint and on a run: precision pick, progress notification); "Chat with this run" opens the
// chat panel with the export, its precision and provider; a prompt's answer streams in with its
// tokens/s; A/B answers the same prompt with both exports, "A is better" is saved in the run
// store's ab-votes.jsonl and counted in the tally; "Ask the tuned model" on an editor selection
// quotes it, and Insert puts the answer into the editor as one undo step; a killed engine shows
// its reason in the panel and the next message works; a window reload keeps the conversations;
// the panel in a light theme.

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FrameLocator } from 'playwright-core';
import { type Session, launch, log, readEvents, waitFor } from './harness';
import { guard, startRun, trainerProcesses } from './scenario';

const CHAT_TITLE = 'NEFTune chat';
const NOTES = 'Line one of the notes.\nselect me: what is NEFTune?\nLast line.\n';

async function finishedRun(s: Session, config: string): Promise<{ runDir: string; runId: string }> {
  const { runDir, runId } = await startRun(s, config);
  await waitFor(`${runId} to end`, () => ['finished', 'stopped', 'error'].includes(readEvents(runDir).at(-1)?.type ?? ''), 180_000);
  assert.equal(readEvents(runDir).at(-1)?.type, 'finished', `${runId}: ${JSON.stringify(readEvents(runDir).at(-1))}`);
  await waitFor('the trainer to exit', () => trainerProcesses(s).length === 0, 30_000);
  return { runDir, runId };
}

/** The chat engine processes of this session (dist/chatEngine.js of the installed extension). */
function engineProcesses(s: Session): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmd.includes('chatEngine.js') && cmd.includes(s.tmp)) out.push(Number(e));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Accept the precision pick of "Export for chat" (int8 pre-picked) and wait for the export's manifest. */
async function finishExport(s: Session, runDir: string, shot?: string): Promise<void> {
  const { wb } = s;
  await wb.quickInput.waitFor({ state: 'visible', timeout: 15_000 });
  const items = await wb.quickPickItems();
  assert.ok(['int8', 'int4', 'fp32'].every((p) => items.some((i) => i.startsWith(p))), `precisions offered: ${JSON.stringify(items)}`);
  await wb.page.keyboard.press('Enter');
  const manifest = join(runDir, 'onnx', 'step-000012', 'manifest.json');
  let progressSeen = false;
  await waitFor(`${manifest}`, async () => {
    if (!progressSeen) {
      const n = (await wb.notifications().catch(() => [])).find((x) => /exporting .* for chat/.test(x.message));
      if (n) {
        progressSeen = true;
        assert.ok(n.buttons.includes('Cancel'), `progress notification buttons: ${JSON.stringify(n.buttons)}`);
        if (shot) await wb.screenshot(shot);
      }
    }
    return existsSync(manifest);
  }, 240_000, 300);
  assert.ok(progressSeen, 'a progress notification with Cancel while exporting');
  await waitFor('the "exported" message', async () => (await wb.notifications()).some((n) => /exported .* for chat \(int8\)/.test(n.message)), 20_000);
  const m = JSON.parse(readFileSync(manifest, 'utf8')) as { default_precision: string; precisions: Record<string, unknown> };
  assert.deepEqual(Object.keys(m.precisions), ['int8']);
}

async function answers(frame: FrameLocator): Promise<Array<{ text: string; stats: string; chunks: number; model: string }>> {
  return frame.locator('.msg.assistant').evaluateAll((els) =>
    els.map((e) => ({
      text: (e.querySelector('.answer-text') as HTMLElement | null)?.innerText ?? '',
      stats: (e.querySelector('.stats') as HTMLElement | null)?.innerText ?? '',
      chunks: Number(e.getAttribute('data-chunks') ?? 0),
      model: e.getAttribute('data-model') ?? '',
    })),
  );
}

/** Sends a message and waits until `count` answers are complete (stats with tok/s) or one failed. */
async function sendAndWait(frame: FrameLocator, text: string, count: number): Promise<Awaited<ReturnType<typeof answers>>> {
  const input = frame.locator('#prompt');
  await input.fill(text);
  await input.press('Enter');
  return waitFor(`${count} complete answers to "${text}"`, async () => {
    const errors = await frame.locator('.answer-error').allInnerTexts();
    if (errors.length) throw new Error(`an answer failed: ${errors.join(' | ')}`);
    const a = await answers(frame);
    return a.length >= count && a.slice(-count).every((x) => /tok\/s/.test(x.stats)) ? a : undefined;
  }, 60_000, 200);
}

describe('scenario 15: chat with the tuned model', () => {
  let s: Session | undefined;
  let a0: { runDir: string; runId: string } | undefined;
  let a5: { runDir: string; runId: string } | undefined;
  let frame: FrameLocator | undefined;

  before(async () => {
    s = await launch({
      scenario: '15-chat',
      settings: { 'workbench.colorTheme': 'Default Dark Modern', 'neftune.chat.maxNewTokens': 40, 'neftune.chat.seed': 11 },
      prepareWorkspace: (ws) => writeFileSync(join(ws, 'notes.md'), NOTES),
    });
  });
  after(async () => {
    await s?.close();
  });

  it('a) Export for chat from the Runs view: on a checkpoint and on a run, with progress', async () => {
    await guard(s, 'export', async () => {
      const ses = s!;
      const { wb } = ses;
      a0 = await finishedRun(ses, 'tiny-a0.neftune.yaml');
      a5 = await finishedRun(ses, 'tiny-a5.neftune.yaml');
      await wb.clearNotifications();
      await wb.openViewContainer('NEFTune');
      await wb.expandView('Runs');
      const row = wb.treeItem('Runs', a0.runId);
      await row.waitFor({ state: 'visible', timeout: 15_000 });
      if ((await row.getAttribute('aria-expanded')) === 'false') await row.locator('.monaco-tl-twistie').click();
      const cp = wb.treeItem('Runs', 'step-000012');
      await cp.waitFor({ state: 'visible', timeout: 15_000 });
      await wb.openContextMenu(cp);
      await wb.screenshot('checkpoint-context-menu', { keepMouse: true });
      await wb.clickContextMenuItem('Export for chat');
      await finishExport(ses, a0.runDir, 'export-progress');

      // The export shows under its checkpoint.
      await waitFor('the checkpoint marked exported', async () => /exported for chat/.test(await cp.innerText()) || undefined, 15_000);
      if ((await cp.getAttribute('aria-expanded')) === 'false') await cp.locator('.monaco-tl-twistie').click();
      await wb.treeItem('Runs', 'onnx/step-000012').waitFor({ state: 'visible', timeout: 10_000 });
      await wb.screenshot('runs-view-export');

      // The second run: "Export for chat" on the run (its one checkpoint, no pick).
      await wb.clearNotifications();
      await wb.openContextMenu(wb.treeItem('Runs', a5.runId));
      await wb.clickContextMenuItem('Export for chat');
      await finishExport(ses, a5.runDir);
    });
  });

  it('b) Chat with this run: the export, precision and provider; an answer streams in with tokens/s; Copy', async () => {
    assert.ok(a0 && a5, 'needs the exports of a)');
    await guard(s, 'chat', async () => {
      const ses = s!;
      const { wb } = ses;
      await wb.clearNotifications();
      await wb.openContextMenu(wb.treeItem('Runs', a0!.runId));
      await wb.clickContextMenuItem('Chat with this run');
      frame = await wb.webview(CHAT_TITLE);
      const f = frame;
      await waitFor('the export picked', async () => ((await f.locator('#export-a').inputValue()) === `${a0!.runId}/step-000012` ? true : undefined), 20_000);
      assert.equal(await f.locator('#precision-a').inputValue(), 'int8');
      const provider = await waitFor('the provider shown', async () => {
        const t = (await f.locator('#provider-a').innerText()).trim();
        return /^cpu · \d+ threads/.test(t) ? t : undefined;
      }, 30_000);
      log(`provider: ${provider}`);
      const [first] = (await sendAndWait(f, 'Hello! Who are you?', 1)).slice(-1);
      log(`answer: ${JSON.stringify(first)}`);
      assert.ok(first!.text.length > 0, 'a non-empty answer');
      assert.ok(first!.chunks >= 2, `streamed in pieces (${first!.chunks} token messages)`);
      assert.match(first!.stats, /\d+ tokens · [\d.]+ tok\/s · first token \d+ ms/);
      assert.match(first!.stats, /seed 11/, 'the seed of the settings neftune.chat.seed');
      assert.equal(await f.locator('#set-maxNewTokens').inputValue(), '40', 'settings pane from neftune.chat.maxNewTokens');
      await wb.screenshot('chat-dark');
      // Copy goes through the extension to the clipboard: it says so in the status bar.
      await f.locator('.msg.assistant').last().locator('.answer-copy').click();
      await waitFor('the "copied" status message', async () => ((await wb.statusBarTexts()).some((t) => /NEFTune: copied/.test(t)) ? true : undefined), 10_000);
    });
  });

  it('c) A/B: both exports answer the same prompt with the same seed; "A is better" is saved and counted', async () => {
    assert.ok(frame && a0 && a5, 'needs the panel of b)');
    await guard(s, 'ab', async () => {
      const ses = s!;
      const f = frame!;
      await f.locator('#ab-mode').check();
      await f.locator('#model-b').waitFor({ state: 'visible' });
      await waitFor('B picks the other export', async () => ((await f.locator('#export-b').inputValue()) === `${a5!.runId}/step-000012` ? true : undefined), 10_000);
      const all = await sendAndWait(f, 'Write a haiku about noise.', 2);
      const [A, B] = all.slice(-2);
      assert.equal(A!.model, `${a0!.runId}/step-000012/int8`);
      assert.equal(B!.model, `${a5!.runId}/step-000012/int8`);
      assert.ok(/seed 11/.test(A!.stats) && /seed 11/.test(B!.stats), `same seed: ${A!.stats} | ${B!.stats}`);
      await ses.wb.screenshot('ab-dark');
      await f.locator('.turn').last().locator('button.vote-a').click();
      await f.locator('.turn').last().locator('.vote-saved').waitFor({ state: 'visible', timeout: 10_000 });
      const votesPath = join(ses.workspace, '.neftune', 'runs', 'ab-votes.jsonl');
      const votes = readFileSync(votesPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.equal(votes.length, 1);
      const v = votes[0]!;
      assert.equal(v['verdict'], 'a');
      assert.equal(v['prompt'], 'Write a haiku about noise.');
      assert.equal(v['seed'], 11);
      assert.deepEqual(v['a'], { runId: a0!.runId, checkpoint: 'step-000012', precision: 'int8' });
      assert.deepEqual(v['b'], { runId: a5!.runId, checkpoint: 'step-000012', precision: 'int8' });
      assert.equal(typeof v['time'], 'string');
      assert.ok(typeof v['answerA'] === 'string' && v['answerA'].length > 0 && typeof v['answerB'] === 'string' && v['answerB'].length > 0, 'both answers saved');
      await waitFor('the tally', async () => /A\/B votes \(1/.test(await f.locator('#tally').innerText()) || undefined, 10_000);
      const cells = await f.locator('#tally table tr').nth(1).locator('td').allInnerTexts();
      log(`tally row: ${cells.join(' | ')}`);
      assert.ok(cells.includes('1'), `a win in the tally: ${cells.join(' | ')}`);
      await ses.wb.screenshot('ab-voted-dark');
      await f.locator('#ab-mode').uncheck();
    });
  });

  it('d) Ask the tuned model on a selection: quoted in the panel; Insert puts the answer in, one undo step', async () => {
    assert.ok(frame, 'needs the panel of b)');
    await guard(s, 'ask', async () => {
      const ses = s!;
      const { wb } = ses;
      await wb.openFile('notes.md');
      const editor = wb.page.locator('.editor-instance .monaco-editor').first();
      const line = editor.locator('.view-line', { hasText: 'select me: what is NEFTune?' });
      await line.waitFor({ state: 'visible', timeout: 10_000 });
      await line.click({ clickCount: 3 }); // the whole line (with its line break)
      await wb.openContextMenu(line);
      await wb.screenshot('editor-context-menu', { keepMouse: true });
      await wb.clickContextMenuItem('Ask the tuned model');
      await wb.quickInput.waitFor({ state: 'visible', timeout: 10_000 });
      assert.equal(await wb.quickInputValue(), 'Explain this.');
      await wb.page.keyboard.press('Enter');
      const f = await wb.webview(CHAT_TITLE);
      frame = f;
      await waitFor('the quoted selection', async () => ((await f.locator('.turn').last().locator('.quote').innerText().catch(() => '')).includes('select me: what is NEFTune?') ? true : undefined), 20_000);
      const done = await waitFor('the answer to the ask', async () => {
        const a = await answers(f);
        const last = a.at(-1);
        return last && /tok\/s/.test(last.stats) ? last : undefined;
      }, 60_000, 200);
      await wb.screenshot('ask-dark');
      await f.locator('.msg.assistant').last().locator('button.answer-insert').click();
      // The answer replaced the selection; save and read the file.
      const notes = join(ses.workspace, 'notes.md');
      await waitFor('the editor to change', async () => ((await wb.tabTitles()).some((t) => t.includes('notes.md')) ? true : undefined), 10_000);
      await wb.page.waitForTimeout(500);
      await editor.click({ position: { x: 5, y: 5 } });
      await wb.page.keyboard.press('Control+S');
      const inserted = await waitFor('notes.md saved with the answer', () => {
        const t = readFileSync(notes, 'utf8');
        return t !== NOTES ? t : undefined;
      }, 10_000);
      assert.ok(inserted.startsWith('Line one of the notes.\n'), 'the line before is kept');
      assert.ok(!inserted.includes('select me: what is NEFTune?'), 'the selection was replaced');
      assert.ok(inserted.endsWith('Last line.\n'), 'the line after is kept');
      assert.ok(inserted.replace(/\s+/g, '').includes(done.text.replace(/\s+/g, '').slice(0, 20)), 'the answer is in the file');
      await wb.screenshot('ask-inserted');
      // One undo step takes it all back.
      await wb.page.keyboard.press('Control+Z');
      await wb.page.keyboard.press('Control+S');
      await waitFor('one undo restores notes.md', () => (readFileSync(notes, 'utf8') === NOTES ? true : undefined), 10_000);
    });
  });

  it('e) a killed engine: the reason in the panel, and the next message works', async () => {
    assert.ok(frame, 'needs the panel of b)');
    await guard(s, 'killed-engine', async () => {
      const ses = s!;
      const { wb } = ses;
      const f = await wb.webview(CHAT_TITLE);
      const pids = engineProcesses(ses);
      assert.equal(pids.length, 1, `one engine process: ${JSON.stringify(pids)}`);
      process.kill(pids[0]!, 'SIGKILL');
      const notice = await waitFor('the engine-stopped notice', async () => {
        const t = (await f.locator('#notice').innerText().catch(() => '')).trim();
        return /chat engine stopped: SIGKILL/.test(t) ? t : undefined;
      }, 15_000);
      log(`notice: ${notice}`);
      assert.match(notice, /next message starts it again/);
      await wb.screenshot('engine-killed');
      const before = (await answers(f)).length;
      const all = await sendAndWait(f, 'Are you back?', 1);
      assert.equal(all.length, before + 1);
      assert.ok(all.at(-1)!.text.length > 0);
      const now = engineProcesses(ses);
      assert.equal(now.length, 1, 'a new engine');
      assert.notEqual(now[0], pids[0]);
    });
  });

  it('f) after a window reload the panel comes back with its conversations, and answers again; Regenerate, Clear', async () => {
    assert.ok(frame, 'needs the panel of b)');
    await guard(s, 'reload', async () => {
      const { wb } = s!;
      const before = await wb.webview(CHAT_TITLE);
      await before.locator('#new-conversation').click();
      const kept = (await answers(await wb.webview(CHAT_TITLE))).length; // the new conversation is empty
      assert.equal(kept, 0);
      await wb.reloadWindow();
      const f = await wb.webview(CHAT_TITLE, 60_000);
      frame = f;
      const options = await waitFor('both conversations restored', async () => {
        const o = await f.locator('#conversation option').allInnerTexts();
        return o.length === 2 ? o : undefined;
      }, 30_000);
      log(`conversations after the reload: ${options.join(' | ')}`);
      assert.match(options[0] ?? '', /^1\. Hello! Who are you\?/);
      await f.locator('#conversation').selectOption({ index: 0 });
      const restored = await answers(f);
      assert.ok(restored.length >= 4, `answers of the first conversation restored: ${restored.length}`);
      assert.ok(restored.every((a) => /tok\/s/.test(a.stats)), 'with their figures');
      await f.locator('#conversation').selectOption({ index: 1 });
      await sendAndWait(f, 'Still there after the reload?', 1);
      await wb.screenshot('after-reload');

      // Regenerate answers the last message again in place, with the next seed (sampling).
      const seedOf = (stats: string): number => Number(/seed (\d+)/.exec(stats)?.[1] ?? NaN);
      const shown = await answers(f);
      const lastSeed = seedOf(shown[shown.length - 1]!.stats);
      await f.locator('#regenerate').click();
      await waitFor('the regenerated answer, with the next seed', async () => {
        const a = await answers(f);
        const last = a[a.length - 1];
        return a.length === shown.length && last && /tok\/s/.test(last.stats) && seedOf(last.stats) === lastSeed + 1 ? true : undefined;
      }, 60_000, 200);
      // Clear empties this conversation only.
      await f.locator('#clear').click();
      await waitFor('an empty conversation', async () => ((await f.locator('.msg').count()) === 0 ? true : undefined), 10_000);
      await f.locator('#conversation').selectOption({ index: 0 });
      assert.ok((await answers(f)).length >= 4, 'the other conversation keeps its answers');
      await f.locator('#conversation').selectOption({ index: 1 });
    });
  });

  it('g) the chat panel in a light theme', async () => {
    assert.ok(frame, 'needs the panel of b)');
    await guard(s, 'light', async () => {
      const ses = s!;
      const { wb } = ses;
      await wb.runCommand('Preferences: Color Theme');
      await wb.quickInput.locator('input').fill('Light Modern');
      await waitFor('Light Modern first in the theme pick', async () => ((await wb.quickPickItems())[0]?.includes('Light Modern') ? true : undefined), 10_000);
      await wb.page.keyboard.press('Enter');
      await wb.quickInput.waitFor({ state: 'hidden', timeout: 10_000 });
      await wb.page.locator('.monaco-workbench.vs').first().waitFor({ state: 'attached', timeout: 15_000 });
      const f = await wb.webview(CHAT_TITLE);
      await waitFor('the light panel', async () => /vscode-light/.test((await f.locator('body').getAttribute('class')) ?? '') || undefined, 15_000);
      await f.locator('#ab-mode').check();
      await sendAndWait(f, 'One more, in the light.', 2);
      assert.equal(await wb.page.locator('.monaco-workbench.vs').count(), 1, 'still the light theme');
      await wb.page.waitForTimeout(500); // the workbench repaints in its new colours
      await wb.screenshot('ab-light');
      await f.locator('#ab-mode').uncheck();
      await wb.screenshot('chat-light');
    });
  });

  it('h) an answer streams on while the panel is hidden behind another tab', async () => {
    assert.ok(frame, 'needs the panel of b)');
    await guard(s, 'hidden-mid-answer', async () => {
      const { wb } = s!;
      // notes.md opened in the chat's editor group, behind it: one click on its tab hides the panel.
      const group = wb.page.locator('.editor-group-container', { has: wb.tab(CHAT_TITLE) });
      await wb.tab(CHAT_TITLE).click(); // its group active: Quick Open opens there
      await wb.openFile('notes.md');
      const notesTab = group.locator('.tab', { hasText: 'notes.md' });
      await notesTab.waitFor({ state: 'visible', timeout: 10_000 });
      let f = await wb.webview(CHAT_TITLE);
      if (await f.locator('#settings').isHidden()) await f.locator('#toggle-settings').click();
      // A long greedy answer (the random tiny model has no reason to stop), still streaming when hidden.
      if (!(await f.locator('#greedy').isChecked())) await f.locator('#greedy').check();
      await f.locator('#set-maxNewTokens').fill('500');
      await f.locator('#set-maxNewTokens').press('Tab');
      const before = (await answers(f)).length;
      await f.locator('#prompt').fill('Tell me a long story.');
      await f.locator('#prompt').press('Enter');
      await f.locator('.msg.assistant.streaming').first().waitFor({ state: 'attached', timeout: 30_000 });
      await notesTab.click();
      await group.locator('.tab.active', { hasText: 'notes.md' }).waitFor({ state: 'visible', timeout: 5_000 });
      await wb.page.waitForTimeout(1500);
      f = await wb.webview(CHAT_TITLE); // clicks its tab: shown again
      const done = await waitFor('the answer finished after the panel came back', async () => {
        const errors = await f.locator('.answer-error').allInnerTexts();
        if (errors.length) throw new Error(`the answer failed: ${errors.join(' | ')}`);
        const a = await answers(f);
        return a.length === before + 1 && /tok\/s/.test(a.at(-1)!.stats) ? a.at(-1) : undefined;
      }, 120_000, 300);
      log(`answered while hidden: ${done!.stats}`);
      // All of it arrived (the random model's greedy text may be blank: the figures say what came).
      assert.match(done!.stats, /^500 tokens .*max new tokens/);
      await wb.screenshot('answered-while-hidden');
      await f.locator('#reset-settings').click();
      assert.equal(await f.locator('#set-maxNewTokens').inputValue(), '40', 'Reset: the neftune.chat.* settings again');
    });
  });
});
