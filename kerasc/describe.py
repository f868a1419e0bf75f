"""describe: what kerasc makes of a model, layer by layer, for `kerasc inspect` and the verify report.

Unlike `convert`, which stops at the first problem, this lists every layer with a status: "ok",
or the ConversionError that layer gets (the same message convert prints).

A convertible model is described from its IR, one row per Keras layer in graph order. A layer that
lowers to several nodes (Bidirectional: forward RNN, backward RNN, merge) is ONE row, with the sums
of its nodes' sizes: the rows match the layers the user wrote, and every row can be compared with
`model.summary()`. A model that cannot be converted is surveyed layer by layer: each layer is
lowered on its own, as a one-layer model fed by inputs of the shapes that reach it. After an
unsupported layer the next layer's input width is unknown; it is read from that layer's kernel when
it has one, so later layers are still checked, and their inputs are shown as unknown.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional

from .errors import ConversionError, printable
from .ir import FLOAT_BYTES, ModelIR, Node
from .layers import DOCS

OK = "ok"
BIDI_MERGE_MODES = {"concat": "concat", "add": "sum", "mul": "mul", "ave": "ave", "copy": None}
MALFORMED = (KeyError, TypeError, ValueError, AttributeError, IndexError)


@dataclass
class LayerInfo:
    index: int  # position among the converted layers (the input layers are not counted)
    name: str
    keras_class: str
    status: str  # OK, or why kerasc cannot convert the layer
    input: str  # shapes as (timesteps, features) or (features,), a list for several; "?" when unknown
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


def shape_text(seq: bool, timesteps: Optional[int], width: int, tokens: bool = False) -> str:
    if tokens:  # token ids: Keras' (timesteps,), one int32 per timestep
        return f"({timesteps or 'T'},) int32"
    return f"({timesteps or 'T'}, {width})" if seq else f"({width},)"


def _shapes(texts: list[str]) -> str:
    return texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"


def _steps(ir: ModelIR, d: int) -> Any:
    """A time axis for display: its fixed length, T (an input's), or T' (derived from T by a layer)."""
    fixed = ir.fixed_length(d)
    if fixed is None and d < len(ir.domains) and ir.domains[d].derived:
        return "T'"
    return fixed


def tensor_shapes(ir: ModelIR, indices: Iterable[int]) -> str:
    """The shapes of these tensors of `ir` (one, or a list), sequences with their input's timesteps."""
    texts = []
    for i in indices:
        t = ir.tensors[i]
        steps = _steps(ir, t.domain) if t.seq else None
        texts.append(shape_text(t.seq, steps, t.width, t.ctype != "float"))
    return _shapes(texts) if texts else "?"


def display_options(node: Node) -> dict[str, Any]:
    """The documented options of the node's layer that differ from Keras' defaults, plus the
    activations (always worth seeing); `units` is in the output shape. For a part of a wrapper
    (Bidirectional, TimeDistributed), `layer=` and the options of the wrapped layer."""
    spec = DOCS.get(node.inner_class or node.keras_class)
    shown: dict[str, Any] = {"layer": node.inner_class} if node.inner_class else {}
    for opt in spec.options if spec is not None else ():
        if opt.name == "units" or opt.name not in node.options:
            continue
        value = node.options[opt.name]
        if isinstance(opt.default, float) and isinstance(value, str):  # kept as a C literal, e.g. 0.0f
            value = float(value.rstrip("f"))
        if opt.name.endswith("activation") or value != opt.default:
            shown[opt.name] = value
    from .extend import plugins

    plugin = plugins().get(node.inner_class or node.keras_class)
    if plugin is not None:  # a custom class: which plugin lowers it
        shown["plugin"] = plugin
    return shown


def _layer_rows(ir: ModelIR) -> list[LayerInfo]:
    """One row per Keras layer of `ir`, in graph order (the nodes of a wrapper summed in one row)."""
    groups: dict[str, list[Node]] = {}
    for n in ir.nodes:
        groups.setdefault(n.keras_name, []).append(n)
    rows = []
    for k, (name, nodes) in enumerate(groups.items()):
        first = nodes[0]
        outs = sorted((t for t in ir.tensors if t.keras_layer == name and t.producer >= 0),
                      key=lambda t: t.keras_port)
        options = display_options(first)
        if first.keras_class == "Bidirectional":
            options.pop("zero_output_for_mask", None)  # Bidirectional sets it on its RNNs itself
            mode = next((BIDI_MERGE_MODES.get(n.options.get("op")) for n in nodes if n.kind == "merge"), "concat")
            if mode != "concat":
                options["merge_mode"] = mode
        summaries = list(dict.fromkeys(n.summary for n in nodes if n.summary))
        rows.append(LayerInfo(
            index=k, name=name, keras_class=first.keras_class, status=OK,
            input=tensor_shapes(ir, first.inputs) if first.inputs else shape_text(first.in_seq, ir.timesteps,
                                                                                  first.in_width),
            output=tensor_shapes(ir, [t.index for t in outs]) if outs else shape_text(first.out_seq, ir.timesteps,
                                                                                      first.out_width),
            params=sum(n.params for n in nodes), flash_bytes=sum(n.weight_bytes for n in nodes),
            state_bytes=sum(n.state_floats for n in nodes) * FLOAT_BYTES, streaming=all(n.causal for n in nodes),
            options=options, summary="; ".join(summaries),
            ignored=tuple(dict.fromkeys(i for n in nodes for i in n.ignored)),
        ))
        folded = first.options.get("folded")
        if folded:  # a BatchNormalization folded into this Dense: listed, at no cost, where it is in the model
            rows.append(LayerInfo(index=k, name=folded, keras_class="BatchNormalization", status=OK,
                                  input=rows[-1].output,
                                  output=tensor_shapes(ir, [t.index for t in ir.tensors if t.keras_layer == folded]),
                                  params=0, flash_bytes=0, state_bytes=0, streaming=True,
                                  options={"folded_into": name}, summary=f"folded into Dense '{name}'"))
    for i, row in enumerate(rows):
        row.index = i
    return rows


def from_ir(ir: ModelIR) -> Description:
    return Description(ir.name, ir.source, ir.keras_version, tensor_shapes(ir, ir.inputs),
                       tensor_shapes(ir, ir.outputs), _layer_rows(ir), ir, [])


def describe(source: Any, name: Optional[str] = None) -> Description:
    """Every layer of `source` with its status. Raises ConversionError only when the file cannot be
    read at all (or `name` is not usable): then there are no layers to list."""
    from .lower import build

    try:
        return from_ir(build(source, name))
    except ConversionError as exc:
        first = str(exc)
    return _survey(source, name, first)


@dataclass
class _Shape:
    """What is known of a tensor during the survey: its width may be a guess (known=False)."""

    width: Optional[int]
    seq: bool
    timesteps: Optional[int]
    known: bool


def _survey(source: Any, name: Optional[str], first: str) -> Description:
    """List every layer, each lowered on its own, after `build` refused the model with `first`."""
    from . import names
    from .layers import traits
    from .load import load
    from .lower import input_spec, layer_readers, lower_alone, mask_only_layers, readers, topological

    where = str(source) if isinstance(source, (str, os.PathLike)) else None
    try:
        record = load(source)
        prefix = names.validate(name) if name is not None else names.sanitize(record.name)
    except (ConversionError, OSError) + MALFORMED:
        raise ConversionError(first) from None
    problems = [first]

    def note(msg: str) -> str:
        """Record a problem as convert would print it (naming the file); return it as given."""
        full = msg if not where or Path(where).name in msg.split(":")[0] else f"{where}: {msg}"
        if full not in problems:
            problems.append(full)
        return msg

    # The layer convert's error names (its row gets that error: it may be about how the layer is
    # called, which lowering the layer on its own does not see).
    bare = first[len(where) + 2:] if where and first.startswith(f"{where}: ") else first
    blamed = re.match(r"layer '(.+?)' \(", bare)
    blamed_name = blamed.group(1) if blamed else None
    try:
        by_name = {r.name: r for r in record.layers}
        order = topological(record, by_name)
        skip = mask_only_layers(record, order)
    except (ConversionError,) + MALFORMED:  # a cycle, a dangling reference: the layers in file order
        order, skip = list(record.layers), set()
    shapes: dict[tuple[str, int], _Shape] = {}
    model_in = []
    try:
        reads = readers(record, order, skip)
    except (ConversionError,) + MALFORMED:
        reads = {}
    for ref in record.inputs:
        rec = next((r for r in record.layers if r.name == ref[0] and r.class_name == "InputLayer"), None)
        try:
            if rec is None:
                raise ConversionError(f"{record.source}: model input '{ref[0]}' is not an InputLayer")
            width, seq, steps, ctype = input_spec(rec, record.source, layer_readers(reads, rec.name))
            shapes[(rec.name, 0)] = _Shape(width, seq, steps, True)
            model_in.append(shape_text(seq, steps, width, ctype != "float"))
        except ConversionError as exc:
            note(str(exc))
            model_in.append("?")
    rows: list[LayerInfo] = []
    for rec in order:
        if rec.class_name == "InputLayer" or rec.name in skip:
            continue
        refs = list(rec.inbound[0]) if rec.inbound else []
        ins = [shapes.get((r[0], r[2])) or _Shape(None, True, None, False) for r in refs]
        known = bool(ins) and all(s.known for s in ins)
        guess = next((s for s in ins if s.width is not None), None)
        try:
            implied = traits(rec.class_name).in_width(rec)  # the input width the layer's weights imply
        except MALFORMED:
            implied = None
        if not known:
            width = implied if implied is not None else (guess.width if guess else None) or 1
            seq = ins[0].seq if ins else True
            steps = ins[0].timesteps if ins else None
            ins = [s if s.known else _Shape(width, seq, steps, False) for s in ins] or [_Shape(width, seq, steps,
                                                                                               False)]
        ir, error, outputs = None, None, set()  # outputs: the output shapes the guesses that lower give
        for flip in ((False,) if known else (False, True)):
            tried = [_Shape(s.width, s.seq != (flip and not s.known), s.timesteps, s.known) for s in ins]
            try:
                alone = lower_alone(rec, [(s.width, s.seq, s.timesteps) for s in tried], record, prefix)
                ir = ir or alone
                outputs.add(_layer_rows(alone)[0].output)
            except ConversionError as exc:
                error = error or str(exc)
            except MALFORMED as exc:
                error = error or (f"layer '{rec.name}' ({rec.class_name}): malformed config "
                                  f"({type(exc).__name__}: {exc})")
        if rec.name == blamed_name:
            ir, error = None, bare
        if ir is not None:
            row = _layer_rows(ir)[0]
            guessed = not known and implied is None  # its output width follows from a guessed input width
            if not known:
                row.input = "?"
            if guessed or len(outputs) > 1:  # its output follows from a guess (a width, a time axis or not)
                row.output, row.state_bytes = "?", None
            outs = sorted((t for t in ir.tensors if t.keras_layer == rec.name and t.producer >= 0),
                          key=lambda t: t.keras_port)
            for t in outs:
                steps = ir.fixed_length(t.domain) if t.seq and t.domain >= 0 else None
                shapes[(rec.name, t.keras_port)] = _Shape(None if guessed else t.width, t.seq, steps, known)
        else:
            assert error is not None
            base = ins[0] if ins else _Shape(None, True, None, False)
            row = LayerInfo(index=0, name=rec.name, keras_class=rec.class_name, status=note(error),
                            input=_shapes([shape_text(s.seq, s.timesteps, s.width) for s in ins]) if known else "?",
                            output="?", params=sum(int(getattr(w, "size", 0)) for w in rec.weights))
            shapes[(rec.name, 0)] = _Shape(None, base.seq, None, False)  # its length is unknown too
        row.index = len(rows)
        rows.append(row)
    outs = [shapes.get((r[0], r[2])) for r in record.outputs]
    out = _shapes([shape_text(s.seq, s.timesteps, s.width) if s and s.known and s.width else "?" for s in outs]) \
        if outs else "?"
    return Description(prefix, record.source, record.keras_version, _shapes(model_in) if model_in else "?", out, rows,
                       None, problems)


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
            notes.append(printable(row.status))
            status = f"NO [{len(notes)}]"
        body.append([str(row.index), printable(row.name), printable(row.keras_class), row.input, row.output, str(row.params),
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
        lines.append(f"total: {ir.params} parameters; flash {ir.weight_bytes} bytes (weights); RAM {ir.ram_bytes} "
                     f"bytes (state {ir.state_bytes} + scratch {scratch})")
        if ir.needs_work:
            lines.append(f"work buffer: {ir.name}_predict takes a caller buffer of {ir.work_per_step * FLOAT_BYTES} "
                         f"bytes per timestep ({ir.NAME}_WORK_FLOATS(T) floats)")
        if ir.stateful:
            lines.append(f"stateful: {ir.name}_predict keeps the state of stateful layers between calls; "
                         f"{ir.name}_reset clears it")
        lines.append("flash by --weights: " + ", ".join(f"{w} {b} bytes" for w, b in flash_by_weights(ir).items()))
        lines.append(f"streaming ({ir.name}_step): {'yes' if ir.causal else 'no, ' + why_not_stream(ir)}")
        lines += stack_lines(ir)
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
        "params": None, "flash_bytes": None, "ram_bytes": None, "state_bytes": None, "scratch_bytes": None,
        "work_bytes_per_timestep": None, "stateful": None, "streaming": None, "streaming_note": "", "stack": None,
        "layers": layers,
    }
    if ir is not None:
        info.update({"params": ir.params, "flash_bytes": ir.weight_bytes, "ram_bytes": ir.ram_bytes,
                     "state_bytes": ir.state_bytes, "scratch_bytes": ir.scratch_bytes,
                     "work_bytes_per_timestep": ir.work_per_step * FLOAT_BYTES, "stateful": ir.stateful,
                     "streaming": ir.causal, "flash_bytes_by_weights": flash_by_weights(ir),
                     "streaming_note": "" if ir.causal else why_not_stream(ir), "stack": stack_json(ir)})
    return info


def stack_lines(ir: ModelIR) -> list[str]:
    """inspect's stack lines: each entry point's peak on a Cortex-M4F, measured by the compiler."""
    from . import stack

    r = stack.measure(ir)
    if r is None:
        return [f"stack: not measured ({stack.CC} not found, or it could not build the header)"]
    out = [f"stack on {r.target} ({r.compiler}, {' '.join(f for f in r.flags if f.startswith('-O'))}, "
           "-fstack-usage):"]
    out += [f"  {stack.describe_peak(p)}" for p in r.peaks]
    return out


def stack_json(ir: ModelIR) -> Optional[dict]:
    from . import stack

    r = stack.measure(ir)
    if r is None:
        return None
    return {"compiler": r.compiler, "target": r.target, "flags": list(r.flags),
            "entry_points": {p.entry: {"bytes": p.bytes, "path": [[n, s] for n, s in p.path],
                                       "library": list(p.library), "bounded": p.bounded} for p in r.peaks}}


def flash_by_weights(ir: ModelIR) -> dict[str, int]:
    """Flash bytes of the weights with each `--weights` choice (kernels quantized, the rest float32)."""
    from .quant import WEIGHT_TYPES, quantize

    return {w: quantize(ir, w).weight_bytes for w in WEIGHT_TYPES}


def why_not_stream(ir: ModelIR) -> str:
    """Why `NAME_step` is not generated ("" when it is)."""
    return ir.stream_note


def _num(v: Optional[int]) -> str:
    return "?" if v is None else str(v)
