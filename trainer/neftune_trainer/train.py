"""The training loop. Read it top to bottom:

    1. device and precision (accelerate)     5. optimizer and LR schedule
    2. model and tokenizer                    6. resume from a checkpoint
    3. data: read, render, tokenize           7. the loop, with NEFTune noise on the embeddings
    4. steps: which micro-batches each takes  8. final checkpoint, export, `finished`

The pieces it is made of live in their own modules, shared with the other commands: device.py
(device, precision), loading.py (model, adapter, tokenizer, template), batching.py (batch plan,
padding), loss.py (the token loss), evaluation.py, checkpoint.py and neftune.py (the noise).

Shapes: B = micro_batch_size (rows, with sample_packing), L = padded length of the batch
(<= sequence_len), d = hidden size, V = vocabulary size. Evaluation is never packed (evaluation.py):
its losses mean the same with packing on or off. accelerate is the distributed engine: under
`accelerate launch` / torchrun each process takes its share of every optimizer step's
micro-batches; only the main process writes events and checkpoints.
"""

from __future__ import annotations

import math
import os
import random
import time
from contextlib import nullcontext
from typing import List, Optional

import torch

from .batching import collate, collate_packed, model_inputs, n_loss_tokens, pack_rows, plan_epoch, plan_packed_epoch
from .checkpoint import (TrainerState, latest_checkpoint, list_checkpoints, load_checkpoint, rank_rng_state,
                         restore_rng, save_checkpoint, saved_noise_state)
from .config import CONTEXT_LENGTH_KEYS, RESOLVED_CONFIG_FILE, RunConfig, dump_resolved
from .device import pick_device, use_bf16
from .errors import InputError, Where
from .evaluation import evaluate, plan_evaluation, read_run_records
from .events import EventWriter
from .loading import load
from .loss import response_loss_sum
from .neftune import NEFTune, unwrap_model
from .prompting import tokenize_dataset
from .stopping import StopFlag


# ----------------------------------------------------------------------------- helpers

def warn_sequence_len_above_context(cfg: RunConfig, model_config, events: EventWriter) -> None:
    """A warning, not an error: records longer than the context are rare and may be truncated
    anyway, but positions past it are untrained (or an index error for learned positions)."""
    for key in CONTEXT_LENGTH_KEYS:
        context = getattr(model_config, key, None)
        if isinstance(context, int) and context > 0:
            break
    else:
        return
    if cfg.sequence_len <= context:
        return
    where = cfg.where("sequence_len")
    shown = where.prefix() if where.line else f"{cfg.config_path}: sequence_len (default): "
    events.log(f"{shown}{cfg.sequence_len} is above the model's context length ({key} {context} in its "
               f"config.json): records longer than {context} tokens train on positions the model never saw; "
               f"set sequence_len: {context} or less", "warning")


# ----------------------------------------------------------------------------- the run


def train(cfg: RunConfig, run_dir: str, events: EventWriter, resume: bool = False) -> None:
    """One run; how it ended is its last event (`finished` or `stopped`), errors are raised."""
    stop = StopFlag(events)
    stop.install()
    try:
        ended = _train(cfg, run_dir, events, resume, stop)
    finally:
        stop.uninstall()
    if ended is None:
        return  # stopped
    step, loss, ckpt, is_main = ended
    if cfg.export and is_main and ckpt:
        # Before `finished` (after it the process exits), with its own stop signals: a Cancel now
        # cancels the export; a failed export is a warning, the run still finishes.
        from .export import export_after_training
        export_after_training(cfg, run_dir, ckpt, events)
    events.emit("finished", step=step, loss=loss, checkpoint=ckpt)


def _train(cfg: RunConfig, run_dir: str, events: EventWriter, resume: bool, stop: StopFlag):
    """(step, last loss, final checkpoint, is main process) when training ran to the end; None when stopped."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState
    from transformers import get_scheduler
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # stderr is the run's log (trainer.log): no progress bars in it

    # -- 1. device and precision --------------------------------------------------------------
    device = pick_device(cfg)
    bf16 = use_bf16(cfg, device)
    # accelerate keeps its state in a process-wide singleton; a second run in the same process
    # (tests, notebooks) with another precision must start from a clean one. The distributed
    # (partial) state is kept.
    AcceleratorState._reset_state()
    accelerator = Accelerator(cpu=(device == "cpu"), mixed_precision="bf16" if bf16 else "no")
    W = accelerator.num_processes
    is_main = accelerator.is_main_process
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)

    ckpt = None
    if resume:
        path = latest_checkpoint(run_dir)
        if path is None:
            events.log("--resume: no complete checkpoint in the run folder; starting from the beginning", "warning")
        else:
            ckpt = load_checkpoint(path)
    elif list_checkpoints(run_dir):
        raise InputError(f"{run_dir} already holds a run with checkpoints; pass --resume to continue it, "
                         "or choose a new --run-dir", Where(file=run_dir))

    # -- 2. model and tokenizer ---------------------------------------------------------------
    # fp32 master weights; autocast runs the matmuls in bf16 when enabled.
    loaded = load(cfg, "train", checkpoint=ckpt.path if ckpt is not None else None, device=device, log=events.log)
    model, tokenizer, template = loaded.model, loaded.tokenizer, loaded.template
    warn_sequence_len_above_context(cfg, model.config, events)

    # -- 3. data ------------------------------------------------------------------------------
    raw, eval_raw = read_run_records(cfg)  # held out: a seeded share of the records, and eval_datasets
    data = tokenize_dataset(raw, tokenizer, template, cfg.sequence_len, cfg.truncation, cfg.train_on_inputs)
    if data.n_truncated or data.n_dropped:
        events.log(f"{len(raw)} examples: {data.n_truncated} truncated to sequence_len {cfg.sequence_len}, "
                   f"{data.n_dropped} dropped (too long or no response tokens left)", "warning")
    if not data.examples:
        raise InputError(f"no usable examples left after tokenization (sequence_len {cfg.sequence_len})",
                         cfg.where("sequence_len"))
    examples = data.examples
    lengths = [len(e.input_ids) for e in examples]
    eval_plan = plan_evaluation(cfg, eval_raw, tokenizer, template, examples)
    if eval_raw:
        events.log(f"evaluation: {len(eval_plan.examples)} held-out examples, {len(eval_plan.prompts)} prompts, "
                   f"{len(eval_plan.train_sample)} training examples for the noise-off training loss", "info")

    # -- 4. steps -----------------------------------------------------------------------------
    # One optimizer step consumes G = gradient_accumulation_steps * world_size micro-batches; steps
    # never straddle an epoch, so (epoch, micro-batch range) is a pure function of the step number.
    # With sample_packing a micro-batch is micro_batch_size packed rows (the rows fixed for the
    # run, see batching.py), each a list of example indices; without, a list of example indices.
    packing = cfg.sample_packing
    rows = pack_rows(lengths, cfg.sequence_len) if packing else []
    if packing:
        events.log(f"sample_packing: {len(examples)} examples in {len(rows)} rows of up to {cfg.sequence_len} tokens "
                   f"({sum(lengths) / (len(rows) * cfg.sequence_len):.0%} full)", "info")
    G = cfg.gradient_accumulation_steps * W
    micro_per_epoch = math.ceil((len(rows) if packing else len(examples)) / cfg.micro_batch_size)
    steps_per_epoch = math.ceil(micro_per_epoch / G)
    total_steps = cfg.max_steps if cfg.max_steps else max(1, math.ceil(cfg.num_epochs * steps_per_epoch))
    plans = {}

    def step_batches(step: int) -> list:
        """All processes' micro-batches of optimizer step `step` (0-based)."""
        epoch, k = divmod(step, steps_per_epoch)
        if epoch not in plans:
            plans.clear()
            plans[epoch] = (plan_packed_epoch(rows, lengths, cfg.micro_batch_size, cfg.seed, epoch) if packing
                            else plan_epoch(lengths, cfg.micro_batch_size, cfg.seed, epoch))
        return plans[epoch][k * G:(k + 1) * G]

    def batch_examples(mb) -> list:
        """The examples of a micro-batch, packed rows flattened."""
        return [examples[i] for r in mb for i in r] if packing else [examples[i] for i in mb]

    def make_batch(mb) -> dict:
        if packing:
            return collate_packed([[examples[i] for i in r] for r in mb], pad_id)
        return collate([examples[i] for i in mb], pad_id)

    # -- 5. optimizer and LR schedule ---------------------------------------------------------
    # No weight decay on biases and norm weights (1-D tensors), as usual.
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=cfg.learning_rate)
    sched_name = {"cosine": "cosine", "linear": "linear", "constant": "constant_with_warmup"}[cfg.lr_scheduler]
    scheduler = get_scheduler(sched_name, optimizer, num_warmup_steps=cfg.warmup_steps, num_training_steps=total_steps)
    # The scheduler is not prepared: accelerate would step it once per process.
    model, optimizer = accelerator.prepare(model, optimizer)

    # -- 6. resume ----------------------------------------------------------------------------
    start_step = 0
    tokens_seen = 0  # real tokens trained since the start of the run (all ranks), kept in checkpoints
    rank = accelerator.process_index
    # Each process draws its own noise (and its own dropout masks): seeds differ by rank; rank 0
    # keeps the single-process seeds.
    neft = NEFTune(model, alpha=cfg.neftune_noise_alpha, distribution=cfg.neftune.distribution,
                   scale=cfg.neftune.scale, schedule=cfg.neftune.schedule, total_steps=total_steps,
                   seed=cfg.seed + 1 + 1_000_003 * rank)
    if rank:
        torch.manual_seed(cfg.seed + rank)
    if ckpt is not None:
        optimizer.load_state_dict(ckpt.optimizer)
        scheduler.load_state_dict(ckpt.scheduler)
        restore_rng(ckpt.rng, rank)
        noise_state, saved_by = saved_noise_state(ckpt.rng, rank, W)
        if noise_state is not None:
            neft.set_state(noise_state)
        else:
            events.log(f"the checkpoint's noise streams were saved by {saved_by} process(es), this run has "
                       f"{W}: noise is reseeded, so it will not repeat the uninterrupted run's noise", "warning")
        start_step = ckpt.state.step
        tokens_seen = ckpt.state.tokens_seen

    n_params = sum(p.numel() for p in model.parameters())
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    resolved = cfg.to_json()
    if is_main:
        dump_resolved(cfg, os.path.join(run_dir, RESOLVED_CONFIG_FILE))
    started = dict(run_id=os.path.basename(os.path.abspath(run_dir)), config=resolved,
                   model={"name": loaded.name, "parameters": n_params, "trainable_parameters": n_trainable},
                   device=str(accelerator.device) + (" (bf16 autocast)" if bf16 else ""), world_size=W,
                   total_steps=total_steps)
    if ckpt is not None:
        started["resumed_from_step"] = start_step
    events.emit("run_started", **started)

    def checkpoint(step: int, loss: Optional[float]) -> Optional[str]:
        accelerator.wait_for_everyone()
        per_rank = [rank_rng_state(neft.get_state())]
        if W > 1:
            from accelerate.utils import gather_object
            per_rank = gather_object(per_rank)  # every process's random streams, in rank order
        rel = None
        if is_main:
            state = TrainerState(step=step, epoch=step / steps_per_epoch, total_steps=total_steps,
                                 micro_batches_done=step * G, seed=cfg.seed, last_loss=loss,
                                 tokens_seen=tokens_seen)
            rel = save_checkpoint(run_dir, state, accelerator.unwrap_model(model), tokenizer, optimizer, scheduler,
                                  neft.get_state(), cfg.save_total_limit, per_rank=per_rank)
            events.emit("checkpoint", step=step, path=rel)
        return rel

    # -- 7. the loop --------------------------------------------------------------------------
    pad_id = tokenizer.pad_token_id
    # Which 4D mask (or none) a packed batch needs depends on the attention kernel (batching.model_inputs).
    attn_implementation = getattr(unwrap_model(model).config, "_attn_implementation", None)
    step = start_step
    last_loss: Optional[float] = None
    last_saved: Optional[int] = None
    last_ckpt: Optional[str] = None
    # Sums over the current logging interval.
    log_loss, log_steps, log_tokens, log_time = 0.0, 0, 0, 0.0

    def run_eval(at_step: int) -> None:
        t_eval = time.perf_counter()
        result = evaluate(accelerator, model, tokenizer, eval_plan, cfg.micro_batch_size, cfg.eval_max_new_tokens)
        events.emit("eval", step=at_step, **result)
        events.log(f"eval at step {at_step}: {time.perf_counter() - t_eval:.2f} s", "debug")

    last_eval: Optional[int] = None
    with neft:
        if eval_plan.enabled and step == 0:
            run_eval(0)  # the baseline, before any update
            last_eval = 0
        while step < total_steps:
            t0 = time.perf_counter()
            group = step_batches(step)  # this step's micro-batches, all processes
            mine = group[rank::W]  # this process's share
            # The last step of an epoch may hold fewer micro-batches than processes. A process
            # without one still runs a forward/backward (of a real batch, weighted 0, without
            # noise), so every process joins the same gradient all-reduce: no hang, exact gradient.
            idle = not mine
            if idle:
                mine = group[:1]
            # Normalize by the response tokens of the whole step (all processes), so accumulating
            # micro-batches of different sizes gives exactly the gradient of the mean token loss.
            # DDP averages gradients over processes, hence the factor W.
            step_tokens = sum(n_loss_tokens(batch_examples(b)) for b in group)
            loss_sum = torch.zeros((), device=accelerator.device)
            real_tokens = torch.zeros((), device=accelerator.device)
            for j, idx in enumerate(mine):
                batch = {k: v.to(accelerator.device) for k, v in make_batch(idx).items()}
                # The hook needs the real lengths: per row, or per packed example (segment ids).
                neft.set_batch(batch["attention_mask"], step, segment_ids=batch.get("segment_ids"),
                               n_segments=len(batch_examples(idx)) if packing else None)
                if idle:
                    neft.state.alpha = 0.0
                sync = j == len(mine) - 1
                with (accelerator.no_sync(model) if not sync and W > 1 else nullcontext()):
                    ce = response_loss_sum(model, model_inputs(batch, attn_implementation), batch["labels"])
                    accelerator.backward(ce * (0.0 if idle else W / max(step_tokens, 1)))
                if not idle:
                    loss_sum += ce.detach()
                    real_tokens += batch["attention_mask"].sum()
            clip = cfg.max_grad_norm if cfg.max_grad_norm > 0 else float("inf")
            grad_norm = float(accelerator.clip_grad_norm_(model.parameters(), clip))
            lr = scheduler.get_last_lr()[0]  # the LR this step used
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1

            if W > 1:
                loss_sum = accelerator.reduce(loss_sum, "sum")
                real_tokens = accelerator.reduce(real_tokens, "sum")
            loss = float(loss_sum) / max(step_tokens, 1)
            if not math.isfinite(loss):
                raise FloatingPointError(f"the loss became {loss} at step {step}: lower learning_rate "
                                         "(or raise warmup_steps, or set max_grad_norm)")
            last_loss = loss
            log_loss += loss
            log_steps += 1
            log_tokens += int(real_tokens)
            tokens_seen += int(real_tokens)
            log_time += time.perf_counter() - t0

            if step % cfg.logging_steps == 0 or step == total_steps:
                events.emit("step", step=step, total_steps=total_steps, epoch=round(step / steps_per_epoch, 6),
                            loss=log_loss / log_steps, lr=lr, grad_norm=grad_norm,
                            tokens_per_s=log_tokens / max(log_time, 1e-9),
                            noise_alpha=neft.state.alpha, noise_norm=neft.pop_norm(),
                            tokens=log_tokens,  # every step of the interval, all ranks
                            tokens_seen=tokens_seen)
                log_loss, log_steps, log_tokens, log_time = 0.0, 0, 0, 0.0

            stopping = stop.requested
            if W > 1:
                # A signal may reach the processes at different steps: stop together.
                flag = torch.tensor(float(stopping), device=accelerator.device)
                stopping = float(accelerator.reduce(flag, "sum")) > 0
            if stopping:
                rel = checkpoint(step, last_loss)
                events.emit("stopped", step=step, checkpoint=rel)
                return None
            if eval_plan.enabled and cfg.eval_steps and step % cfg.eval_steps == 0 and step < total_steps:
                run_eval(step)
                last_eval = step
            if cfg.save_steps and step % cfg.save_steps == 0 and step < total_steps:
                last_ckpt, last_saved = checkpoint(step, last_loss), step

        if eval_plan.enabled and last_eval != step:
            run_eval(step)  # the end of training

    # -- 8. final checkpoint ------------------------------------------------------------------
    if last_saved != step:
        last_ckpt = checkpoint(step, last_loss)
    return step, last_loss, last_ckpt, is_main
