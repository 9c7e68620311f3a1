// The webview messaging kit (src/protocol/webviewIpc.ts): a host and a client joined by an
// in-memory channel that copies each message as postMessage does (structuredClone), so what
// passes here would pass between the extension host and a real webview.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { command, hasFields, IpcClient, IpcHost, isIndex, isIpcMessage, isString, notification, request, type IpcMessage } from '../../src/protocol/webviewIpc';

const Add = request<{ a: number; b: number }, { sum: number }>('add', hasFields<{ a: number; b: number }>({ a: isIndex, b: isIndex }));
const Fail = request<string>('fail');
const Rename = command('rename', hasFields<{ name: string }>({ name: isString }));
const Ping = command('ping');
const DidTick = notification<{ n: number }>('didTick');

/** A joined pair; messages are delivered asynchronously, in order, as copies. */
function pair(): { host: IpcHost; client: IpcClient; errors: unknown[]; readies: number[]; wire: IpcMessage[]; toHost: (m: unknown) => Promise<void> } {
  const errors: unknown[] = [];
  const readies: number[] = [];
  const wire: IpcMessage[] = [];
  let client: IpcClient | undefined;
  const host = new IpcHost(
    (m) => {
      wire.push(m);
      const copy = structuredClone(m);
      queueMicrotask(() => client?.receive(copy));
    },
    { onReady: () => readies.push(readies.length + 1), onError: (e) => errors.push(e) },
  );
  client = new IpcClient((m) => {
    wire.push(m);
    void host.receive(structuredClone(m));
  });
  return { host, client, errors, readies, wire, toHost: (m) => host.receive(m) };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('webview messaging kit', () => {
  it('answers a request with its result, matched by id when answers come out of order', async () => {
    const { host, client, wire } = pair();
    host.onRequest(Add, async ({ a, b }) => {
      await new Promise((r) => setTimeout(r, a)); // the first request answers last
      return { sum: a + b };
    });
    const [slow, fast] = await Promise.all([client.request(Add, { a: 20, b: 1 }), client.request(Add, { a: 0, b: 5 })]);
    assert.deepEqual(slow, { sum: 21 });
    assert.deepEqual(fast, { sum: 5 });
    const ids = wire.filter((m) => m.type === 'request').map((m) => (m as { id: number }).id);
    assert.equal(new Set(ids).size, 2, 'each request has its own id');
  });

  it('turns a handler error into a rejected request and reports it on the host', async () => {
    const { host, client, errors } = pair();
    host.onRequest(Fail, () => {
      throw new Error('disk on fire');
    });
    await assert.rejects(client.request(Fail), /disk on fire/);
    assert.equal(errors.length, 1);
  });

  it('drops commands whose parameters fail the guard, and answers such requests with an error', async () => {
    const { host, client, toHost } = pair();
    const names: string[] = [];
    let adds = 0;
    host.onCommand(Rename, ({ name }) => void names.push(name));
    host.onRequest(Add, ({ a, b }) => (adds++, { sum: a + b }));
    client.command(Rename, { name: 'ok' });
    await toHost({ type: 'command', method: 'rename', params: { name: 42 } });
    await toHost({ type: 'command', method: 'rename' });
    await tick();
    assert.deepEqual(names, ['ok']);
    await assert.rejects(client.request(Add, { a: -1, b: 2 } as never), /bad parameters for add/);
    await assert.rejects(client.request(request<{ x: number }, number>('nope', hasFields<{ x: number }>({ x: isIndex })), { x: 1 }), /unknown request nope/);
    assert.equal(adds, 0);
  });

  it('runs parameterless commands only without parameters', async () => {
    const { host, client, toHost } = pair();
    let pings = 0;
    host.onCommand(Ping, () => void pings++);
    client.command(Ping);
    await toHost({ type: 'command', method: 'ping', params: { evil: true } });
    await tick();
    assert.equal(pings, 1);
  });

  it('delivers notifications to the handler of their descriptor, and ready to the host', async () => {
    const { host, client, readies } = pair();
    const ticks: number[] = [];
    client.onNotification(DidTick, ({ n }) => void ticks.push(n));
    client.ready();
    await tick();
    assert.deepEqual(readies, [1]);
    host.notify(DidTick, { n: 1 });
    host.notify(notification<string>('didUnknown'), 'ignored');
    host.notify(DidTick, { n: 2 });
    await tick();
    assert.deepEqual(ticks, [1, 2]);
  });

  it('ignores anything that is not a kit message (old-style or hostile input)', async () => {
    const { host, errors, readies } = pair();
    let runs = 0;
    host.onCommand(Ping, () => void runs++);
    for (const m of [null, 'ready', { kind: 'ready' }, { type: 'command' }, { type: 'request', id: -1, method: 'add' }, { type: 'response', id: 1, ok: false }]) {
      assert.equal(isIpcMessage(m), false, JSON.stringify(m));
      await host.receive(m);
    }
    assert.equal(runs, 0);
    assert.deepEqual(readies, []);
    assert.deepEqual(errors, []);
  });
});
