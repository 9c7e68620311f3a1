// Chat webview: talk to a run's exported checkpoint, or to two side by side (A/B) and vote.
// Keeps the conversations (saved in the webview state, so they survive hiding and reloads);
// the host has the engine, the exports and the votes (src/protocol/chatMessages.ts). Model text
// goes through markdown.ts, which builds elements and text nodes only.
import { DEFAULT_GENERATION, type GenerationSettings, type Precision } from '../../src/protocol/chatEngine';
import type { ChatSnapshot, ChatWebviewState, EditorAsk, ExportChoice, GenerateAnswer, ModelRef, PairTally, SavedConversation, Verdict } from '../../src/protocol/chatMessages';
import { CopyText, DidAsk, DidEngineExit, DidSelectModel, DidSnapshot, DidTally, DidToken, ExportRun, Generate, InsertText, Load, OpenLink, Stop, Vote } from '../../src/protocol/chatMessages';
import { el } from '../shared/dom';
import { connectToHost } from '../shared/host';
import { renderMarkdown, type RenderHooks } from './markdown';
import { NO_EXPORTS_TEXT, pickerNotice, type PickerNotice } from '../../src/core/chat/pickerNotice';

const vscode = connectToHost<ChatWebviewState>();
const { ipc } = vscode;

// ---- state ----------------------------------------------------------------------------------
interface Answer {
  model: ModelRef;
  text: string;
  stats: string;
  error: string | null;
  /** Set while generating. */
  streamId: string | null;
  /** Token messages received for it (data-chunks: shows, and lets tests see, that it streamed). */
  chunks?: number;
  /** Why it ended (absent in state saved before it was kept). */
  finishReason?: GenerateAnswer['finishReason'];
}
interface Turn {
  user: string;
  quote: string | null;
  answers: Answer[];
  seed: number;
  verdict: Verdict | null;
}
interface Conversation {
  id: string;
  title: string;
  turns: Turn[];
}

const randomId = (): string => Array.from(crypto.getRandomValues(new Uint8Array(9)), (b) => b.toString(16).padStart(2, '0')).join('');
const newConversation = (): Conversation => ({ id: randomId(), title: 'New conversation', turns: [] });

const saved = vscode.getState();
const restored = saved?.version === 1 ? saved : undefined;
let conversations: Conversation[] = (restored?.conversations ?? []).map((c: SavedConversation) => ({
  id: c.id,
  title: c.title,
  // An answer saved while it streamed (the window reloaded) says so instead of looking finished.
  turns: c.turns.map((t) => ({ ...t, answers: t.answers.map((a) => ({ ...a, error: a.error ?? (a.stats === '' ? 'Interrupted: the window reloaded while it answered (Regenerate to ask again).' : null), streamId: null })) })),
}));
if (conversations.length === 0) conversations = [newConversation()];
let currentId = restored?.current && conversations.some((c) => c.id === restored.current) ? restored.current : (conversations[0] as Conversation).id;
let settings: GenerationSettings | null = restored?.settings ?? null;
let modelA: ModelRef | null = restored?.a ?? null;
let modelB: ModelRef | null = restored?.b ?? null;
let abMode = restored?.abMode ?? false;
// A narrow panel (beside an editor) starts with the settings pane closed: the answers need the room.
let settingsOpen = restored?.settingsOpen ?? window.innerWidth >= 760;
let snapshot: ChatSnapshot | null = null;
const providers = new Map<string, string>();
/** streamId -> answer being generated. */
const streams = new Map<string, { answer: Answer; node: HTMLElement }>();

const current = (): Conversation => conversations.find((c) => c.id === currentId) ?? (conversations[0] as Conversation);
const modelKey = (m: ModelRef): string => `${m.runId}/${m.checkpoint}/${m.precision}`;
const exportKey = (e: { runId: string; checkpoint: string }): string => `${e.runId}/${e.checkpoint}`;
const effectiveSettings = (): GenerationSettings => settings ?? snapshot?.defaults ?? DEFAULT_GENERATION;

/** Saved at once: a hidden panel's page is dropped, and a delayed save would be lost with it. */
function saveState(): void {
  vscode.setState({
    version: 1,
    conversations: conversations.map((c) => ({ id: c.id, title: c.title, turns: c.turns.map((t) => ({ ...t, answers: t.answers.map(({ model, text, stats, error }) => ({ model, text, stats, error })) })) })),
    current: currentId,
    settings,
    a: modelA,
    b: modelB,
    abMode,
    settingsOpen,
  });
}

// ---- layout ---------------------------------------------------------------------------------
const app = document.getElementById('app') as HTMLElement;
const header = el('header', { class: 'chat-header', role: 'toolbar', 'aria-label': 'Model and conversation' });

function modelPicker(side: 'a' | 'b'): { root: HTMLElement; exportSelect: HTMLSelectElement; precisionSelect: HTMLSelectElement; provider: HTMLElement } {
  const root = el('div', { class: 'model-picker', id: `model-${side}` });
  const label = el('label', {}, side === 'a' ? 'Model ' : 'B ');
  const exportSelect = el('select', { id: `export-${side}`, 'aria-label': side === 'a' ? 'Exported checkpoint (A)' : 'Exported checkpoint (B)' });
  label.append(exportSelect);
  const precLabel = el('label', {}, ' ');
  const precisionSelect = el('select', { id: `precision-${side}`, 'aria-label': `Precision (${side.toUpperCase()})` });
  precLabel.append(precisionSelect);
  const provider = el('span', { class: 'pill provider', id: `provider-${side}`, title: 'Execution provider of the engine' }, '');
  root.append(label, precLabel, provider);
  return { root, exportSelect, precisionSelect, provider };
}
const pickA = modelPicker('a');
const pickB = modelPicker('b');
const abLabel = el('label', { class: 'ab-toggle' });
const abInput = el('input', { type: 'checkbox', id: 'ab-mode' });
abLabel.append(abInput, document.createTextNode(' A/B'));
const exportButton = el('button', { id: 'export', title: 'Export a checkpoint of a run for chat' }, 'Export…');
const convSelect = el('select', { id: 'conversation', 'aria-label': 'Conversation' });
const newButton = el('button', { id: 'new-conversation', title: 'Start a new conversation (the others are kept)' }, 'New');
const clearButton = el('button', { id: 'clear', title: 'Clear this conversation' }, 'Clear');
const settingsButton = el('button', { id: 'toggle-settings', 'aria-expanded': 'true', 'aria-controls': 'settings' }, 'Settings');
header.append(pickA.root, abLabel, pickB.root, exportButton, el('span', { class: 'spacer' }), convSelect, newButton, clearButton, settingsButton);

const notice = el('div', { id: 'notice', class: 'notice', role: 'alert', hidden: '' });
const noExports = el('div', { id: 'no-exports', class: 'no-exports', hidden: '' });

const body = el('div', { class: 'chat-body' });
const transcript = el('main', { id: 'transcript', class: 'transcript', 'aria-label': 'Conversation', 'aria-live': 'polite', 'aria-relevant': 'additions text' });
const side = el('aside', { id: 'settings', class: 'settings', 'aria-label': 'Generation settings' });
body.append(transcript, side);

const composer = el('form', { class: 'composer', id: 'composer' });
const input = el('textarea', { id: 'prompt', rows: '3', placeholder: 'Ask the tuned model… (Enter sends, Shift+Enter: new line, Escape: stop)', 'aria-label': 'Message' });
const sendButton = el('button', { id: 'send', type: 'submit', class: 'primary' }, 'Send');
const stopButton = el('button', { id: 'stop', type: 'button', title: 'Stop (Escape)' }, 'Stop');
const regenButton = el('button', { id: 'regenerate', type: 'button', title: 'Answer the last message again' }, 'Regenerate');
const buttons = el('div', { class: 'composer-buttons' });
buttons.append(sendButton, stopButton, regenButton);
composer.append(input, buttons);

const tallySection = el('section', { id: 'tally', class: 'tally', 'aria-label': 'A/B tally', hidden: '' });
app.append(header, notice, noExports, body, tallySection, composer);

// ---- settings pane --------------------------------------------------------------------------
type NumKey = 'maxNewTokens' | 'temperature' | 'topK' | 'topP' | 'repetitionPenalty' | 'seed';
const numFields: Array<{ key: NumKey; label: string; min: number; max: number; step: number; int: boolean; title: string }> = [
  { key: 'maxNewTokens', label: 'Max new tokens', min: 1, max: 32768, step: 1, int: true, title: 'The answer ends after this many tokens' },
  { key: 'temperature', label: 'Temperature', min: 0, max: 5, step: 0.05, int: false, title: 'Higher: more varied (ignored when greedy)' },
  { key: 'topK', label: 'Top-k', min: 0, max: 100000, step: 1, int: true, title: '0: off (ignored when greedy)' },
  { key: 'topP', label: 'Top-p', min: 0.01, max: 1, step: 0.01, int: false, title: '1: off (ignored when greedy)' },
  { key: 'repetitionPenalty', label: 'Repetition penalty', min: 0.01, max: 10, step: 0.05, int: false, title: '1: off; the paper evaluated with 1.2 and greedy decoding' },
  { key: 'seed', label: 'Seed', min: 0, max: 2 ** 31 - 1, step: 1, int: true, title: 'The same seed, prompt and settings give the same answer; both A/B sides use it' },
];
const numInputs = new Map<NumKey, HTMLInputElement>();
side.append(el('h2', {}, 'Generation'));
const greedyLabel = el('label', { class: 'check' });
const greedyInput = el('input', { type: 'checkbox', id: 'greedy' });
greedyLabel.append(greedyInput, document.createTextNode(' Greedy (argmax)'));
side.append(greedyLabel);
for (const f of numFields) {
  const row = el('label', { class: 'field', title: f.title }, f.label);
  const inp = el('input', { type: 'number', id: `set-${f.key}`, min: String(f.min), max: String(f.max), step: String(f.step) });
  row.append(inp);
  side.append(row);
  numInputs.set(f.key, inp);
}
const stopRow = el('label', { class: 'field', title: 'One per line; the answer ends before the first one it produces' }, 'Stop strings');
const stopInput = el('textarea', { id: 'set-stop', rows: '3' });
stopRow.append(stopInput);
const resetButton = el('button', { id: 'reset-settings', type: 'button', title: 'The defaults of the settings neftune.chat.*' }, 'Reset to defaults');
const settingsError = el('p', { class: 'field-error', id: 'settings-error', role: 'alert' });
side.append(stopRow, settingsError, resetButton);

function showSettings(): void {
  const s = effectiveSettings();
  greedyInput.checked = s.greedy;
  for (const f of numFields) (numInputs.get(f.key) as HTMLInputElement).value = String(s[f.key]);
  stopInput.value = s.stop.join('\n');
  side.hidden = !settingsOpen;
  settingsButton.setAttribute('aria-expanded', String(settingsOpen));
}

function readSettingsPane(): void {
  const s = { ...effectiveSettings() } as { -readonly [K in keyof GenerationSettings]: GenerationSettings[K] };
  const problems: string[] = [];
  s.greedy = greedyInput.checked;
  for (const f of numFields) {
    const v = Number((numInputs.get(f.key) as HTMLInputElement).value);
    if (!Number.isFinite(v) || v < f.min || v > f.max || (f.int && !Number.isInteger(v))) problems.push(`${f.label}: ${f.int ? 'a whole number' : 'a number'} from ${f.min} to ${f.max}`);
    else s[f.key] = v;
  }
  s.stop = stopInput.value.split('\n').filter((l) => l.length > 0).slice(0, 16);
  settingsError.textContent = problems.join('; ');
  settings = s;
  saveState();
}
side.addEventListener('change', readSettingsPane);
resetButton.addEventListener('click', () => {
  settings = null;
  settingsError.textContent = '';
  showSettings();
  saveState();
});
settingsButton.addEventListener('click', () => {
  settingsOpen = !settingsOpen;
  showSettings();
  saveState();
});

// ---- model pickers --------------------------------------------------------------------------
function exportLabel(e: ExportChoice): string {
  const alpha = e.noiseAlpha === null ? '' : ` (α ${e.noiseAlpha})`;
  return `${e.runId} / ${e.checkpoint}${alpha}${e.problem ? ' — not usable' : ''}`;
}
function precisionLabel(e: ExportChoice, p: Precision): string {
  const c = e.precisions.find((x) => x.precision === p);
  const agree = c?.agreement !== null && c?.agreement !== undefined ? ` · ${Math.round(c.agreement * 100)}% top-1` : '';
  const fast = p === 'int4' ? ' (fast)' : '';
  return `${p}${fast}${agree}${p === e.defaultPrecision ? ' · default' : ''}`;
}
const findExport = (m: ModelRef | null): ExportChoice | undefined => (m ? snapshot?.exports.find((e) => e.runId === m.runId && e.checkpoint === m.checkpoint) : undefined);

function fillPicker(p: ReturnType<typeof modelPicker>, model: ModelRef | null): ModelRef | null {
  const exports = snapshot?.exports ?? [];
  p.exportSelect.replaceChildren(...exports.map((e) => {
    const o = el('option', { value: exportKey(e) }, exportLabel(e));
    // The label may be cut off in a narrow panel: the tooltip keeps the reason.
    if (e.problem) o.title = e.problem;
    return o;
  }));
  const chosen = findExport(model) ?? exports.find((e) => !e.problem);
  if (!chosen) {
    p.precisionSelect.replaceChildren();
    p.provider.textContent = '';
    return null;
  }
  p.exportSelect.value = exportKey(chosen);
  const precision = model && chosen.precisions.some((x) => x.precision === model.precision) && findExport(model) === chosen ? model.precision : chosen.defaultPrecision;
  p.precisionSelect.replaceChildren(...chosen.precisions.map((x) => el('option', { value: x.precision }, precisionLabel(chosen, x.precision))));
  p.precisionSelect.value = precision;
  const ref: ModelRef = { runId: chosen.runId, checkpoint: chosen.checkpoint, precision };
  p.provider.textContent = providers.get(modelKey(ref)) ?? '';
  p.provider.hidden = p.provider.textContent === '';
  return ref;
}

function renderPickers(): void {
  const exportsNotice = pickerNotice(snapshot?.exports ?? [], modelA);
  modelA = fillPicker(pickA, modelA);
  showExportsNotice(exportsNotice);
  // B defaults to another export than A (the comparison the user most likely wants).
  const other = snapshot?.exports.find((e) => !e.problem && (!modelA || exportKey(e) !== exportKey(modelA)));
  modelB = fillPicker(pickB, modelB ?? (other ? { runId: other.runId, checkpoint: other.checkpoint, precision: other.defaultPrecision } : null));
  const none = (snapshot?.exports.length ?? 0) === 0;
  pickA.root.hidden = none; // empty pickers say nothing; the "no exports" box says what to do
  abLabel.hidden = none;
  pickB.root.hidden = none || !abMode;
  abInput.checked = abMode;
  tallySection.hidden = !abMode;
  renderNoExports();
  renderTally();
}

function onPick(p: ReturnType<typeof modelPicker>, which: 'a' | 'b', changedExport: boolean): void {
  const e = snapshot?.exports.find((x) => exportKey(x) === p.exportSelect.value);
  if (!e) return;
  const ref: ModelRef = { runId: e.runId, checkpoint: e.checkpoint, precision: changedExport ? e.defaultPrecision : (p.precisionSelect.value as Precision) };
  if (which === 'a') modelA = ref;
  else modelB = ref;
  renderPickers();
  saveState();
  void load(ref, p);
}
pickA.exportSelect.addEventListener('change', () => onPick(pickA, 'a', true));
pickA.precisionSelect.addEventListener('change', () => onPick(pickA, 'a', false));
pickB.exportSelect.addEventListener('change', () => onPick(pickB, 'b', true));
pickB.precisionSelect.addEventListener('change', () => onPick(pickB, 'b', false));
abInput.addEventListener('change', () => {
  abMode = abInput.checked;
  renderPickers();
  saveState();
  if (abMode && modelB) void load(modelB, pickB);
});
exportButton.addEventListener('click', () => ipc.command(ExportRun, { runId: modelA?.runId ?? null }));

async function load(ref: ModelRef, p: ReturnType<typeof modelPicker>): Promise<boolean> {
  if (!snapshot?.trusted) return false;
  p.provider.hidden = false;
  p.provider.textContent = 'loading…';
  try {
    const loaded = await ipc.request(Load, ref);
    const text = `${loaded.provider} · ${loaded.threads} threads · loaded in ${Math.round(loaded.loadMs)} ms`;
    providers.set(modelKey(ref), text);
    p.provider.textContent = text;
    return true;
  } catch (err) {
    p.provider.textContent = 'not loaded';
    showNotice(`Could not load ${ref.runId} / ${ref.checkpoint} (${ref.precision}): ${errorText(err)}`);
    return false;
  }
}

function renderNoExports(): void {
  const snap = snapshot;
  if (!snap || snap.exports.length > 0) {
    noExports.hidden = true;
    return;
  }
  noExports.hidden = false;
  const list = el('ul');
  for (const r of snap.runsWithoutExport) {
    const b = el('button', { class: 'export-run', 'data-run': r.runId }, `Export ${r.runId}…`);
    b.disabled = r.checkpoints === 0 || !snap.trusted;
    b.title = r.checkpoints === 0 ? 'This run has no checkpoint yet' : 'Export one of its checkpoints to ONNX for chat';
    b.addEventListener('click', () => ipc.command(ExportRun, { runId: r.runId }));
    const li = el('li');
    li.append(b);
    list.append(li);
  }
  noExports.replaceChildren(
    el('p', {}, snap.runsWithoutExport.length ? 'No run has a checkpoint exported for chat yet. Export one (to ONNX, about a minute for a small model):' : 'No runs in this workspace yet: train one, then export a checkpoint for chat.'),
    ...(snap.runsWithoutExport.length ? [list] : []),
  );
}

// ---- tally ----------------------------------------------------------------------------------
let tally: readonly PairTally[] = [];
let tallyProblems = 0;
function renderTally(): void {
  if (!abMode) return;
  const rows = tally.map((t) => {
    const tr = el('tr');
    const name = (m: ModelRef): string => `${m.runId} / ${m.checkpoint} (${m.precision})`;
    tr.append(el('td', {}, name(t.a)), el('td', { class: 'num' }, String(t.aWins)), el('td', { class: 'num' }, String(t.bWins)), el('td', {}, name(t.b)), el('td', { class: 'num' }, String(t.ties)), el('td', { class: 'num' }, String(t.bothBad)));
    return tr;
  });
  const head = el('tr');
  for (const h of ['First', 'wins', 'wins', 'Second', 'ties', 'both bad']) head.append(el('th', {}, h));
  const table = el('table', { class: 'tally-table' });
  table.append(head, ...rows);
  const total = tally.reduce((n, t) => n + t.aWins + t.bWins + t.ties + t.bothBad, 0);
  tallySection.replaceChildren(
    el('h2', {}, `A/B votes (${total}, saved in the run store's ab-votes.jsonl)`),
    ...(rows.length ? [table] : [el('p', { class: 'muted' }, 'No votes yet: send a prompt, then mark the better answer.')]),
    ...(tallyProblems ? [el('p', { class: 'field-error' }, `${tallyProblems} line(s) of ab-votes.jsonl could not be read and are not counted.`)] : []),
  );
}

// ---- transcript -----------------------------------------------------------------------------
const hooks = (): RenderHooks => ({
  openLink: (href) => ipc.command(OpenLink, { href }),
  copy: (text) => ipc.command(CopyText, { text }),
  insert: (text) => ipc.command(InsertText, { text }),
});

function renderConversations(): void {
  convSelect.replaceChildren(...conversations.map((c, i) => el('option', { value: c.id }, `${i + 1}. ${c.title}`)));
  convSelect.value = currentId;
}

function renderTranscript(): void {
  streams.clear(); // re-bound to the new nodes by renderAnswer
  const conv = current();
  const nodes = conv.turns.map((t, i) => renderTurn(t, i === conv.turns.length - 1));
  transcript.replaceChildren(...(nodes.length ? nodes : [el('p', { class: 'muted empty' }, 'Send a message to start.')]));
  const busy = isBusy();
  stopButton.disabled = !busy;
  regenButton.disabled = busy || conv.turns.length === 0;
  sendButton.disabled = busy || !snapshot?.trusted || !modelA;
  clearButton.disabled = busy || conv.turns.length === 0;
  transcript.scrollTop = transcript.scrollHeight;
}

function renderTurn(t: Turn, last: boolean): HTMLElement {
  const root = el('section', { class: 'turn' });
  const user = el('div', { class: 'msg user' });
  user.append(el('div', { class: 'who' }, 'You'));
  if (t.quote) {
    const q = el('pre', { class: 'quote' });
    q.textContent = t.quote;
    user.append(q);
  }
  user.append(el('div', { class: 'user-text' }, t.user));
  root.append(user);
  const answers = el('div', { class: t.answers.length > 1 ? 'answers ab' : 'answers' });
  t.answers.forEach((a, k) => answers.append(renderAnswer(a, t.answers.length > 1 ? (k === 0 ? 'A' : 'B') : null)));
  root.append(answers);
  if (t.answers.length === 2) root.append(renderVote(t, last));
  return root;
}

function renderAnswer(a: Answer, sideName: string | null): HTMLElement {
  const box = el('div', { class: 'msg assistant', 'data-model': modelKey(a.model), 'data-chunks': String(a.chunks ?? 0) });
  const who = el('div', { class: 'who' });
  who.append(document.createTextNode(`${sideName ? `${sideName}: ` : ''}${a.model.runId} / ${a.model.checkpoint} (${a.model.precision})`));
  box.append(who);
  const content = el('div', { class: 'answer-text' });
  content.append(renderMarkdown(document, a.text, hooks()) as HTMLElement);
  box.append(content);
  if (a.streamId) {
    box.classList.add('streaming');
    content.setAttribute('aria-busy', 'true');
    streams.set(a.streamId, { answer: a, node: content });
  }
  if (a.error) box.append(el('div', { class: 'answer-error', role: 'alert' }, a.error));
  else if (!a.streamId && !a.text.trim()) {
    // An empty box reads as a broken panel; say what happened (an undertrained model often ends at once).
    const what = a.finishReason === 'cancelled' ? 'Stopped before any text.' : a.text ? 'The answer is only whitespace.' : 'The model ended its answer at once (no text).';
    content.append(el('p', { class: 'answer-empty muted' }, what));
    if (a.finishReason !== 'cancelled') content.append(el('p', { class: 'answer-empty muted' }, 'Try Regenerate with sampling on (Settings), or another checkpoint.'));
  }
  const foot = el('div', { class: 'answer-foot' });
  foot.append(el('span', { class: 'stats' }, a.streamId ? 'generating…' : a.stats));
  if (!a.streamId && a.text) {
    const copy = el('button', { class: 'answer-copy', title: 'Copy the answer (markdown)' }, 'Copy');
    copy.addEventListener('click', () => ipc.command(CopyText, { text: a.text }));
    const insert = el('button', { class: 'answer-insert', title: 'Insert the answer into the editor (one undo step)' }, 'Insert');
    insert.addEventListener('click', () => ipc.command(InsertText, { text: a.text }));
    foot.append(copy, insert);
  }
  box.append(foot);
  return box;
}

const VERDICT_LABELS: Array<[Verdict, string]> = [
  ['a', 'A is better'],
  ['b', 'B is better'],
  ['tie', 'Tie'],
  ['both-bad', 'Both bad'],
];
function renderVote(t: Turn, last: boolean): HTMLElement {
  const bar = el('div', { class: 'vote', role: 'group', 'aria-label': 'Which answer is better?' });
  const done = t.answers.every((a) => !a.streamId && !a.error && a.text);
  for (const [v, label] of VERDICT_LABELS) {
    const b = el('button', { class: `vote-${v}`, 'aria-pressed': String(t.verdict === v) }, label);
    b.disabled = !done || t.verdict !== null;
    b.addEventListener('click', () => void vote(t, v));
    bar.append(b);
  }
  if (t.verdict) bar.append(el('span', { class: 'muted vote-saved' }, 'Vote saved.'));
  else if (!last) bar.append(el('span', { class: 'muted' }, ''));
  return bar;
}

async function vote(t: Turn, verdict: Verdict): Promise<void> {
  const [a, b] = t.answers as [Answer, Answer];
  try {
    await ipc.request(Vote, { prompt: t.user, a: a.model, b: b.model, seed: t.seed, settings: effectiveSettings(), verdict, answerA: a.text, answerB: b.text });
    t.verdict = verdict;
    saveState();
    renderTranscript();
  } catch (err) {
    showNotice(`The vote was not saved: ${errorText(err)}`);
  }
}

// Streaming: many tokens within a frame cost one re-render of each answer that grew.
const dirty = new Set<string>();
let frame = false;
function scheduleStream(streamId: string): void {
  dirty.add(streamId);
  if (frame) return;
  frame = true;
  requestAnimationFrame(() => {
    frame = false;
    const nearBottom = transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 40;
    for (const id of dirty) {
      const s = streams.get(id);
      if (!s) continue;
      s.node.replaceChildren(renderMarkdown(document, s.answer.text, hooks()) as HTMLElement);
      s.node.parentElement?.setAttribute('data-chunks', String(s.answer.chunks ?? 0));
    }
    dirty.clear();
    if (nearBottom) transcript.scrollTop = transcript.scrollHeight;
  });
}

// ---- sending --------------------------------------------------------------------------------
const isBusy = (): boolean => conversations.some((c) => c.turns.some((t) => t.answers.some((a) => a.streamId)));

/** The history as model `side` saw it: its own earlier answers. */
function historyFor(conv: Conversation, upTo: number, sideIndex: number): Array<{ role: 'user' | 'assistant'; content: string }> {
  const msgs: Array<{ role: 'user' | 'assistant'; content: string }> = [];
  conv.turns.slice(0, upTo + 1).forEach((t, i) => {
    msgs.push({ role: 'user', content: t.quote ? `${t.user}\n\n\`\`\`\n${t.quote}\n\`\`\`` : t.user });
    const ans = t.answers[Math.min(sideIndex, t.answers.length - 1)];
    if (i < upTo && ans && ans.text && !ans.error) msgs.push({ role: 'assistant', content: ans.text });
  });
  return msgs;
}

function startTurn(conv: Conversation, t: Turn): void {
  const idx = conv.turns.indexOf(t);
  const s = { ...effectiveSettings(), seed: t.seed };
  t.answers.forEach((a, k) => {
    const streamId = randomId();
    a.streamId = streamId;
    a.text = '';
    a.error = null;
    a.stats = '';
    a.chunks = 0;
    ipc
      .request(Generate, { streamId, conversationId: `${conv.id}-${k}`, model: a.model, messages: historyFor(conv, idx, k), settings: s })
      .then((r) => finish(a, streamId, r, null))
      .catch((err: unknown) => finish(a, streamId, null, errorText(err)));
  });
  saveState();
  renderTranscript();
}

function formatStats(r: GenerateAnswer, seed: number, greedy: boolean): string {
  const reason = { eos: 'end of answer', stop: 'stop string', length: 'max new tokens', cancelled: 'stopped', context: 'context full' }[r.finishReason];
  return `${r.newTokens} tokens · ${r.decodeTokensPerSecond.toFixed(1)} tok/s · first token ${Math.round(r.timeToFirstTokenMs)} ms · ${reason} · ${greedy ? 'greedy' : `seed ${seed}`} · ${r.provider}`;
}

function finish(a: Answer, streamId: string, r: GenerateAnswer | null, error: string | null): void {
  if (a.streamId !== streamId) return; // cleared or regenerated meanwhile
  streams.delete(streamId);
  a.streamId = null;
  const turn = conversations.flatMap((c) => c.turns).find((t) => t.answers.includes(a));
  if (r) {
    a.text = r.text;
    a.finishReason = r.finishReason;
    a.stats = formatStats(r, turn?.seed ?? 0, effectiveSettings().greedy);
  } else a.error = error;
  saveState();
  renderTranscript();
}

/** Returns whether the message joined the conversation (the composer keeps its text otherwise). */
function send(text: string, quote: string | null = null): boolean {
  if (!snapshot?.trusted) return refuse('Chat needs a trusted workspace: the engine loads native code (onnxruntime).');
  // A remembered export that broke since is refused here with its reason, not sent to fail in the engine.
  const exportsNotice = pickerNotice(snapshot.exports, modelA);
  if (!modelA || exportsNotice?.kind === 'error') return refuse(exportsNotice ?? { text: NO_EXPORTS_TEXT, kind: 'info' }, 'exports');
  if (abMode && !modelB) return refuse('A/B needs a second exported checkpoint (B).');
  if (isBusy()) return false;
  hideNotice();
  const conv = current();
  const models = abMode && modelB ? [modelA, modelB] : [modelA];
  const t: Turn = { user: text, quote, answers: models.map((model) => ({ model, text: '', stats: '', error: null, streamId: null })), seed: effectiveSettings().seed, verdict: null };
  conv.turns.push(t);
  if (conv.title === 'New conversation') conv.title = (quote ? `${text} (selection)` : text).replace(/\s+/g, ' ').slice(0, 60);
  renderConversations();
  startTurn(conv, t);
  return true;
}

composer.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const text = input.value.trim();
  if (!text || isBusy()) return;
  if (send(text)) input.value = '';
});
input.addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
    ev.preventDefault();
    composer.requestSubmit();
  }
});
document.addEventListener('keydown', (ev) => {
  if (ev.key === 'Escape' && isBusy()) {
    ev.preventDefault();
    stopAll();
  }
});
function stopAll(): void {
  for (const c of conversations) for (const t of c.turns) for (const a of t.answers) if (a.streamId) ipc.command(Stop, { streamId: a.streamId });
}
stopButton.addEventListener('click', stopAll);
regenButton.addEventListener('click', () => {
  const conv = current();
  const t = conv.turns[conv.turns.length - 1];
  if (!t || isBusy()) return;
  // Greedy gives the same answer again; sampling gets the next seed (shown in the stats).
  if (!effectiveSettings().greedy) t.seed = (t.seed + 1) % 2 ** 31;
  t.verdict = null;
  startTurn(conv, t);
});
clearButton.addEventListener('click', () => {
  const conv = current();
  conv.turns = [];
  conv.title = 'New conversation';
  renderConversations();
  renderTranscript();
  saveState();
});
newButton.addEventListener('click', () => {
  const conv = newConversation();
  conversations.push(conv);
  currentId = conv.id;
  renderConversations();
  renderTranscript();
  saveState();
  input.focus();
});
convSelect.addEventListener('change', () => {
  currentId = convSelect.value;
  renderTranscript();
  saveState();
});

// ---- notices --------------------------------------------------------------------------------
// What the shown notice is about: an exports notice is cleared by the next snapshot with a
// usable export; other notices (engine stopped, ...) stay until their own end.
let noticeAbout: 'exports' | 'other' | null = null;
function showNotice(text: string, kind: PickerNotice['kind'] = 'error', about: 'exports' | 'other' = 'other'): void {
  notice.hidden = false;
  notice.textContent = text;
  notice.classList.toggle('info', kind === 'info');
  noticeAbout = about;
}
function hideNotice(): void {
  notice.hidden = true;
  notice.textContent = '';
  notice.classList.remove('info');
  noticeAbout = null;
}
function showExportsNotice(n: PickerNotice | null): void {
  if (n) {
    // The empty state is told by the "no exports" box; only a notice already up is updated.
    if (n.kind === 'error' || noticeAbout === 'exports') showNotice(n.text, n.kind, 'exports');
  } else if (noticeAbout === 'exports') hideNotice();
}
function refuse(n: string | PickerNotice, about: 'exports' | 'other' = 'other'): false {
  if (typeof n === 'string') showNotice(n, 'error', about);
  else showNotice(n.text, n.kind, about);
  return false;
}
const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

// ---- host messages --------------------------------------------------------------------------
ipc.onNotification(DidSnapshot, (snap) => {
  snapshot = snap;
  tally = snap.tally;
  tallyProblems = snap.tallyProblems;
  if (!snap.trusted) showNotice('Chat needs a trusted workspace: the engine loads native code (onnxruntime). Trust this workspace to chat.');
  renderPickers();
  showSettings();
  renderTranscript();
  if (modelA && !findExport(modelA)?.problem) void load(modelA, pickA);
  if (abMode && modelB && !findExport(modelB)?.problem) void load(modelB, pickB);
});
ipc.onNotification(DidToken, ({ streamId, text }) => {
  const s = streams.get(streamId);
  if (!s) return;
  s.answer.text += text;
  s.answer.chunks = (s.answer.chunks ?? 0) + 1;
  scheduleStream(streamId);
});
ipc.onNotification(DidEngineExit, ({ reason }) => {
  providers.clear();
  showNotice(`The chat engine stopped: ${reason}. The next message starts it again.`);
});
ipc.onNotification(DidTally, (t) => {
  tally = t.tally;
  tallyProblems = t.tallyProblems;
  renderTally();
});
ipc.onNotification(DidSelectModel, (model) => {
  // B follows to another export when it was the one now picked for A.
  if (modelB && exportKey(modelB) === exportKey(model)) modelB = null;
  modelA = model;
  renderPickers();
  renderTranscript();
  saveState();
  if (modelA) void load(modelA, pickA);
});
ipc.onNotification(DidAsk, (ask: EditorAsk) => {
  if (isBusy()) return showNotice('The model is still answering: stop it (Escape) and ask again.');
  void send(ask.prompt, ask.quote);
});

renderConversations();
showSettings();
renderTranscript();
ipc.ready();
