// What `@neftune` (src/vscode/chatParticipant.ts) sends the engine: VS Code's chat history of this
// participant as chat messages. Typed here from the shapes the Chat view hands a participant
// (ChatRequestTurn: participant, prompt; ChatResponseTurn: participant, response parts, the
// markdown ones holding a MarkdownString), so it is tested under plain Node.
import type { ChatMessage } from '../../protocol/chatEngine';

export interface ChatTurnLike {
  readonly participant?: string;
  readonly prompt?: string;
  readonly response?: ReadonlyArray<{ readonly value?: unknown }>;
}

/** Earlier turns addressed to `participantId` as user / assistant messages, in order. */
export function historyOf(history: readonly ChatTurnLike[], participantId: string): ChatMessage[] {
  const out: ChatMessage[] = [];
  for (const t of history) {
    if (t.participant !== undefined && t.participant !== participantId) continue;
    if (typeof t.prompt === 'string') out.push({ role: 'user', content: t.prompt });
    else if (t.response) {
      // Only markdown parts carry the answer's text; progress, buttons and references do not.
      const text = t.response
        .map((p) => {
          const v = p.value as { value?: unknown } | undefined;
          return typeof v?.value === 'string' ? v.value : '';
        })
        .join('');
      if (text) out.push({ role: 'assistant', content: text });
    }
  }
  return out;
}
