"""A Python peer of the chat benchmark (bench/chat/bench.ts), one engine per process, spoken to in
JSON lines on stdin / stdout (the shape of src/core/jsonLinesChannel.ts):

    python bench/chat/py_peer.py transformers --model MODEL_DIR --dtype fp32|bf16 [--threads 2]
    python bench/chat/py_peer.py genai --export EXPORT_DIR --precision P --work DIR [--threads 2]
    python bench/chat/py_peer.py ortloop --export EXPORT_DIR --precision P [--threads 2]

ortloop: the bare greedy loop of bench/chat/ortLoop.ts on Python onnxruntime (whichever
version this Python has), key/value buffers shared by past and present through IOBinding:
the same loop on another build of the runtime, to tell the runtime's share of a gap from the
loop's (onnxruntime-genai runs on the Python onnxruntime it finds, onnxruntime-node on its own).

The genai peer runs onnxruntime-genai on the export's own ONNX file for P: it needs
genai_config.json beside the model file, and an export holds three precisions in one folder,
so it makes WORK/P/ of hard links (copies across file systems; ONNX Runtime refuses symlinked
sidecars) and writes a genai_config.json there from the export's manifest.json, with
intra_op_num_threads set.

Requests: `load` -> {loadMs, rssBytes, version}; `retokenize` {items: [{ids} | {text}]} -> {ids: [...]} (each answer's
text encoded again, transformers only); `template` {messages} -> {ids, text} (transformers
only: the chat template applied by transformers' tokenizer, the reference prompt ids);
`generate` {ids, maxNewTokens} -> {newIds, tokenMs, totalMs}: greedy, stops on eos or after
maxNewTokens; tokenMs[i] is when new token i was known, in ms since the request arrived (so
tokenMs[0] is the time to first token, prompt pass included; no tokenization: ids are given).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class Transformers:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args

    def load(self) -> dict:
        import torch
        import transformers
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.set_num_threads(self.args.threads)
        t0 = time.perf_counter()
        dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[self.args.dtype]
        self.tok = AutoTokenizer.from_pretrained(self.args.model)
        if not self.args.tokenizer_only:
            self.model = AutoModelForCausalLM.from_pretrained(self.args.model, dtype=dtype).eval()
        self.torch = torch
        return {"loadMs": (time.perf_counter() - t0) * 1000, "rssBytes": rss_bytes(), "version": f"transformers {transformers.__version__}, torch {torch.__version__}, {torch.get_num_threads()} threads"}

    def template(self, p: dict) -> dict:
        enc = self.tok.apply_chat_template(p["messages"], add_generation_prompt=True, return_dict=True)
        text = self.tok.apply_chat_template(p["messages"], add_generation_prompt=True, tokenize=False)
        return {"ids": list(enc["input_ids"]), "text": text}

    def retokenize(self, p: dict) -> dict:
        """Each answer's text (ids decoded, special tokens dropped; or text as given) encoded again:
        answers compared as ids of their text, so two engines whose ids differ only in how the same
        text splits (ours streams text, not ids) count as equal."""
        out = []
        for item in p["items"]:
            text = item["text"] if item.get("text") is not None else self.tok.decode(item["ids"], skip_special_tokens=True)
            out.append(self.tok.encode(text, add_special_tokens=False))
        return {"ids": out}

    def generate(self, p: dict, t0: float) -> dict:
        from transformers.generation.streamers import BaseStreamer

        torch = self.torch
        times: list[float] = []
        prompt_seen = [False]

        class Timing(BaseStreamer):
            # generate() puts the prompt first, then each new token as soon as it is chosen.
            def put(self, value) -> None:  # noqa: ANN001
                if not prompt_seen[0]:
                    prompt_seen[0] = True
                    return
                now = time.perf_counter()
                times.extend([(now - t0) * 1000] * int(value.numel()))

            def end(self) -> None:
                pass

        ids = torch.tensor([p["ids"]], dtype=torch.long)
        with torch.inference_mode():
            out = self.model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=p["maxNewTokens"],
                do_sample=False,
                temperature=None,
                top_p=None,
                top_k=None,
                pad_token_id=self.tok.pad_token_id,
                streamer=Timing(),
            )
        total = (time.perf_counter() - t0) * 1000
        return {"newIds": out[0, ids.shape[1] :].tolist(), "tokenMs": times, "totalMs": total}


def genai_folder(export: Path, precision: str, work: Path, threads: int) -> Path:
    import shutil

    manifest = json.loads((export / "manifest.json").read_text())
    if precision not in manifest["precisions"]:
        raise ValueError(f"{export / 'manifest.json'}: precisions has no {precision!r}")
    model_file = export / manifest["precisions"][precision]["file"]
    folder = work / precision
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for src in [model_file, model_file.with_name(model_file.name + ".data")] + [export / n for n in ("tokenizer.json", "tokenizer_config.json")]:
        if src.is_file():
            try:
                os.link(src, folder / src.name)
            except OSError:
                shutil.copy2(src, folder / src.name)
    m, tok, io = manifest["model"], manifest["tokens"], manifest.get("io", {})
    eos = tok["eos_token_ids"]
    config = {
        "model": {
            "bos_token_id": tok.get("bos_token_id"),
            "context_length": m["context_length"],
            "decoder": {
                "session_options": {"log_id": "onnxruntime-genai", "provider_options": [], "intra_op_num_threads": threads, "inter_op_num_threads": 1},
                "filename": model_file.name,
                "head_size": m["head_dim"],
                "hidden_size": m.get("hidden_size", m["head_dim"] * m.get("num_attention_heads", 1)),
                "inputs": {
                    "input_ids": "input_ids",
                    "attention_mask": "attention_mask",
                    "past_key_names": io.get("past_key", "past_key_values.%d.key"),
                    "past_value_names": io.get("past_value", "past_key_values.%d.value"),
                },
                "outputs": {
                    "logits": "logits",
                    "present_key_names": io.get("present_key", "present.%d.key"),
                    "present_value_names": io.get("present_value", "present.%d.value"),
                },
                "num_attention_heads": m.get("num_attention_heads"),
                "num_hidden_layers": m["num_layers"],
                "num_key_value_heads": m["num_kv_heads"],
            },
            "eos_token_id": eos if len(eos) > 1 else eos[0],
            "pad_token_id": tok.get("pad_token_id") if tok.get("pad_token_id") is not None else eos[0],
            "type": m["family"],
            "vocab_size": m["vocab_size"],
        },
        # What the builder writes (past_present_share_buffer: the cache in preallocated buffers).
        "search": {"do_sample": False, "max_length": m["context_length"], "min_length": 0, "num_beams": 1, "num_return_sequences": 1, "past_present_share_buffer": True, "repetition_penalty": 1.0, "temperature": 1.0, "top_k": 1, "top_p": 1.0},
    }
    (folder / "genai_config.json").write_text(json.dumps(config, indent=2))
    return folder


class Genai:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args

    def load(self) -> dict:
        import onnxruntime_genai as og

        self.og = og
        t0 = time.perf_counter()
        folder = genai_folder(self.args.export, self.args.precision, self.args.work, self.args.threads)
        self.model = og.Model(str(folder))
        return {"loadMs": (time.perf_counter() - t0) * 1000, "rssBytes": rss_bytes(), "version": f"onnxruntime-genai {og.__version__}"}

    def generate(self, p: dict, t0: float) -> dict:
        og = self.og
        ids = p["ids"]
        params = og.GeneratorParams(self.model)
        params.set_search_options(do_sample=False, max_length=len(ids) + p["maxNewTokens"], batch_size=1)
        gen = og.Generator(self.model, params)
        # append_tokens runs the prompt pass; each generate_next_token picks a token (running the
        # model on the previous one first, from the second on).
        gen.append_tokens(ids)
        new, times = [], []
        while not gen.is_done() and len(new) < p["maxNewTokens"]:
            gen.generate_next_token()
            new.append(int(gen.get_next_tokens()[0]))
            times.append((time.perf_counter() - t0) * 1000)
        total = (time.perf_counter() - t0) * 1000
        del gen
        return {"newIds": new, "tokenMs": times, "totalMs": total}


class OrtLoop:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args

    def load(self) -> dict:
        import numpy as np
        import onnxruntime as ort

        self.np, self.ort = np, ort
        t0 = time.perf_counter()
        manifest = json.loads((self.args.export / "manifest.json").read_text())
        self.m = manifest
        so = ort.SessionOptions()
        so.intra_op_num_threads = self.args.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.sess = ort.InferenceSession(str(self.args.export / manifest["precisions"][self.args.precision]["file"]), so, providers=["CPUExecutionProvider"])
        return {"loadMs": (time.perf_counter() - t0) * 1000, "rssBytes": rss_bytes(), "version": f"onnxruntime {ort.__version__} (Python), shared key/value buffers"}

    def generate(self, p: dict, t0: float) -> dict:
        np, ort = self.np, self.ort
        mm, io = self.m["model"], self.m.get("io", {})
        L, H, D, V = mm["num_layers"], mm["num_kv_heads"], mm["head_dim"], mm["vocab_size"]
        ids, max_new = p["ids"], p["maxNewTokens"]
        cap = len(ids) + max_new
        eos = set(self.m["tokens"]["eos_token_ids"])
        b = self.sess.io_binding()
        kv = [ort.OrtValue.ortvalue_from_numpy(np.zeros((1, H, cap, D), dtype=np.float32)) for _ in range(2 * L)]
        for layer in range(L):
            for j, (inp, outp) in enumerate([(io.get("past_key", "past_key_values.%d.key"), io.get("present_key", "present.%d.key")), (io.get("past_value", "past_key_values.%d.value"), io.get("present_value", "present.%d.value"))]):
                b.bind_ortvalue_input(inp.replace("%d", str(layer)), kv[2 * layer + j])
                b.bind_ortvalue_output(outp.replace("%d", str(layer)), kv[2 * layer + j])
        mask = np.ones((1, cap), dtype=np.int64)
        logits1 = np.zeros((1, 1, V), dtype=np.float32)
        one = np.zeros((1, 1), dtype=np.int64)
        nxt = np.array([ids], dtype=np.int64)
        past = 0
        new, times, run_ms = [], [], []
        while len(new) < max_new:
            n = nxt.shape[1]
            b.bind_cpu_input("input_ids", nxt)
            b.bind_cpu_input("attention_mask", mask[:, : past + n])
            lo = logits1 if n == 1 else np.zeros((1, n, V), dtype=np.float32)
            b.bind_output("logits", "cpu", 0, np.float32, list(lo.shape), lo.ctypes.data)
            r0 = time.perf_counter()
            self.sess.run_with_iobinding(b)
            run_ms.append((time.perf_counter() - r0) * 1000)
            tok = int(lo[0, -1].argmax())
            new.append(tok)
            times.append((time.perf_counter() - t0) * 1000)
            if tok in eos:
                break
            past += n
            one[0, 0] = tok
            nxt = one
        return {"newIds": new, "tokenMs": times, "totalMs": (time.perf_counter() - t0) * 1000, "runMs": run_ms}


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="engine", required=True)
    t = sub.add_parser("transformers")
    t.add_argument("--model", required=True)
    t.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--tokenizer-only", action="store_true", help="load the tokenizer only (the template request)")
    g = sub.add_parser("genai")
    g.add_argument("--export", type=Path, required=True)
    g.add_argument("--precision", choices=["fp32", "int8", "int4"], required=True)
    g.add_argument("--work", type=Path, required=True)
    g.add_argument("--threads", type=int, default=2)
    o = sub.add_parser("ortloop")
    o.add_argument("--export", type=Path, required=True)
    o.add_argument("--precision", choices=["fp32", "int8", "int4"], required=True)
    o.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    engine = Transformers(args) if args.engine == "transformers" else Genai(args) if args.engine == "genai" else OrtLoop(args)

    out = sys.stdout
    # Library chatter goes to stderr; stdout carries the channel only.
    sys.stdout = sys.stderr
    for line in sys.stdin:
        if not line.strip():
            continue
        msg = json.loads(line)
        if "id" not in msg:
            continue  # a notification ($/cancel): nothing here is cancellable
        t0 = time.perf_counter()
        try:
            method, params = msg["method"], msg.get("params") or {}
            if method == "load":
                result = engine.load()
            elif method == "template" and isinstance(engine, Transformers):
                result = engine.template(params)
            elif method == "retokenize" and isinstance(engine, Transformers):
                result = engine.retokenize(params)
            elif method == "generate":
                result = engine.generate(params, t0)
            else:
                raise ValueError(f"unknown method {method!r}")
            reply = {"id": msg["id"], "result": result}
        except Exception as e:  # the orchestrator reports it and goes on without this engine
            reply = {"id": msg["id"], "error": {"message": f"{type(e).__name__}: {e}"}}
        out.write(json.dumps(reply) + "\n")
        out.flush()


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
