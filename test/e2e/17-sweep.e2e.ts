// Scenario 17 (issue 13): "NEFTune: Sweep noise alpha" on the tiny config. The alpha input box
// refuses what the run-config schema refuses (-1) and repeats; "0, 5" queues two runs through the
// run queue (one at a time), each started with `train --set neftune_noise_alpha=α`: their
// resolved configs differ in alpha only, the Runs view shows each run's label ("sweep α=0"),
// the sweep's state file lists both, and when both have ended a notification offers to evaluate
// and compare them. Then "NEFTune: Tune noise alpha" on a config with held-out data: alphas
// 0, 5, 10 and a budget of 12 steps (rungs at steps 2 and 4): one candidate stops at rung 1, the
// others are resumed to step 4, and the recommended config lands next to the original with the
// evidence in the sweeps folder.

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { type Session, launch, log, readEvents, runDirs, waitFor } from './harness';
import { chooseConfig, guard, trainerProcesses } from './scenario';

describe('scenario 17: sweep noise alpha', () => {
  let s: Session | undefined;

  before(async () => {
    s = await launch({
      scenario: '17-sweep',
      // A judge is set (the tiny model: its verdicts are noise, the flow is real), so Tune asks how to rank.
      settings: { 'neftune.maxConcurrentRuns': 1, 'neftune.judge.model': 'models/tiny', 'neftune.eval.prompts': 'tune-prompts.jsonl', 'neftune.eval.maxNewTokens': 3 },
      prepareWorkspace: (ws) => {
        writeFileSync(
          join(ws, 'heldout.neftune.yaml'),
          '# Tune scenario: the tiny run with held-out data (its eval loss decides)\nbase_model: models/tiny\ndatasets:\n  - path: data.jsonl\n    type: alpaca\nval_set_size: 8\neval_max_new_tokens: 2\neval_train_sample_size: 4\nsequence_len: 64\nmicro_batch_size: 2\nlearning_rate: 0.001\nneftune_noise_alpha: 5\ndevice: cpu\n',
        );
        writeFileSync(join(ws, 'tune-prompts.jsonl'), '{"instruction": "Add 2 and 3."}\n{"instruction": "Name a colour."}\n');
      },
    });
  });
  after(async () => {
    await s?.close();
  });

  it('Sweep noise alpha: validated alphas, two queued runs differing in alpha only, the end offers evaluation', async () => {
    await guard(s, 'sweep', async () => {
      const ses = s!;
      const { wb } = ses;
      await wb.openViewContainer('NEFTune');
      await wb.runCommand('NEFTune: Sweep noise alpha');
      await chooseConfig(ses, 'tiny.neftune.yaml');
      await wb.quickInputTitle(/sweep noise alpha of tiny\.neftune\.yaml/);
      assert.equal(await wb.quickInputValue(), '0, 5, 10, 15');
      const box = wb.quickInput.locator('.quick-input-box input').first();
      await box.fill('0, -1');
      const refusal = await waitFor('-1 to be refused', async () => {
        const m = await wb.quickInputMessage();
        return /must be >= 0/.test(m) ? m : undefined;
      }, 10_000);
      log(`refused: "${refusal}"`);
      await wb.screenshot('alpha-refused');
      await box.fill('5 5');
      await waitFor('a repeat to be refused', async () => /listed twice/.test(await wb.quickInputMessage()), 10_000);
      await box.fill('0, 5');
      await waitFor('the list to be accepted', async () => !/must|twice|number/.test(await wb.quickInputMessage()), 10_000);
      await wb.page.keyboard.press('Enter');

      const runs = await waitFor('two run folders', () => {
        const d = runDirs(ses.workspace).filter((x) => basename(x) !== 'sweeps'); // the sweep's state folder is no run
        return d.length === 2 ? d : undefined;
      }, 60_000);
      await waitFor('both runs to end', () => runs.every((d) => ['finished', 'error'].includes(readEvents(d).at(-1)?.type ?? '')), 240_000);
      await waitFor('the trainers to exit', () => trainerProcesses(ses).length === 0, 30_000);
      const configs = runs.map((d) => parseYaml(readFileSync(join(d, 'config.yaml'), 'utf8')) as Record<string, unknown>);
      const alphas = configs.map((c) => c['neftune_noise_alpha']).sort();
      assert.deepEqual(alphas, [0, 5]);
      const [a, b] = configs;
      assert.deepEqual(Object.keys({ ...a, ...b }).filter((k) => JSON.stringify(a![k]) !== JSON.stringify(b![k])), ['neftune_noise_alpha']);
      for (const d of runs) assert.equal(readEvents(d).at(-1)?.type, 'finished', basename(d));

      const note = await waitFor('the sweep-ended notification', async () => (await wb.notifications()).find((n) => /sweep of tiny\.neftune\.yaml ended/.test(n.message)), 30_000);
      assert.ok(note.buttons.includes('Evaluate and compare'), `buttons: ${note.buttons.join(', ')}`);
      const items = await wb.treeItems('Runs');
      log(`runs view: ${JSON.stringify(items)}`);
      assert.ok(items.some((i) => /^sweep α=0 · finished/.test(i.description)), JSON.stringify(items));
      assert.ok(items.some((i) => /^sweep α=5 · finished/.test(i.description)), JSON.stringify(items));
      await wb.screenshot('sweep-ended');

      const sweeps = join(ses.workspace, '.neftune', 'runs', 'sweeps');
      assert.ok(existsSync(sweeps));
      const [file] = readdirSync(sweeps).filter((n) => n.endsWith('.json'));
      const state = JSON.parse(readFileSync(join(sweeps, file!), 'utf8')) as { phase: string; runs: Array<{ runId: string; alpha: number }> };
      assert.equal(state.phase, 'trained');
      assert.deepEqual(state.runs.map((r) => r.runId).sort(), runs.map((d) => basename(d)).sort());
    });
  });

  it('Tune noise alpha: a candidate stopped at rung 1, the others resumed, a recommended config beside the original', async () => {
    await guard(s, 'tune', async () => {
      const ses = s!;
      const { wb } = ses;
      const before = new Set(runDirs(ses.workspace));
      await wb.runCommand('NEFTune: Tune noise alpha');
      await chooseConfig(ses, 'heldout.neftune.yaml');
      await wb.quickInputTitle(/tune noise alpha \(1\/3\)/);
      const box = wb.quickInput.locator('.quick-input-box input').first();
      await box.fill('0, 5, 10');
      await wb.page.keyboard.press('Enter');
      await wb.quickInputTitle(/tune noise alpha \(2\/3\)/);
      await wb.page.keyboard.press('Enter'); // the config's own learning rate
      await wb.quickInputTitle(/tune noise alpha \(3\/3\)/);
      await box.fill('12 parsecs');
      // The message line holds the prompt while the value is valid, the error while it is not.
      await waitFor('a bad budget to be refused', async () => /a number of optimizer steps/.test(await wb.quickInputMessage()), 10_000);
      await wb.screenshot('budget-refused');
      await box.fill('12');
      await waitFor('the budget to be accepted', async () => !/a number of optimizer steps/.test(await wb.quickInputMessage()), 10_000);
      await wb.page.keyboard.press('Enter');
      await wb.quickInputTitle(/how to rank the candidates/);
      await wb.screenshot('rank-by');
      await wb.pick('Held-out loss only');

      const sweeps = join(ses.workspace, '.neftune', 'runs', 'sweeps');
      const tuneFile = await waitFor('the tune state file', () => readdirSync(sweeps).find((n) => /alpha-tune.*\.json$/.test(n)), 30_000);
      type State = { phase: string; note: string | null; candidates: Array<{ alpha: number; runId: string; eliminated: { rung: number; step: number } | null }>; recommendation: { alpha: number; configPath?: string } | null };
      const read = (): State => JSON.parse(readFileSync(join(sweeps, tuneFile), 'utf8')) as State;
      const done = await waitFor('the tune to end with its recommended config', () => {
        const st = read();
        return st.phase !== 'running' && (st.phase === 'failed' || st.recommendation?.configPath) ? st : undefined;
      }, 300_000, 500);
      assert.equal(done.phase, 'done', done.note ?? '');
      const runs = runDirs(ses.workspace).filter((d) => !before.has(d) && basename(d) !== 'sweeps');
      assert.equal(runs.length, 3);
      const out = done.candidates.filter((c) => c.eliminated?.rung === 0);
      assert.equal(out.length, 1);
      const stepsOf = (runId: string): number => Math.max(0, ...readEvents(join(ses.workspace, '.neftune', 'runs', runId)).flatMap((e) => (e.type === 'step' ? [e['step'] as number] : [])));
      assert.equal(stepsOf(out[0]!.runId), 2);
      for (const c of done.candidates.filter((x) => x.eliminated?.rung !== 0)) assert.equal(stepsOf(c.runId), 4, `α ${c.alpha}`);
      const recommended = done.recommendation!.configPath!;
      assert.equal(recommended, join(ses.workspace, 'heldout.tuned.neftune.yaml'));
      const text = readFileSync(recommended, 'utf8');
      assert.match(text, /^# Recommended by NEFTune Studio's "Tune noise alpha"/);
      assert.equal((parseYaml(text) as { neftune_noise_alpha: number }).neftune_noise_alpha, done.recommendation!.alpha);
      assert.ok(existsSync(join(sweeps, tuneFile.replace(/\.json$/, '.md'))));
      const note = await waitFor('the tune-ended notification', async () => (await wb.notifications()).find((n) => /recommends α/.test(n.message)), 30_000);
      assert.ok(note.buttons.includes('Open recommended config'), `buttons: ${note.buttons.join(', ')}`);
      // While the notification waits, the state keeps the recommended config (a follower's 5 s round
      // once wrote the state from before it back over it).
      await new Promise((r) => setTimeout(r, 6_000));
      assert.equal(read().recommendation?.configPath, recommended);
      await wb.screenshot('tune-ended');
      await wb.clickNotificationButton(/recommends α/, 'Show evidence');
      await waitFor('the evidence preview', async () => (await wb.tabTitles()).some((t) => /Preview .*alpha-tune/.test(t)), 20_000).catch(() => log('no markdown preview tab (code-server without the markdown extension?)'));
      await wb.screenshot('tune-evidence');
    });
  });

  it('Tune noise alpha with the judge: the rung is judged against the best loss, the evidence shows the win rate', async () => {
    await guard(s, 'tune-judged', async () => {
      const ses = s!;
      const { wb } = ses;
      await wb.clearNotifications();
      await wb.escape();
      const sweeps = join(ses.workspace, '.neftune', 'runs', 'sweeps');
      const earlier = new Set(readdirSync(sweeps));
      await wb.runCommand('NEFTune: Tune noise alpha');
      await chooseConfig(ses, 'heldout.neftune.yaml');
      await wb.quickInputTitle(/tune noise alpha \(1\/3\)/);
      const box = wb.quickInput.locator('.quick-input-box input').first();
      await box.fill('0, 15');
      await wb.page.keyboard.press('Enter');
      await wb.quickInputTitle(/tune noise alpha \(2\/3\)/);
      await wb.page.keyboard.press('Enter');
      await wb.quickInputTitle(/tune noise alpha \(3\/3\)/);
      await box.fill('4');
      await waitFor('the budget to be accepted', async () => !/a number of optimizer steps/.test(await wb.quickInputMessage()), 10_000);
      await wb.page.keyboard.press('Enter');
      await wb.quickInputTitle(/how to rank the candidates/);
      await wb.pick('Held-out loss, then the judge');

      const tuneFile = await waitFor('the judged tune state file', () => readdirSync(sweeps).find((n) => /alpha-tune.*\.json$/.test(n) && !earlier.has(n)), 30_000);
      type State = { phase: string; note: string | null; judging: { prompts: string } | null; judgements: Array<{ candidate: string; reference: string; count: number; dir: string | null; error: string | null }>; recommendation: { alpha: number; configPath?: string } | null };
      const read = (): State => JSON.parse(readFileSync(join(sweeps, tuneFile), 'utf8')) as State;
      const done = await waitFor('the judged tune to end', () => {
        const st = read();
        return st.phase !== 'running' && (st.phase === 'failed' || st.recommendation?.configPath) ? st : undefined;
      }, 300_000, 500);
      assert.equal(done.phase, 'done', done.note ?? '');
      assert.equal(done.judging?.prompts, join(ses.workspace, 'tune-prompts.jsonl'));
      assert.equal(done.judgements.length, 1);
      const j = done.judgements[0]!;
      assert.ok(j.error === null || j.error === 'the judge gave no valid verdict', j.error ?? '');
      assert.equal(j.count, 2);
      assert.ok(existsSync(join(j.dir!, 'pairwise.json')), `no pairwise.json in ${j.dir}`);
      const md = readFileSync(join(sweeps, tuneFile.replace(/\.json$/, '.md')), 'utf8');
      assert.match(md, /\| win rate vs best loss \|/);
      assert.match(md, /Judged: at each rung every candidate answered tune-prompts\.jsonl/);
      await waitFor('the tune-ended notification', async () => (await wb.notifications()).find((n) => /recommends α/.test(n.message)), 30_000);
      await wb.screenshot('judged-tune-ended');
    });
  });
});
