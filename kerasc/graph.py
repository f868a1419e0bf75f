"""graph: a ModelRecord (layer records and edges) -> ModelIR (nodes in evaluation order)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

from . import __version__, names
from .errors import ConversionError
from .ir import ModelIR, Node
from .layers import MAX_UNITS, Context, to_node
from .load import LayerRecord, ModelRecord, load


def build(source: Any, name: Optional[str] = None) -> ModelIR:
    """Load any model source and lower it to the IR.

    Errors name the source file: a file from a colleague or an old disk may hold anything, so
    a malformed config (a missing key, a value of the wrong type) is a ConversionError too."""
    where = str(source) if isinstance(source, (str, os.PathLike)) else None
    try:
        return lower(load(source), name)
    except ConversionError as exc:
        msg = str(exc)
        if where and not msg.startswith(where) and Path(where).name not in msg.split(":")[0]:
            msg = f"{where}: {msg}"
        raise ConversionError(msg) from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OSError) as exc:
        raise ConversionError(f"{where or 'model'}: malformed model ({type(exc).__name__}: {exc})") from None


def lower(record: ModelRecord, name: Optional[str] = None) -> ModelIR:
    prefix = names.validate(name) if name is not None else names.sanitize(record.name)
    chain = _chain(record)
    in_rec = chain[0]
    width, seq, timesteps = _input_spec(in_rec, record.source)
    nodes: list[Node] = []
    for rec in chain[1:]:
        node = to_node(rec, Context(index=len(nodes), prefix=prefix, in_width=width, in_seq=seq,
                                    legacy=record.legacy))
        nodes.append(node)
        width, seq = node.out_width, node.out_seq
    if not nodes:
        raise ConversionError(f"{record.source}: the model has no layers to convert")
    scratch = max([int(n.options.get("scratch", 0)) for n in nodes] + [1])
    return ModelIR(name=prefix, source=record.source, keras_version=record.keras_version,
                   kerasc_version=__version__, input_width=nodes[0].in_width, input_seq=nodes[0].in_seq,
                   timesteps=timesteps, nodes=tuple(nodes), scratch_floats=scratch)


def _input_spec(rec: LayerRecord, source: str) -> tuple[int, bool, Optional[int]]:
    shape = rec.config.get("batch_shape") or rec.config.get("batch_input_shape")
    if shape is None and rec.config.get("shape") is not None:
        shape = [None] + list(rec.config["shape"])
    if not isinstance(shape, (list, tuple)) or len(shape) not in (2, 3):
        raise ConversionError(f"{source}: input '{rec.name}' has shape {shape!r}; supported: (batch, timesteps, "
                              "features) for sequences or (batch, features) for vectors")
    dims = list(shape[1:])
    if not all(d is None or (isinstance(d, int) and not isinstance(d, bool) and 0 < d <= MAX_UNITS) for d in dims):
        raise ConversionError(f"{source}: input '{rec.name}' has shape {shape!r}; every dimension must be a "
                              f"positive integer up to {MAX_UNITS} (or None for timesteps)")
    if dims[-1] is None:
        raise ConversionError(f"{source}: input '{rec.name}' has an unknown feature size; it must be fixed")
    dtype = rec.config.get("dtype", "float32")
    if isinstance(dtype, dict):
        dtype = dtype.get("config", {}).get("name", "float32")
    if dtype not in ("float32", None):
        raise ConversionError(f"{source}: input '{rec.name}' has dtype {dtype!r}; supported: float32")
    if rec.config.get("sparse") or rec.config.get("ragged"):
        raise ConversionError(f"{source}: input '{rec.name}' is sparse or ragged; supported: dense float32 tensors")
    if len(dims) == 2:
        return int(dims[1]), True, (int(dims[0]) if dims[0] is not None else None)
    return int(dims[0]), False, None


def _chain(record: ModelRecord) -> list[LayerRecord]:
    """The layers in order, checked to form a single chain input -> ... -> output."""
    by_name = {r.name: r for r in record.layers}
    if len(record.inputs) != 1 or len(record.outputs) != 1:
        raise ConversionError(
            f"{record.source}: the model has {len(record.inputs)} inputs and {len(record.outputs)} outputs; "
            "supported: one input and one output"
        )
    in_name = record.inputs[0][0]
    start = by_name.get(in_name)
    if start is None or start.class_name != "InputLayer":
        raise ConversionError(f"{record.source}: model input '{in_name}' is not an InputLayer")
    consumers: dict[str, list[LayerRecord]] = {}
    for rec in record.layers:
        if rec.class_name == "InputLayer":
            continue
        if len(rec.inbound) != 1:
            raise ConversionError(
                f"layer '{rec.name}' ({rec.class_name}) is called {len(rec.inbound)} times; "
                "supported: each layer called once, in a chain"
            )
        refs = rec.inbound[0]
        if len(refs) != 1 or refs[0][1:] != (0, 0):
            raise ConversionError(
                f"layer '{rec.name}' ({rec.class_name}) takes {len(refs)} inputs {[r[0] for r in refs]}; "
                "supported: layers that form a single chain"
            )
        kwargs = {k: v for k, v in rec.call_kwargs[0].items() if k != "training" and v is not None}
        if kwargs:
            raise ConversionError(
                f"layer '{rec.name}' ({rec.class_name}) is called with {', '.join(sorted(kwargs))}; "
                "supported: a plain call on one tensor"
            )
        consumers.setdefault(refs[0][0], []).append(rec)
    chain = [start]
    while True:
        nxt = consumers.get(chain[-1].name, [])
        if len(nxt) > 1:
            raise ConversionError(
                f"layer '{chain[-1].name}' feeds {len(nxt)} layers ({', '.join(r.name for r in nxt)}); "
                "supported: layers that form a single chain"
            )
        if not nxt:
            break
        chain.append(nxt[0])
    used = {r.name for r in chain}
    extra = [r.name for r in record.layers if r.name not in used]
    if extra:
        raise ConversionError(f"{record.source}: layers {extra} are not on the chain from input to output")
    if record.outputs[0][0] != chain[-1].name:
        raise ConversionError(f"{record.source}: the model output is '{record.outputs[0][0]}', not the end of the "
                              f"chain '{chain[-1].name}'")
    return chain
