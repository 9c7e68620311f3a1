"""The primary export route: onnxruntime-genai's model builder, run as a child process (no shell)
on a merged safetensors folder, and the fixes its graphs need before they go into an export folder.

    supported_architectures()      what this builder version can build (read from its source)
    run_builder(hf, out, p, ...)   python -m onnxruntime_genai.models.builder -i hf -o out -p p -e cpu
    place_graph(src, dst)          move model.onnx + sidecar to onnx/<name>.onnx + <name>.onnx.data,
                                   the graph's external-data location rewritten, kv dims fixed

The builder declares the key/value cache's last dimension as the symbolic `kv_cache_dim` (one graph
for plain and compressed caches). transformers.js builds the empty past from the declared shapes and
sets every named dimension but batch_size to 0, so we fix it to the head size.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Callable, List, Optional, Set

BUILDER_MODULE = "onnxruntime_genai.models.builder"
GRAPH_FILE = "model.onnx"  # what the builder writes (and its sidecar GRAPH_FILE + ".data")
KV_DIM_PARAM = "kv_cache_dim"


def builder_version() -> str:
    from importlib import metadata
    return metadata.version("onnxruntime-genai")


def supported_architectures() -> Set[str]:
    """The `architectures[0]` values the installed builder dispatches on. Its dispatch is an if/elif
    chain over string literals; there is no list to ask, so read them from its source."""
    import importlib.util
    spec = importlib.util.find_spec(BUILDER_MODULE)
    if spec is None or not spec.origin:
        return set()
    with open(spec.origin, encoding="utf-8") as f:
        text = f.read()
    return set(re.findall(r'architectures\[0\]\s*==\s*"([A-Za-z0-9_]+)"', text)) | \
        {a for group in re.findall(r'architectures\[0\]\s+in\s+[\(\[{]([^)\]}]*)[\)\]}]', text)
         for a in re.findall(r'"([A-Za-z0-9_]+)"', group)}


class BuilderError(Exception):
    def __init__(self, message: str, unsupported: bool = False):
        super().__init__(message)
        self.unsupported = unsupported


def run_builder(hf_folder: str, out_dir: str, precision: str, cache_dir: str,
                log: Callable[[str], None] = lambda m: None) -> None:
    """Build one precision for the CPU. The child is killed when this is interrupted (a stop signal
    raises in the waiting thread), so a cancel never leaves a builder running."""
    cmd = [sys.executable, "-m", BUILDER_MODULE, "-i", hf_folder, "-o", out_dir, "-p", precision, "-e", "cpu",
           "-c", cache_dir]
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    log(f"builder: {' '.join(cmd)}")
    # Its own session: a Ctrl-C in a terminal reaches only us; we stop the child ourselves.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        output, _ = proc.communicate()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = output.decode("utf-8", "replace")
    if proc.returncode != 0:
        lines = [ln for ln in re.split(r"[\r\n]+", text) if ln.strip()]
        tail = "\n".join(lines[-15:])
        unsupported = "not currently supported" in text
        raise BuilderError(f"the onnxruntime-genai builder failed (exit {proc.returncode}) on {precision}:\n{tail}",
                           unsupported=unsupported)
    if not os.path.isfile(os.path.join(out_dir, GRAPH_FILE)):
        raise BuilderError(f"the onnxruntime-genai builder wrote no {GRAPH_FILE} into {out_dir}")


# ----------------------------------------------------------------------------- graph fixes


def fix_kv_dims(model, head_dim: int) -> int:
    """Replace the symbolic kv_cache_dim by the head size in the graph's inputs/outputs (and value
    infos); returns how many dims were fixed."""
    fixed = 0
    for vi in list(model.graph.input) + list(model.graph.output) + list(model.graph.value_info):
        if not vi.type.HasField("tensor_type"):
            continue
        for d in vi.type.tensor_type.shape.dim:
            if d.dim_param == KV_DIM_PARAM:
                d.Clear()
                d.dim_value = head_dim
                fixed += 1
    return fixed


def set_external_location(model, location: str) -> List[str]:
    """Point every external initializer at `location` (the renamed sidecar). Returns the old
    locations seen (one, for a graph with one sidecar)."""
    from onnx import TensorProto
    seen = []
    tensors = list(model.graph.initializer)
    for node in model.graph.node:  # Constant nodes may hold external tensors too
        for a in node.attribute:
            if a.HasField("t"):
                tensors.append(a.t)
    for t in tensors:
        if t.data_location != TensorProto.EXTERNAL:
            continue
        for entry in t.external_data:
            if entry.key == "location":
                if entry.value not in seen:
                    seen.append(entry.value)
                entry.value = location
    return seen


def place_graph(src_graph: str, dst_graph: str, head_dim: Optional[int] = None) -> None:
    """Move a graph and its single sidecar to dst_graph / dst_graph + '.data', recording the new
    sidecar name in the graph (a copy would do too, but these files are hundreds of MB)."""
    import onnx
    model = onnx.load(src_graph, load_external_data=False)
    if head_dim is not None:
        fix_kv_dims(model, head_dim)
    new_data = os.path.basename(dst_graph) + ".data"
    old = set_external_location(model, new_data)
    if len(old) > 1:
        raise BuilderError(f"{src_graph} has {len(old)} sidecars ({', '.join(old)}); expected one")
    os.makedirs(os.path.dirname(dst_graph), exist_ok=True)
    if old:
        os.replace(os.path.join(os.path.dirname(src_graph), old[0]), os.path.join(os.path.dirname(dst_graph), new_data))
    onnx.save(model, dst_graph)
    if os.path.abspath(src_graph) != os.path.abspath(dst_graph):
        os.remove(src_graph)


# ----------------------------------------------------------------------------- the rows graph

ROWS_SUFFIX = ".rows.onnx"  # onnx/model_quantized.onnx -> onnx/model_quantized.rows.onnx
PRESENT_ROWS_KEY = "present_rows.%d.key"
PRESENT_ROWS_VALUE = "present_rows.%d.value"


def rows_graph_path(graph_rel: str) -> str:
    return graph_rel[: -len(".onnx")] + ROWS_SUFFIX


def write_rows_graph(src_graph: str, dst_graph: str) -> bool:
    """Write a second graph over the same weights (the same sidecar; ~200 KB of graph) whose
    key/value outputs are only the rows this step adds: present_rows.N.key / .value, the last
    sequence_length positions of GroupQueryAttention's present, which stays inside the graph.

    Why: onnxruntime-node copies every output into a new ArrayBuffer, preallocated ones included,
    so with the builder's graph each token copies and allocates the whole cache again (30 layers x
    2 x the context). With this graph the engine keeps the cache in its own buffers (inputs are not
    copied) and writes the new rows into them; per token it moves a few KB instead of the cache.
    Returns False (nothing written) for a graph without the builder's attention outputs."""
    import onnx
    from onnx import TensorProto, helper
    model = onnx.load(src_graph, load_external_data=False)
    g = model.graph
    outputs = {o.name: o for o in g.output}
    attn = [n for n in g.node if n.op_type == "GroupQueryAttention"]
    if not attn or not all(len(n.output) >= 3 and n.output[1] in outputs and n.output[2] in outputs for n in attn):
        return False

    def const(name, values):
        return helper.make_node("Constant", [], [name], name=name,
                                value=helper.make_tensor(name + "/value", TensorProto.INT64, [len(values)], values))

    # The new rows are positions [total - n, total) of present: total is attention_mask's length,
    # n input_ids' (the cache holds total - n positions before this run).
    nodes = [const("rows/one", [1]), const("rows/axis", [2]),
             helper.make_node("Shape", ["attention_mask"], ["rows/mask_shape"], name="rows/mask_shape"),
             helper.make_node("Gather", ["rows/mask_shape", "rows/one"], ["rows/end"], name="rows/end", axis=0),
             helper.make_node("Shape", ["input_ids"], ["rows/ids_shape"], name="rows/ids_shape"),
             helper.make_node("Gather", ["rows/ids_shape", "rows/one"], ["rows/n"], name="rows/n", axis=0),
             helper.make_node("Sub", ["rows/end", "rows/n"], ["rows/start"], name="rows/start")]
    new_outputs = []
    for n in attn:
        for i in (1, 2):
            present = n.output[i]
            if not present.startswith("present."):
                return False
            inner = present + "/all"
            n.output[i] = inner
            rows = "present_rows." + present[len("present."):]
            nodes.append(helper.make_node("Slice", [inner, "rows/start", "rows/end", "rows/axis"], [rows], name=rows))
            t = outputs[present].type.tensor_type
            dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in t.shape.dim]
            if len(dims) == 4:
                dims[2] = "sequence_length"
            new_outputs.append(helper.make_tensor_value_info(rows, t.elem_type, dims))
    g.node.extend(nodes)
    kept = [o for o in g.output if not o.name.startswith("present.")]
    del g.output[:]
    g.output.extend(kept + new_outputs)
    onnx.save(model, dst_graph)  # external data stays where the source graph says (the same sidecar)
    return True
