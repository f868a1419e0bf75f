"""describe: what kerasc makes of a model, layer by layer, for `kerasc inspect` and the verify report.

Unlike `convert`, which stops at the first problem, this lists every layer with a status: "ok",
or the ConversionError that layer gets (the same message convert prints). After an unsupported
layer the next layer's input width is unknown; it is read from that layer's kernel when it has
one, so later layers are still checked, and their shapes are shown as unknown.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from .errors import ConversionError
from .ir import FLOAT_BYTES, ModelIR, Node
from .layers import DOCS, Context, to_node

OK = "ok"


@dataclass
class LayerInfo:
    index: int  # position among the converted layers (the input layer is not counted)
    name: str
    keras_class: str
    status: str  # OK, or why kerasc cannot convert the layer
    input: str  # shapes as (timesteps, features) or (features,); "?" when unknown
    output: str
    params: int
    flash_bytes: Optional[int] = None
    state_bytes: Optional[int] = None
    streaming: Optional[bool] = None  # the layer can run one timestep at a time
    options: dict[str, Any] = field(default_factory=dict)  # options that differ from Keras' defaults
    summary: str = ""
    ignored: tuple[str, ...] = ()  # training-only options set on the layer

    @property
    def ok(self) -> bool:
        return self.status == OK


@dataclass
class Description:
    name: str
    source: str
    keras_version: str
    input: str
    output: str
    layers: list[LayerInfo]
    ir: Optional[ModelIR]  # None when the model cannot be converted
    problems: list[str]  # every reason convert would refuse, first the one it reports

    @property
    def convertible(self) -> bool:
        return self.ir is not None


def shape_text(seq: bool, timesteps: Optional[int], width: int) -> str:
    return f"({timesteps or 'T'}, {width})" if seq else f"({width},)"


def display_options(node: Node) -> dict[str, Any]:
    """The documented options of the node's layer that differ from Keras' defaults, plus the
    activations (always worth seeing); `units` is in the output shape."""
    spec = DOCS.get(node.keras_class)
    shown: dict[str, Any] = {}
    for opt in spec.options if spec is not None else ():
        if opt.name == "units" or opt.name not in node.options:
            continue
        value = node.options[opt.name]
        if opt.name.endswith("activation") or value != opt.default:
            shown[opt.name] = value
    return shown


def layer_from_node(n: Node, timesteps: Optional[int]) -> LayerInfo:
    return LayerInfo(
        index=n.index, name=n.keras_name, keras_class=n.keras_class, status=OK,
        input=shape_text(n.in_seq, timesteps, n.in_width), output=shape_text(n.out_seq, timesteps, n.out_width),
        params=n.params, flash_bytes=n.weight_bytes, state_bytes=n.state_floats * FLOAT_BYTES,
        streaming=not n.go_backwards, options=display_options(n), summary=n.summary, ignored=tuple(n.ignored),
    )


def from_ir(ir: ModelIR) -> Description:
    return Description(ir.name, ir.source, ir.keras_version, shape_text(ir.input_seq, ir.timesteps, ir.input_width),
                       shape_text(ir.output_seq, ir.timesteps, ir.output_width),
                       [layer_from_node(n, ir.timesteps) for n in ir.nodes], ir, [])


def describe(source: Any, name: Optional[str] = None) -> Description:
    """Every layer of `source` with its status. Raises ConversionError only when the file cannot be
    read at all (or `name` is not usable): then there are no layers to list."""
    from .graph import build

    try:
        return from_ir(build(source, name))
    except ConversionError as exc:
        first = str(exc)
    return _survey(source, name, first)


def _survey(source: Any, name: Optional[str], first: str) -> Description:
    """Lower each layer on its own, after `build` refused the model with `first`."""
    from . import names
    from .graph import _chain, _input_spec
    from .load import load

    where = str(source) if isinstance(source, (str, os.PathLike)) else None
    try:
        record = load(source)
        prefix = names.validate(name) if name is not None else names.sanitize(record.name)
    except (ConversionError, KeyError, TypeError, ValueError, AttributeError, IndexError, OSError):
        raise ConversionError(first) from None
    problems = [first]

    def note(msg: str) -> str:
        """Record a problem as convert would print it (naming the file); return it as given."""
        full = msg if not where or Path(where).name in msg.split(":")[0] else f"{where}: {msg}"
        if full not in problems:
            problems.append(full)
        return msg

    alone = False  # not a chain: the layers in file order, each checked on its own
    try:
        chain = _chain(record)
    except ConversionError as exc:
        note(str(exc))
        alone = True
        chain = [r for r in record.layers if r.class_name == "InputLayer"][:1] + \
                [r for r in record.layers if r.class_name != "InputLayer"]
    width: Optional[int] = None
    seq, timesteps = True, None
    model_in = "?"
    if chain and chain[0].class_name == "InputLayer":
        try:
            width, seq, timesteps = _input_spec(chain[0], record.source)
            model_in = shape_text(seq, timesteps, width)
        except ConversionError as exc:
            note(str(exc))
        chain = chain[1:]
    rows: list[LayerInfo] = []
    known = width is not None  # the input of the current layer is known, not guessed
    for i, rec in enumerate(chain):
        known = known and not (alone and i > 0)
        kernel = rec.weights[0] if rec.weights and getattr(rec.weights[0], "ndim", 0) == 2 else None
        if not known and kernel is not None:
            width = int(kernel.shape[0])
        node, error = None, None
        for try_seq in ((seq,) if known else (seq, not seq)):
            try:
                node = to_node(rec, Context(index=i, prefix=prefix, in_width=width or 1, in_seq=try_seq,
                                            legacy=record.legacy))
                break
            except ConversionError as exc:
                error = error or str(exc)
            except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
                error = error or (f"layer '{rec.name}' ({rec.class_name}): malformed config "
                                  f"({type(exc).__name__}: {exc})")
        if node is not None:
            row = layer_from_node(node, timesteps)
            if not known:
                row.input = "?"
            rows.append(row)
            width, seq = node.out_width, node.out_seq
        else:
            assert error is not None
            rows.append(LayerInfo(index=i, name=rec.name, keras_class=rec.class_name, status=note(error),
                                  input=shape_text(seq, timesteps, width) if known and width else "?", output="?",
                                  params=sum(int(getattr(w, "size", 0)) for w in rec.weights)))
            known = False
    out = rows[-1].output if rows else "?"
    return Description(prefix, record.source, record.keras_version, model_in, out, rows, None, problems)


def text(desc: Description) -> str:
    """The table `kerasc inspect` prints."""
    ir = desc.ir
    lines = [f"model '{desc.name}' from {desc.source} (Keras {desc.keras_version}): input {desc.input} -> "
             f"output {desc.output}", ""]
    notes: list[str] = []
    body = []
    for row in desc.layers:
        if row.ok:
            status = OK
        else:
            notes.append(row.status)
            status = f"NO [{len(notes)}]"
        body.append([str(row.index), row.name, row.keras_class, row.input, row.output, str(row.params),
                     _num(row.flash_bytes), _num(row.state_bytes),
                     "?" if row.streaming is None else ("yes" if row.streaming else "no"), status,
                     " ".join(f"{k}={v}" for k, v in row.options.items())])
    head = ["#", "layer", "class", "input", "output", "params", "flash B", "RAM B", "stream", "status", "options"]
    right = {0, 5, 6, 7}
    widths = [max(len(r[c]) for r in [head] + body) for c in range(len(head))]

    def fmt(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))
                         ).rstrip()

    lines.append(fmt(head))
    lines.append("-" * len(fmt(head)))
    lines += [fmt(r) for r in body]
    lines.append("-" * len(fmt(head)))
    if ir is not None:
        scratch = ir.scratch_floats * FLOAT_BYTES
        lines.append(f"total: {ir.params} parameters; flash {ir.weight_bytes} bytes (weights); RAM {ir.state_bytes} "
                     f"bytes (state {ir.state_bytes - scratch} + scratch {scratch})")
        lines.append("flash by --weights: " + ", ".join(f"{w} {b} bytes" for w, b in flash_by_weights(ir).items()))
        lines.append(f"streaming ({ir.name}_step): {'yes' if ir.causal else 'no, ' + why_not_stream(ir)}")
        for row in desc.layers:
            if row.ignored:
                lines.append(f"note: layer '{row.name}': training-only options ignored: {', '.join(row.ignored)}")
    else:
        for i, msg in enumerate(notes, 1):
            lines.append(f"[{i}] {msg}")
        for msg in desc.problems:
            if not any(msg.endswith(n) for n in notes):
                lines.append(f"model: {msg}")
        lines.append(f"cannot convert: {len(desc.problems)} problem{'s' if len(desc.problems) != 1 else ''} "
                     "listed above; `kerasc convert` stops at the first")
    return "\n".join(lines)


def to_json(desc: Description) -> dict[str, Any]:
    """The object `kerasc inspect --json` prints (keys of earlier versions kept)."""
    ir = desc.ir
    layers = [{
        "index": r.index, "name": r.name, "class": r.keras_class, "status": r.status, "summary": r.summary,
        "input": r.input, "output": r.output, "params": r.params, "flash_bytes": r.flash_bytes,
        "state_bytes": r.state_bytes, "streaming": r.streaming, "options": r.options,
        "ignored_options": list(r.ignored),
    } for r in desc.layers]
    info: dict[str, Any] = {
        "name": desc.name, "source": desc.source, "keras_version": desc.keras_version,
        "input": desc.input, "output": desc.output, "convertible": desc.convertible, "problems": desc.problems,
        "params": None, "flash_bytes": None, "ram_bytes": None, "scratch_bytes": None, "streaming": None,
        "streaming_note": "", "layers": layers,
    }
    if ir is not None:
        info.update({"params": ir.params, "flash_bytes": ir.weight_bytes, "ram_bytes": ir.state_bytes,
                     "scratch_bytes": ir.scratch_floats * FLOAT_BYTES, "streaming": ir.causal,
                     "flash_bytes_by_weights": flash_by_weights(ir),
                     "streaming_note": "" if ir.causal else why_not_stream(ir)})
    return info


def flash_by_weights(ir: ModelIR) -> dict[str, int]:
    """Flash bytes of the weights with each `--weights` choice (kernels quantized, the rest float32)."""
    from .quant import WEIGHT_TYPES, quantize

    return {w: quantize(ir, w).weight_bytes for w in WEIGHT_TYPES}


def why_not_stream(ir: ModelIR) -> str:
    if not ir.input_seq:
        return "the input has no time axis"
    backwards = [n.keras_name for n in ir.nodes if n.go_backwards]
    return f"go_backwards in {', '.join(backwards)}"


def _num(v: Optional[int]) -> str:
    return "?" if v is None else str(v)
