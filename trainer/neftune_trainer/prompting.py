"""Render an example to token ids and labels.

The loss is computed on the assistant turns only (labels are -100 on system/user turns and on
the template's scaffolding), unless train_on_inputs; completion records train on every token.
Each response ends with the end-of-turn / EOS token, labelled, so the model learns to stop.

Each assistant turn's span is found by rendering the conversation up to it (with the generation
prompt, i.e. everything up to where the assistant starts writing) and through it, and checking
that the full rendering starts with both. Token boundaries are never guessed from strings in the
middle of a word. The same segments feed training, `render` (the dataset preview) and the
prompts of eval generations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Tuple

from .data import Example, is_blank
from .errors import InputError, Where

IGNORE_INDEX = -100

# Stanford Alpaca's templates (tatsu-lab/stanford_alpaca train.py), as the NEFTune paper used.
ALPACA_WITH_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
)
ALPACA_NO_INPUT = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response:\n"
)

# SmolLM2's own template (ChatML), used when `chat_template: chatml` is forced or a model that
# should have it lacks one.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@dataclass
class Tokenized:
    input_ids: List[int]
    labels: List[int]
    n_prompt: int  # tokens before the first loss token


@dataclass
class Segment:
    """A run of the rendered text that is either all loss (assistant turns) or all context."""
    text: str
    loss: bool
    ids: List[int]


def resolve_template(tokenizer, choice: str) -> str:
    """`tokenizer` -> the model's own chat template, or `alpaca` when it has none."""
    if choice == "tokenizer":
        return "tokenizer" if getattr(tokenizer, "chat_template", None) else "alpaca"
    return choice


def chat_template_kwargs(template: str) -> dict:
    """apply_chat_template's extra arguments for a resolved chat template: the model's own
    (`tokenizer`) or ChatML."""
    return {} if template == "tokenizer" else {"chat_template": CHATML_TEMPLATE}


def encode_text(tokenizer, text: str) -> List[int]:
    # Templates already hold the special tokens they need: no automatic BOS/EOS here.
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _template_error(ex: Example, what: str) -> InputError:
    return InputError(
        f"{ex.file}:{ex.line}: the chat template renders the conversation so that {what}; cannot tell prompt "
        "from response (set chat_template: chatml or alpaca)", Where(file=ex.file, line=ex.line))


def _alpaca_pieces(ex: Example) -> List[Tuple[str, bool]]:
    """Stanford Alpaca's prompt; a conversation continues with one Instruction/Response pair per
    turn (a system turn replaces the preamble)."""
    if ex.messages is None:
        prompt = (ALPACA_NO_INPUT if is_blank(ex.input) else ALPACA_WITH_INPUT).format(
            instruction=ex.instruction, input=ex.input)
        return [(prompt, False), (ex.output, True)]
    pieces: List[Tuple[str, bool]] = []
    msgs = ex.messages
    if msgs and msgs[0]["role"] == "system":
        context, msgs = msgs[0]["content"] + "\n\n", msgs[1:]
    else:
        context = ALPACA_NO_INPUT.split("### Instruction")[0]
    for m in msgs:
        if m["role"] == "assistant":
            context += "### Response:\n" if not context.endswith("### Response:\n") else ""
            pieces += [(context, False), (m["content"], True)]
            context = "\n\n"
        elif m["role"] == "system":
            context += m["content"] + "\n\n"
        else:
            context += f"### Instruction:\n{m['content']}\n\n### Response:\n"
    if context.strip():
        pieces.append((context, False))
    return pieces


def _chat_pieces(ex: Example, tokenizer, template: str) -> List[Tuple[str, bool]]:
    """Render with the chat template; each assistant turn's span is found by rendering the
    conversation up to it (with the generation prompt) and through it, and checking that both are
    prefixes of the full rendering. Never guessed from strings."""
    kwargs = chat_template_kwargs(template)

    def render(msgs, gen: bool) -> str:
        if not msgs:
            return ""
        return tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=gen, **kwargs)

    msgs = ex.conversation()
    full = render(msgs, False)
    spans = []
    for i, m in enumerate(msgs):
        if m["role"] != "assistant":
            continue
        before, through = render(msgs[:i], True), render(msgs[:i + 1], False)
        if not full.startswith(before) or not full.startswith(through) or len(through) < len(before):
            raise _template_error(ex, f"turn {i + 1} is not a prefix of the whole conversation")
        spans.append((len(before), len(through)))
    pieces, pos = [], 0
    for s, e in spans:
        if s < pos:
            raise _template_error(ex, "assistant turns overlap")
        pieces += [(full[pos:s], False), (full[s:e], True)]
        pos = e
    pieces.append((full[pos:], False))
    return [(t, loss) for t, loss in pieces if t]


def render_pieces(ex: Example, tokenizer, template: str) -> List[Tuple[str, bool]]:
    """The training text of one example as (text, is_loss) pieces."""
    if ex.is_completion:
        return [(ex.text, True)]
    if template == "alpaca":
        return _alpaca_pieces(ex)
    return _chat_pieces(ex, tokenizer, template)


def _encode_pieces(tokenizer, texts: List[str]) -> List[List[int]]:
    """Token ids of each piece, such that their concatenation is what the model trains on.
    The whole text is tokenized once; a piece boundary is used as is when the tokenization of the
    text up to it is a prefix of the whole (no BPE merge crosses it). Otherwise the rest is
    tokenized piece by piece, exactly how generation sees it (the prompt is tokenized, then the
    model continues)."""
    full = "".join(texts)
    full_ids = encode_text(tokenizer, full)
    out, pos, n = [], 0, 0
    for k, t in enumerate(texts[:-1]):
        pos += len(t)
        ids = encode_text(tokenizer, full[:pos])
        if full_ids[:len(ids)] != ids:
            return out + [encode_text(tokenizer, x) for x in texts[k:]]
        out.append(full_ids[n:len(ids)])
        n = len(ids)
    out.append(full_ids[n:])
    return out


def tokenize_segments(ex: Example, tokenizer, template: str, train_on_inputs: bool = False) -> List[Segment]:
    """The example as segments (text, loss, token ids), untruncated."""
    pieces = render_pieces(ex, tokenizer, template)
    ids = _encode_pieces(tokenizer, [t for t, _ in pieces])
    eos = tokenizer.eos_token_id
    segments = []
    for (text, loss), seg_ids in zip(pieces, ids):
        # The model must learn to stop: every response must hold the end-of-turn/EOS token. ChatML
        # templates end the turn with <|im_end|> (SmolLM2's EOS); Alpaca and completion need EOS appended.
        if loss and eos is not None and eos not in seg_ids:
            seg_ids = seg_ids + [eos]
            text = text + (tokenizer.eos_token or "")
        segments.append(Segment(text=text, loss=loss or train_on_inputs, ids=seg_ids))
    return segments


def segments_to_tokenized(segments: List[Segment]) -> Tokenized:
    ids: List[int] = []
    labels: List[int] = []
    n_prompt = None
    for s in segments:
        if s.loss and n_prompt is None:
            n_prompt = len(ids)
        ids += s.ids
        labels += s.ids if s.loss else [IGNORE_INDEX] * len(s.ids)
    return Tokenized(input_ids=ids, labels=labels, n_prompt=len(ids) if n_prompt is None else n_prompt)


def tokenize_example(ex: Example, tokenizer, template: str, train_on_inputs: bool = False) -> Tokenized:
    t = segments_to_tokenized(tokenize_segments(ex, tokenizer, template))
    if train_on_inputs:
        t.labels = list(t.input_ids)
    return t


def truncate_segments(segments: List[Segment], sequence_len: int) -> List[Segment]:
    """The segments as training truncates them (the first sequence_len tokens)."""
    out, left = [], sequence_len
    for s in segments:
        if left <= 0:
            break
        if len(s.ids) <= left:
            out.append(s)
        else:
            out.append(Segment(text="", loss=s.loss, ids=s.ids[:left]))  # text set by the caller (decode)
        left -= len(s.ids)
    return out


def prompt_text(ex: Example, tokenizer, template: str) -> str:
    """What the model sees before it starts its first answer: the text of the pieces before the
    first loss piece (for generation)."""
    out = ""
    for text, loss in render_pieces(ex, tokenizer, template):
        if loss:
            break
        out += text
    return out


@dataclass
class TokenizedDataset:
    examples: List[Tokenized]
    n_truncated: int
    n_dropped: int


def tokenize_dataset(examples: List[Example], tokenizer, template: str, sequence_len: int,
                     truncation: str, train_on_inputs: bool) -> TokenizedDataset:
    out, n_trunc, n_drop = [], 0, 0
    for ex in examples:
        t = tokenize_example(ex, tokenizer, template, train_on_inputs)
        if len(t.input_ids) > sequence_len:
            if truncation == "drop":
                n_drop += 1
                continue
            n_trunc += 1
            t = Tokenized(t.input_ids[:sequence_len], t.labels[:sequence_len], min(t.n_prompt, sequence_len))
        if all(l == IGNORE_INDEX for l in t.labels[1:]):
            # Nothing left to learn from (the prompt alone fills sequence_len).
            n_drop += 1
            continue
        out.append(t)
    return TokenizedDataset(out, n_trunc, n_drop)
