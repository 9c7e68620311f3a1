"""Evaluation: which records a run holds out, the held-out loss and greedy answers to a few fixed
prompts, both WITHOUT noise.

The NEFTune hook adds noise only when the embedding module is in training mode and autograd is
on; evaluation runs in `model.eval()` under `torch.no_grad()`, so the hook passes the embeddings
through untouched (tests check it). The loss is the mean token loss over the eval set (the same
masking as training: response tokens only). Under several processes each takes a share of the
eval batches and the sums are reduced; only the main process generates.

Beside the held-out loss, each evaluation also takes the loss with noise off on a fixed, seeded
sample of the TRAINING examples (`eval_train_sample_size`): the paper (§5.1) credits NEFTune with a
higher noise-off training loss at an equal or lower held-out loss, i.e. less overfitting, and the
training loss logged at each step (with noise, on changing batches) cannot show that.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import torch

from .batching import collate, eval_batches, n_loss_tokens
from .data import Example, read_dataset
from .errors import InputError
from .loss import response_loss_sum
from .prompting import Tokenized, chat_template_kwargs, encode_text, prompt_text, tokenize_dataset

N_DEFAULT_PROMPTS = 3


@dataclass
class EvalPlan:
    examples: List[Tokenized] = field(default_factory=list)  # held-out, tokenized as for training
    prompts: List[Tuple[str, str]] = field(default_factory=list)  # (prompt as shown, rendered text)
    train_sample: List[Tokenized] = field(default_factory=list)  # fixed sample of the training examples

    @property
    def enabled(self) -> bool:
        return bool(self.examples or self.prompts)


def split_validation(raw: List[Example], val_set_size: float, seed: int, where=None) -> Tuple[List[Example], List[Example]]:
    """(train, held out): val_set_size is a fraction (< 1) or a count (>= 1) of the records, picked
    by seed (independent of the batch order), held-out records kept in file order."""
    if val_set_size <= 0:
        return raw, []
    n = math.ceil(val_set_size * len(raw)) if val_set_size < 1 else int(val_set_size)
    if n >= len(raw):
        raise InputError(f"val_set_size {val_set_size} holds out {n} of {len(raw)} examples: nothing left to train on",
                         where)
    order = list(range(len(raw)))
    random.Random(seed * 7919 + 17).shuffle(order)
    held = set(order[:n])
    return [e for i, e in enumerate(raw) if i not in held], [raw[i] for i in sorted(held)]


def read_run_records(cfg) -> Tuple[List[Example], List[Example]]:
    """(training records, held-out records) of a run config: its datasets less the seeded
    val_set_size share, and that share followed by the eval_datasets."""
    raw = []
    for ds in cfg.datasets:
        raw += read_dataset(ds.path, ds.type)
    raw, held_out = split_validation(raw, cfg.val_set_size, cfg.seed, cfg.where("val_set_size"))
    for ds in cfg.eval_datasets or []:
        held_out += read_dataset(ds.path, ds.type)
    return raw, held_out


def plan_evaluation(cfg, held_out: List[Example], tokenizer, template: str,
                    train_examples: Optional[List[Tokenized]] = None) -> EvalPlan:
    """The held-out records tokenized exactly as for training, the prompts to answer, and the
    fixed sample of training examples whose noise-off loss is measured too."""
    examples = tokenize_dataset(held_out, tokenizer, template, cfg.sequence_len, cfg.truncation,
                                cfg.train_on_inputs).examples if held_out else []
    return EvalPlan(examples=examples, prompts=plan_prompts(cfg.eval_prompts, held_out, tokenizer, template),
                    train_sample=train_sample(train_examples or [], cfg.eval_train_sample_size, cfg.seed))


def train_sample(examples: List[Tokenized], size: int, seed: int) -> List[Tokenized]:
    """`size` training examples picked by seed (its own stream: independent of the batch order and
    of the held-out split), the same ones at every evaluation and on resume; all when fewer."""
    if size <= 0 or not examples:
        return []
    if size >= len(examples):
        return list(examples)
    order = list(range(len(examples)))
    random.Random(seed * 104729 + 31).shuffle(order)
    return [examples[i] for i in sorted(order[:size])]


def generation_prompt(ex: Example, tokenizer, template: str) -> str:
    """The text the model sees before it writes its first answer, as in training."""
    if template != "alpaca" and not ex.is_completion:
        msgs = []
        for m in ex.conversation():
            if m["role"] == "assistant":
                break
            msgs.append(m)
        return tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True,
                                             **chat_template_kwargs(template))
    return prompt_text(ex, tokenizer, template)


def plan_prompts(prompts: Optional[List[str]], eval_raw: List[Example], tokenizer, template: str) -> List[Tuple[str, str]]:
    # An explicit empty list means no generations (losses only); absent means the default prompts.
    if prompts is not None:
        exs = [(p, Example(instruction=p)) for p in prompts]
    else:
        exs = [(e.first_prompt(), e) for e in eval_raw if not e.is_completion][:N_DEFAULT_PROMPTS]
    return [(shown or "", generation_prompt(ex, tokenizer, template)) for shown, ex in exs]


@torch.no_grad()
def eval_loss_sums(model, examples: List[Tokenized], batch_size: int, pad_id: int, device, rank: int = 0,
                   world_size: int = 1) -> Tuple[float, int]:
    """(sum of token losses, number of loss tokens) over this process's share of the eval set."""
    total = torch.zeros((), dtype=torch.float64, device=device)
    count = 0
    for b in eval_batches([len(e.input_ids) for e in examples], batch_size)[rank::world_size]:
        chosen = [examples[i] for i in b]
        batch = {k: v.to(device) for k, v in collate(chosen, pad_id).items()}
        total += response_loss_sum(model, {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]},
                                   batch["labels"]).double()
        count += n_loss_tokens(chosen)
    return float(total), count


@torch.no_grad()
def generate(model, tokenizer, texts: List[str], max_new_tokens: int, device) -> List[str]:
    """Greedy answers, all prompts in one left-padded batch."""
    if not texts:
        return []
    encoded = [encode_text(tokenizer, t) for t in texts]
    L = max(len(e) for e in encoded)
    pad = tokenizer.pad_token_id
    input_ids = torch.full((len(encoded), L), pad, dtype=torch.long)  # (P, L) left-padded
    attention_mask = torch.zeros((len(encoded), L), dtype=torch.long)
    for i, e in enumerate(encoded):
        input_ids[i, L - len(e):] = torch.tensor(e)
        attention_mask[i, L - len(e):] = 1
    out = model.generate(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device),
                         max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, use_cache=True,
                         pad_token_id=pad, eos_token_id=tokenizer.eos_token_id)  # (P, L + new)
    return [tokenizer.decode(row[L:], skip_special_tokens=True).strip() for row in out]


def evaluate(accelerator, model, tokenizer, plan: EvalPlan, batch_size: int, max_new_tokens: int) -> dict:
    """{eval_loss, train_loss_noise_off, train_sample_size, samples} for an `eval` event. Leaves the
    model in training mode."""
    net = accelerator.unwrap_model(model)  # no DDP wrapper: its forward may start collectives
    net.eval()

    def mean_loss(examples: List[Tokenized]) -> Optional[float]:
        s, n = eval_loss_sums(net, examples, batch_size, tokenizer.pad_token_id, accelerator.device,
                              accelerator.process_index, accelerator.num_processes)
        if accelerator.num_processes > 1:
            sums = accelerator.reduce(torch.tensor([s, float(n)], dtype=torch.float64, device=accelerator.device), "sum")
            s, n = float(sums[0]), int(sums[1])
        return (s / n) if n else None

    try:
        with accelerator.autocast():
            eval_loss = mean_loss(plan.examples)
            train_loss = mean_loss(plan.train_sample) if plan.train_sample else None
            samples = []
            if accelerator.is_main_process and plan.prompts:
                answers = generate(net, tokenizer, [t for _, t in plan.prompts], max_new_tokens, accelerator.device)
                samples = [{"prompt": shown, "response": a} for (shown, _), a in zip(plan.prompts, answers)]
    finally:
        net.train()
    return {"eval_loss": eval_loss, "train_loss_noise_off": train_loss,
            "train_sample_size": len(plan.train_sample), "samples": samples}
