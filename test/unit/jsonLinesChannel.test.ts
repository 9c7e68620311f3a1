// The JSON-lines channel against a real child process (test/fixtures/jsonLinesChild.mjs, run
// both forked and spawned): responses by id, interleaved notifications, lines split, CRLF,
// huge lines, cancel, timeout, remote errors and a child that dies mid-request.
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { ChannelError, JsonLinesChannel } from '../../src/core/jsonLinesChannel';
import { LineSplitter } from '../../src/core/lineSplitter';

const CHILD = path.resolve(__dirname, '..', 'fixtures', 'jsonLinesChild.mjs');

interface TestProtocol {
  requests: {
    echo: { params: unknown; result: unknown };
    slow: { params: { ms: number }; result: string };
    cancelled: { params: Record<string, never>; result: number[] };
    progress: { params: { n: number }; result: number };
    fail: { params: Record<string, never>; result: never };
    crash: { params: { code: number }; result: never };
    huge: { params: { bytes: number }; result: string };
    crlf: { params: unknown; result: unknown };
    split: { params: Record<string, never>; result: string };
    garbage: { params: Record<string, never>; result: string };
  };
  notifications: { progress: { id: number; i: number } };
}

const open: Array<JsonLinesChannel<TestProtocol>> = [];
function child(how: 'fork' | 'spawn' = 'fork', opts: { maxLineBytes?: number; onProtocolError?: (m: string) => void } = {}): JsonLinesChannel<TestProtocol> {
  const ch = how === 'fork' ? JsonLinesChannel.fork<TestProtocol>(CHILD, [], {}, opts) : JsonLinesChannel.spawn<TestProtocol>(process.execPath, [CHILD], {}, opts);
  open.push(ch);
  return ch;
}

async function rejection(p: Promise<unknown>): Promise<ChannelError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ChannelError, String(e));
    return e;
  }
  assert.fail('expected a ChannelError');
}

describe('JSON-lines channel', () => {
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close(500)));
  });

  it('answers each request by its id, concurrent requests out of order', async () => {
    const ch = child('spawn');
    const [slow, fast, obj] = await Promise.all([ch.request('slow', { ms: 150 }), ch.request('echo', 'fast'), ch.request('echo', { a: [1, 'ü'] })]);
    assert.equal(slow, 'late');
    assert.equal(fast, 'fast');
    assert.deepEqual(obj, { a: [1, 'ü'] });
    assert.equal(ch.pendingCount, 0);
  });

  it('notifications interleaved with responses reach their listener in order', async () => {
    const ch = child();
    const seen: Array<{ id: number; i: number }> = [];
    ch.onNotification('progress', (p) => seen.push(p));
    const [a, b, c] = await Promise.all([ch.request('progress', { n: 20 }), ch.request('echo', 'between'), ch.request('progress', { n: 5 })]);
    assert.deepEqual([a, b, c], [20, 'between', 5]);
    assert.equal(seen.length, 25);
    for (const id of new Set(seen.map((s) => s.id))) {
      const mine = seen.filter((s) => s.id === id).map((s) => s.i);
      assert.deepEqual(mine, Array.from({ length: mine.length }, (_, i) => i));
    }
  });

  it('lines split across writes (a multi-byte character too), CRLF, a 5 MiB line', async () => {
    const ch = child();
    assert.equal(await ch.request('split', {}), 'é✓');
    assert.deepEqual(await ch.request('crlf', { x: 1 }), { x: 1 });
    const big = await ch.request('huge', { bytes: 5 << 20 });
    assert.equal(big.length, 5 << 20);
  });

  it('a line over the limit is dropped and reported; the channel goes on', async () => {
    const errors: string[] = [];
    const ch = child('fork', { maxLineBytes: 1 << 20, onProtocolError: (m) => errors.push(m) });
    const lost = ch.request('huge', { bytes: 2 << 20 });
    assert.equal(await ch.request('echo', 'still here'), 'still here');
    assert.equal(errors.length, 1);
    assert.match(errors[0] ?? '', /dropped a line of \d+ bytes/);
    assert.equal(ch.pendingCount, 1);
    assert.equal((await rejection(Promise.race([lost, ch.request('slow', { ms: 10_000 }, { timeoutMs: 100 })]))).kind, 'timeout');
  });

  it('lines that are not messages are reported, not fatal', async () => {
    const errors: string[] = [];
    const ch = child('fork', { onProtocolError: (m) => errors.push(m) });
    assert.equal(await ch.request('garbage', {}), 'after garbage');
    assert.equal(errors.length, 2, errors.join('\n')); // "not json" and "[1,2]"; an unknown id is a late answer
  });

  it('a remote error keeps its message, code and data', async () => {
    const e = await rejection(child().request('fail', {}));
    assert.equal(e.kind, 'remote');
    assert.equal(e.message, 'nope');
    assert.equal(e.code, 7);
    assert.deepEqual(e.data, { why: 'asked to' });
  });

  it('cancel through an AbortSignal rejects at once and tells the child', async () => {
    const ch = child();
    const ac = new AbortController();
    const p = ch.request('slow', { ms: 10_000 }, { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    const t0 = Date.now();
    assert.equal((await rejection(p)).kind, 'cancelled');
    assert.ok(Date.now() - t0 < 2000);
    assert.equal(ch.pendingCount, 0);
    assert.equal((await rejection(ch.request('echo', 1, { signal: ac.signal }))).kind, 'cancelled', 'already aborted: not sent');
    const cancelled = await ch.request('cancelled', {});
    assert.equal(cancelled.length, 1, 'the child got exactly one $/cancel');
  });

  it('a child that crashes fails every pending request, and every later one, with the reason', async () => {
    const ch = child('spawn');
    const pending = [ch.request('slow', { ms: 10_000 }), ch.request('progress', { n: 1_000_000 }), ch.request('crash', { code: 3 })];
    const errors = await Promise.all(pending.map(rejection));
    for (const e of errors) {
      assert.equal(e.kind, 'closed');
      assert.match(e.message, /exited \(code 3\): boom: the model ran out of memory/);
    }
    assert.match(errors[0]?.message ?? '', /no answer to slow/);
    assert.deepEqual(await ch.exited, { code: 3, signal: null });
    assert.equal((await rejection(ch.request('echo', 1))).kind, 'closed');
  });

  it('a child that cannot start fails its requests', async () => {
    const ch = JsonLinesChannel.spawn<TestProtocol>(path.join(__dirname, 'no-such-program'), []);
    const e = await rejection(ch.request('echo', 1));
    assert.equal(e.kind, 'closed');
    assert.match(e.message, /could not start.*ENOENT/);
  });

  it('close ends a child that ignores its closed stdin', async () => {
    const ch = child('spawn');
    void ch.request('slow', { ms: 60_000 }).catch(() => undefined);
    await ch.close(200);
    const { signal } = await ch.exited;
    assert.ok(signal === 'SIGTERM' || signal === null);
  });
});

describe('line splitter limits', () => {
  it('an oversized line split over many chunks is skipped whole; the next line is intact', () => {
    const sizes: number[] = [];
    const s = new LineSplitter({ maxLineBytes: 10, onOversized: (n) => sizes.push(n) });
    const got = [...s.push(Buffer.from('abc\n0123456')), ...s.push(Buffer.from('789ABCDEF')), ...s.push(Buffer.from('GH\nok\r\nta')), ...s.end()];
    assert.deepEqual(got, ['abc', 'ok', 'ta']);
    assert.deepEqual(sizes, [18]);
  });
});
