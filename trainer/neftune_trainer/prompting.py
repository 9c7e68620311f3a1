"""Render an instruction example to token ids and labels.

The loss is computed on the response only (labels are -100 on the prompt), unless
train_on_inputs. The response ends with the end-of-turn / EOS token, labelled, so the model
learns to stop.

The prompt/response split is found by rendering the prompt alone (with the generation prompt,
i.e. everything up to where the assistant starts writing) and the full conversation, and checking
that the full rendering starts with the prompt. Token boundaries are never guessed from strings
in the middle of a word.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Tuple

from .data import Example
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
    n_prompt: int  # tokens before the response starts


def user_message(ex: Example) -> str:
    return ex.instruction + ("\n\n" + ex.input if ex.input.strip() else "")


def resolve_template(tokenizer, choice: str) -> str:
    """`tokenizer` -> the model's own chat template, or `alpaca` when it has none."""
    if choice == "tokenizer":
        return "tokenizer" if getattr(tokenizer, "chat_template", None) else "alpaca"
    return choice


def _encode(tokenizer, text: str) -> List[int]:
    # Templates already hold the special tokens they need: no automatic BOS/EOS here.
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _render_texts(ex: Example, tokenizer, template: str) -> Tuple[str, str]:
    """(prompt text, full text)."""
    if template == "alpaca":
        prompt = (ALPACA_WITH_INPUT if ex.input.strip() else ALPACA_NO_INPUT).format(
            instruction=ex.instruction, input=ex.input)
        return prompt, prompt + ex.output
    messages = [{"role": "user", "content": user_message(ex)}]
    kwargs = {} if template == "tokenizer" else {"chat_template": CHATML_TEMPLATE}
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **kwargs)
    full = tokenizer.apply_chat_template(messages + [{"role": "assistant", "content": ex.output}],
                                         tokenize=False, add_generation_prompt=False, **kwargs)
    return prompt, full


def tokenize_example(ex: Example, tokenizer, template: str, train_on_inputs: bool = False) -> Tokenized:
    prompt_text, full_text = _render_texts(ex, tokenizer, template)
    if not full_text.startswith(prompt_text):
        raise InputError(
            f"{ex.file}:{ex.line}: the chat template renders the conversation so that it does not start with the "
            "prompt; cannot tell prompt from response (set chat_template: chatml or alpaca)",
            Where(file=ex.file, line=ex.line))
    prompt_ids = _encode(tokenizer, prompt_text)
    full_ids = _encode(tokenizer, full_text)
    if full_ids[: len(prompt_ids)] != prompt_ids:
        # A BPE merge crossed the boundary: tokenize the two parts separately instead, which is
        # exactly how generation sees it (the prompt is tokenized, then the model continues).
        full_ids = prompt_ids + _encode(tokenizer, full_text[len(prompt_text):])
    response_ids = full_ids[len(prompt_ids):]
    eos = tokenizer.eos_token_id
    # The model must learn to stop: the response must contain the end-of-turn/EOS token. ChatML
    # templates already end the turn with <|im_end|> (SmolLM2's EOS); Alpaca needs EOS appended.
    if eos is not None and eos not in response_ids:
        response_ids = response_ids + [eos]
    ids = prompt_ids + response_ids
    labels = (list(prompt_ids) if train_on_inputs else [IGNORE_INDEX] * len(prompt_ids)) + list(response_ids)
    return Tokenized(input_ids=ids, labels=labels, n_prompt=len(prompt_ids))


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
