// @neftune's history: VS Code's request / response turns become the engine's chat messages.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { historyOf } from '../../src/core/chat/participantHistory';

const ID = 'neftune.chat';
const md = (value: string) => ({ value: { value } }); // ChatResponseMarkdownPart { value: MarkdownString }

describe('@neftune history', () => {
  it('turns request and response turns into user and assistant messages, in order', () => {
    const got = historyOf(
      [
        { participant: ID, prompt: 'Name a colour.' },
        { participant: ID, response: [md('Blue'), md('.')] },
        { participant: ID, prompt: 'Another?' },
      ],
      ID,
    );
    assert.deepEqual(got, [
      { role: 'user', content: 'Name a colour.' },
      { role: 'assistant', content: 'Blue.' },
      { role: 'user', content: 'Another?' },
    ]);
  });

  it("leaves out other participants' turns and parts that are not markdown", () => {
    const got = historyOf(
      [
        { participant: 'github.copilot', prompt: 'not for us' },
        { participant: 'github.copilot', response: [md('nor this')] },
        { participant: ID, prompt: 'Hi' },
        { participant: ID, response: [{ value: { uri: 'file:///x' } }, md('Hello'), { value: undefined }] },
      ],
      ID,
    );
    assert.deepEqual(got, [
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello' },
    ]);
  });

  it('drops an empty answer (a cancelled or failed turn) instead of sending an empty assistant message', () => {
    const got = historyOf([{ participant: ID, prompt: 'Q' }, { participant: ID, response: [] }], ID);
    assert.deepEqual(got, [{ role: 'user', content: 'Q' }]);
  });

  it('keeps markup in prompts and answers as text (the engine gets it verbatim)', () => {
    const got = historyOf([{ participant: ID, prompt: '<script>alert(1)</script>' }, { participant: ID, response: [md('`<img onerror=x>`')] }], ID);
    assert.equal(got[0]!.content, '<script>alert(1)</script>');
    assert.equal(got[1]!.content, '`<img onerror=x>`');
  });
});
