"""gates: what is inside a model's recurrent layers, gate by gate (`kerasc gates`).

Everything here reads the IR: kerasc/layers/recurrent.py (with cudnn.py and lower.py's Bidirectional) is the
one place that splits Keras' fused kernels into per-gate arrays, and this module shows, exports, traces and
explains exactly those arrays (the values the generated C holds), in Keras' orientation:
    kernel (F, U)            row k = input feature k, column j = unit j
    recurrent_kernel (U, U)  row k = unit k of h_tm1, column j = unit j
    bias, recurrent_bias (U,) entry j = unit j (recurrent_bias: GRU reset_after only)
Export names: LAYER/DIRECTION/KERNEL/GATE (`lstm_1/forward/kernel/f`); DIRECTION is `forward` for a plain
layer and `forward`/`backward` inside a Bidirectional; SimpleRNN's one gate has no GATE part.

Statistics work on models with NaN/Inf weights (lowered with the finite check off, for this module only);
the trace runs the generated C and so needs finite weights, as convert does. No TensorFlow needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from .errors import ConversionError
from .ir import ModelIR, Node

CELL = {"lstm": "LSTM", "gru": "GRU", "simple_rnn": "SimpleRNN"}
# Per cell kind: what the trace records per unit and timestep, in the order of the C's NAME_GATE slots.
TRACE_SLOTS = {"lstm": ("i", "f", "c_tilde", "o", "c", "h"), "gru": ("z", "r", "h_tilde", "h"), "simple_rnn": ("h",)}
SLOT_WORDS = {"i": "input gate", "f": "forget gate", "c_tilde": "cell candidate", "o": "output gate",
              "c": "cell state", "h": "hidden state (output)", "z": "update gate", "r": "reset gate",
              "h_tilde": "candidate"}
GATE_WORDS = {"i": "input", "f": "forget", "c": "cell candidate", "o": "output", "z": "update", "r": "reset",
              "h": "candidate", "": "cell"}
LAYOUT = {
    "kernel": "(F, U): row k = input feature k, column j = unit j",
    "recurrent_kernel": "(U, U): row k = unit k of h_tm1, column j = unit j",
    "bias": "(U,): entry j = unit j",
    "recurrent_bias": "(U,): entry j = unit j (GRU reset_after: added to h_tm1 @ recurrent_kernel)",
}
KERNELS = ("kernel", "recurrent_kernel", "bias", "recurrent_bias")


@dataclass(frozen=True)
class GateArray:
    """One per-gate array of the generated C, in Keras' orientation."""

    name: str  # export name, e.g. lstm_1/forward/kernel/f
    kernel: str  # kernel, recurrent_kernel, bias, recurrent_bias
    gate: str  # Keras' gate letter (i, f, c, o / z, r, h), "" for SimpleRNN
    values: np.ndarray  # float32, exactly the C array's values
    cname: str  # the C identifier holding it
    keras: str  # where it sits in Keras' fused array, e.g. kernel[:, 8:12]


@dataclass(frozen=True)
class RecurrentLayer:
    """One recurrent cell of the model: a plain LSTM/GRU/SimpleRNN (or CuDNN) layer, or one direction of a
    Bidirectional."""

    keras_name: str
    keras_class: str  # as in the model: LSTM, CuDNNGRU, Bidirectional, ...
    cell: str  # LSTM, GRU or SimpleRNN (what the C computes)
    direction: str  # forward / backward
    node: Node
    arrays: tuple[GateArray, ...]
    merge: Optional[str] = None  # Bidirectional: concat, add, mul, ave, none

    @property
    def key(self) -> str:
        return f"{self.keras_name}/{self.direction}"

    @property
    def units(self) -> int:
        return int(self.node.options["units"])

    @property
    def in_width(self) -> int:
        return self.node.in_width

    @property
    def gates(self) -> tuple[str, ...]:
        return tuple(g.name for g in self.node.gates)

    def array(self, kernel: str, gate: str) -> Optional[GateArray]:
        return next((a for a in self.arrays if a.kernel == kernel and a.gate == gate), None)


def lower(model: Any, name: Optional[str] = None) -> ModelIR:
    """The model's IR as convert makes it, except that NaN/Inf weights are accepted (for statistics)."""
    from .lower import build
    from .layers import non_finite_allowed

    with non_finite_allowed():
        return build(model, name)


def export_name(layer: str, direction: str, kernel: str, gate: str) -> str:
    return f"{layer}/{direction}/{kernel}" + (f"/{gate}" if gate else "")


def recurrent_layers(ir: ModelIR, layer: Optional[str] = None) -> list[RecurrentLayer]:
    """Every recurrent cell of `ir` in layer order (or those of the Keras layer named `layer`)."""
    out = []
    merges = {n.keras_name: n.options.get("op") for n in ir.nodes
              if n.kind == "merge" and n.keras_class == "Bidirectional"}
    for n in ir.nodes:
        if not n.recurrent:
            continue
        direction = n.part if n.part in ("forward", "backward") else "forward"
        U = int(n.options["units"])
        arrays = []
        for g_index, g in enumerate(n.gates):
            cols = f"{g_index * U}:{(g_index + 1) * U}"
            for kernel, arr in (("kernel", g.W), ("recurrent_kernel", g.U), ("bias", g.b), ("recurrent_bias", g.rb)):
                if arr is None:
                    continue
                if not g.name:  # SimpleRNN: the whole Keras array
                    where = kernel if kernel != "recurrent_bias" else "bias[1]"
                elif kernel in ("kernel", "recurrent_kernel"):
                    where = f"{kernel}[:, {cols}]"
                elif n.options.get("reset_after"):
                    where = f"bias[{0 if kernel == 'bias' else 1}, {cols}]"
                else:
                    where = f"bias[{cols}]"
                arrays.append(GateArray(export_name(n.keras_name, direction, kernel, g.name), kernel, g.name,
                                        np.asarray(arr.values), arr.cname, where))
        merge = merges.get(n.keras_name, "none") if n.keras_class == "Bidirectional" else None
        out.append(RecurrentLayer(n.keras_name, n.keras_class, CELL[n.kind], direction, n, tuple(arrays), merge))
    if layer is not None:
        chosen = [r for r in out if r.keras_name == layer or r.keras_name.startswith(layer + "/")]  # + RNN(cells)
        if not chosen:
            names = list(dict.fromkeys(r.keras_name for r in out))
            raise ConversionError(f"--layer {layer!r}: no recurrent layer of that name; the model's recurrent "
                                  f"layers: {', '.join(names) if names else 'none'}")
        out = chosen
    return out


def statistics(a: np.ndarray) -> dict:
    """shape, min, max, mean, std (of the finite values; None when there are none) and NaN/Inf/zero counts."""
    a = np.asarray(a, dtype=np.float64)
    finite = a[np.isfinite(a)]
    stat = {"shape": list(a.shape), "size": int(a.size), "nan": int(np.isnan(a).sum()),
            "inf": int(np.isinf(a).sum()), "zeros": int((a == 0).sum())}
    for key, fn in (("min", np.min), ("max", np.max), ("mean", np.mean), ("std", np.std)):
        stat[key] = float(fn(finite)) if finite.size else None
    return stat


def arrays(layers: Sequence[RecurrentLayer]) -> dict[str, np.ndarray]:
    """{export name: array}: what --export writes."""
    return {a.name: a.values for r in layers for a in r.arrays}


def export(layers: Sequence[RecurrentLayer], path: Any) -> Path:
    """Write every per-gate array to an .npz under its export name."""
    _save_npz(str(path), arrays(layers))
    return Path(path)


def _header(r: RecurrentLayer) -> str:
    cls = r.cell if r.keras_class in (r.cell, "Bidirectional") else f"{r.keras_class} as {r.cell}"
    where = f"{r.keras_name} ({'Bidirectional ' + r.direction + ' ' if r.keras_class == 'Bidirectional' else ''}" \
            f"{cls})"
    order = ", ".join(f"{g} ({GATE_WORDS[g]})" for g in r.gates) if r.cell != "SimpleRNN" else "one gate"
    o = r.node.options
    acts = f"activation {o['activation']}" + (f", recurrent_activation {o['recurrent_activation']}"
                                              if r.cell != "SimpleRNN" else "")
    extra = f", reset_after {o['reset_after']}" if r.cell == "GRU" else ""
    extra += ", go_backwards" if o.get("go_backwards") else ""
    return (f"{where}: input features F={r.in_width}, units U={r.units}; {acts}{extra}\n"
            f"  Keras' fused columns, in order: {order}"
            + ("; column g*U + j of kernel/recurrent_kernel/bias is unit j of gate g" if r.cell != "SimpleRNN"
               else ""))


def _num(v: Optional[float]) -> str:
    return "-" if v is None else f"{v:.4g}"


def table(layers: Sequence[RecurrentLayer]) -> str:
    """The statistics as text: per layer (direction), one row per gate and kernel, then the layouts."""
    lines = []
    for r in layers:
        lines.append(_header(r))
        rows = [("array", "keras", "shape", "min", "max", "mean", "std", "NaN", "Inf", "zeros")]
        for a in r.arrays:
            s = statistics(a.values)
            rows.append((a.name, a.keras, "(" + ", ".join(map(str, s["shape"])) + (",)" if len(s["shape"]) == 1
                                                                                  else ")"),
                         _num(s["min"]), _num(s["max"]), _num(s["mean"]), _num(s["std"]),
                         str(s["nan"]), str(s["inf"]), str(s["zeros"])))
        widths = [max(len(row[k]) for row in rows) for k in range(len(rows[0]))]
        for row in rows:
            lines.append("  " + "  ".join(c.ljust(w) if k < 3 else c.rjust(w)
                                          for k, (c, w) in enumerate(zip(row, widths))).rstrip())
        kinds = list(dict.fromkeys(a.kernel for a in r.arrays))
        lines.append("  layout: " + "; ".join(f"{k} {LAYOUT[k]}" for k in kinds))
        bad = sum(statistics(a.values)["nan"] + statistics(a.values)["inf"] for a in r.arrays)
        if bad:
            lines.append(f"  WARNING: {bad} NaN/Inf value(s): the model computes NaN; kerasc convert refuses it")
        lines.append("")
    if not layers:
        lines.append("no recurrent layers (LSTM, GRU, SimpleRNN, Bidirectional, CuDNNLSTM/GRU) in this model")
    return "\n".join(lines).rstrip() + "\n"


def to_json(layers: Sequence[RecurrentLayer], source: str = "") -> dict:
    """Schema kerasc-gates/1: per layer and direction, every array with its statistics and layout."""
    return {
        "schema": "kerasc-gates/1", "source": source,
        "layers": [{
            "name": r.keras_name, "keras_class": r.keras_class, "cell": r.cell, "direction": r.direction,
            "units": r.units, "input_features": r.in_width, "gate_order": list(r.gates),
            "activation": r.node.options["activation"],
            "recurrent_activation": r.node.options["recurrent_activation"] if r.cell != "SimpleRNN" else None,
            "reset_after": bool(r.node.options.get("reset_after")) if r.cell == "GRU" else None,
            "go_backwards": bool(r.node.options.get("go_backwards")), "merge_mode": r.merge,
            "arrays": [dict(statistics(a.values), name=a.name, kernel=a.kernel, gate=a.gate, keras=a.keras,
                            c_name=a.cname, layout=LAYOUT[a.kernel]) for a in r.arrays],
        } for r in layers],
    }


# ----------------------------------------------------------------------------- trace

def trace(model: Any, x: Any, layer: Optional[str] = None, name: Optional[str] = None
          ) -> tuple[dict[str, np.ndarray], list[RecurrentLayer]]:
    """Run the gate trace build of the generated C on x and return ({LAYER/DIRECTION/SLOT: (batch, T, units)},
    the layers). Slots: LSTM i, f, c_tilde, o, c, h; GRU z, r, h_tilde, h; SimpleRNN h. The time axis is the
    input timestep (a backward direction's step k, which reads input T-1-k, is stored at T-1-k); a masked
    timestep computes no gate and is NaN. Builds a separate extension; the shipped header has no hook."""
    from .codegen import render_header
    from .lower import build
    from .harness import compile_models

    ir = build(model, name)  # finite weights only, as convert: a header of NaN weights does not compile
    layers = recurrent_layers(ir, layer)
    cm = compile_models([ir], headers={f"{ir.name}.h": render_header(ir, gate_trace=True)})[0]
    xs = list(x) if isinstance(x, (list, tuple)) else [x]
    steps = {ir.tensors[ti].domain: np.shape(a)[1] for a, ti in zip(xs, ir.inputs)
             if ir.tensors[ti].seq and np.ndim(a) >= 2}
    offsets = [0, 0] * len(ir.nodes)
    blocks = {}
    total = 0
    for n in ir.nodes:
        if not n.recurrent:
            continue
        per_step = len(TRACE_SLOTS[n.kind]) * int(n.options["units"])
        T = ir.length(ir.tensors[n.inputs[0]].domain, steps)
        offsets[2 * n.index], offsets[2 * n.index + 1] = total, per_step
        blocks[n.index] = (total, T, per_step)
        total += T * per_step
    _, buf = cm.predict_gates(xs if len(xs) > 1 else xs[0], offsets, total)
    out = {}
    for r in layers:
        n = r.node
        off, T, per_step = blocks[n.index]
        block = buf[:, off:off + T * per_step].reshape(buf.shape[0], T, per_step)
        if n.reversed_inputs and n.reversed_inputs[0]:
            block = block[:, ::-1]
        U = r.units
        for k, slot in enumerate(TRACE_SLOTS[n.kind]):
            out[f"{r.key}/{slot}"] = np.ascontiguousarray(block[:, :, k * U:(k + 1) * U])
    return out, layers


def trace_table(tr: dict[str, np.ndarray]) -> str:
    rows = [("trace", "shape (batch, T, units)", "min", "max", "mean", "NaN")]
    for k, v in tr.items():
        s = statistics(v)
        rows.append((k, str(tuple(v.shape)), _num(s["min"]), _num(s["max"]), _num(s["mean"]), str(s["nan"])))
    widths = [max(len(row[k]) for row in rows) for k in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) if k < 2 else c.rjust(w) for k, (c, w) in enumerate(zip(row, widths)))
                     .rstrip() for row in rows) + "\n"


# ----------------------------------------------------------------------------- explain

# numpy formulas of the activations, by the runtime names the IR uses (Keras 3; `_k2`: Keras 2's definition).
NUMPY_ACT = {
    "linear": "x",
    "tanh": "np.tanh(x)",
    "sigmoid": "1.0 / (1.0 + np.exp(-x))",
    "hard_sigmoid": "np.clip(x / 6.0 + 0.5, 0.0, 1.0)",  # Keras 3: relu6(x + 3) / 6
    "hard_sigmoid_k2": "np.clip(0.2 * x + 0.5, 0.0, 1.0)",  # Keras 2: clip(0.2 x + 0.5, 0, 1)
    "relu": "np.maximum(x, 0.0)",
    "relu6": "np.clip(x, 0.0, 6.0)",
    "elu": "np.where(x > 0, x, np.expm1(np.minimum(x, 0.0)))",
    "selu": "1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(np.minimum(x, 0.0)))",
    "softplus": "np.logaddexp(0.0, x)",
    "softsign": "x / (1.0 + np.abs(x))",
    "silu": "x / (1.0 + np.exp(-x))",
    "exponential": "np.exp(x)",
    "hard_tanh": "np.clip(x, -1.0, 1.0)",
    "hard_silu": "x * np.clip(x / 6.0 + 0.5, 0.0, 1.0)",
    "softmax": "np.exp(x - x.max(-1, keepdims=True)) / np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True)",
}


def _w(r: RecurrentLayer, kernel: str, gate: str) -> str:
    a = r.array(kernel, gate)
    return f"w[{a.name!r}]" if a is not None else "0.0"


def equations(r: RecurrentLayer) -> str:
    """The layer's step as equations over the exported array names (float64 numpy in the script)."""
    o = r.node.options
    act, ract = o["activation"], o.get("recurrent_activation", o["activation"])
    K = lambda kernel, g: (r.array(kernel, g).name if r.array(kernel, g) is not None else "0")  # noqa: E731
    lines = [f"{r.key} ({r.cell}), for t = 0 .. T-1"
             + (" reading x from the last timestep (go_backwards)" if o.get("go_backwards") else "")
             + "; h_tm1 = h(t-1), zero at the start" + (", c_tm1 likewise" if r.cell == "LSTM" else "") + ":"]
    if r.cell == "LSTM":
        for g, f in (("i", ract), ("f", ract), ("c", act), ("o", ract)):
            name = {"c": "c~"}.get(g, g)
            lines.append(f"  {name:2} = {f}(x_t @ {K('kernel', g)} + h_tm1 @ {K('recurrent_kernel', g)} + "
                         f"{K('bias', g)})")
        lines += ["  c  = f * c_tm1 + i * c~", f"  h  = o * {act}(c)"]
    elif r.cell == "GRU":
        for g in ("z", "r"):
            rb = f" + {K('recurrent_bias', g)}" if o.get("reset_after") else ""
            lines.append(f"  {g}  = {ract}(x_t @ {K('kernel', g)} + {K('bias', g)} + h_tm1 @ "
                         f"{K('recurrent_kernel', g)}{rb})")
        if o.get("reset_after"):
            lines.append(f"  h~ = {act}(x_t @ {K('kernel', 'h')} + {K('bias', 'h')} + r * (h_tm1 @ "
                         f"{K('recurrent_kernel', 'h')} + {K('recurrent_bias', 'h')}))   (reset_after=True)")
        else:
            lines.append(f"  h~ = {act}(x_t @ {K('kernel', 'h')} + {K('bias', 'h')} + (r * h_tm1) @ "
                         f"{K('recurrent_kernel', 'h')})   (reset_after=False)")
        lines.append("  h  = z * h_tm1 + (1 - z) * h~")
    else:
        lines.append(f"  h  = {act}(x_t @ {K('kernel', '')} + h_tm1 @ {K('recurrent_kernel', '')} + {K('bias', '')})")
    lines.append("  output at step t: h" + ("; return_sequences=False returns only the last" if
                                            not o.get("return_sequences") else ""))
    if r.keras_class == "Bidirectional" and r.direction == "backward":
        merge = {"concat": "concat([forward, backward], -1)", "add": "forward + backward", "mul": "forward * backward",
                 "ave": "(forward + backward) / 2", "none": "[forward, backward] (two outputs)"}.get(r.merge or "none")
        lines.append(f"  Bidirectional '{r.keras_name}': the backward outputs are flipped back to input order, "
                     f"then merged: {merge}")
    return "\n".join(lines)


def _acts_of(layers: Sequence[RecurrentLayer]) -> list[str]:
    names = []
    for r in layers:
        o = r.node.options
        for a in (o["activation"], o.get("recurrent_activation", o["activation"])):
            if a not in NUMPY_ACT:
                raise ConversionError(f"--explain: layer '{r.keras_name}' uses the activation {a!r}, which the "
                                      f"script has no numpy formula for; supported: {', '.join(NUMPY_ACT)}")
            if a not in names:
                names.append(a)
    return names


def _cell_code(r: RecurrentLayer) -> str:
    """The body of one cell's run function (x: (B, T, F) float64, w: the npz) as Python source."""
    o = r.node.options
    act, ract = o["activation"], o.get("recurrent_activation", o["activation"])
    A = lambda name: f"ACT[{name!r}]"  # noqa: E731
    W = lambda kernel, g: _w(r, kernel, g)  # noqa: E731
    body = [f"    B, T, _ = x.shape",
            f"    h = np.zeros((B, {r.units}))"]
    if r.cell == "LSTM":
        body.append(f"    c = np.zeros((B, {r.units}))")
    body += ["    out = []",
             f"    for t in ({'reversed(range(T))' if o.get('go_backwards') else 'range(T)'}):",
             "        xt = x[:, t]"]
    if r.cell == "LSTM":
        for g, f in (("i", ract), ("f", ract), ("c", act), ("o", ract)):
            v = {"c": "g"}.get(g, g)
            body.append(f"        {v} = {A(f)}(xt @ {W('kernel', g)} + h @ {W('recurrent_kernel', g)} + "
                        f"{W('bias', g)})")
        body += ["        c = f * c + i * g", f"        h = o * {A(act)}(c)"]
    elif r.cell == "GRU":
        for g in ("z", "r"):
            rb = f" + {W('recurrent_bias', g)}" if o.get("reset_after") else ""
            body.append(f"        {g} = {A(ract)}(xt @ {W('kernel', g)} + {W('bias', g)} + h @ "
                        f"{W('recurrent_kernel', g)}{rb})")
        if o.get("reset_after"):
            body.append(f"        hh = {A(act)}(xt @ {W('kernel', 'h')} + {W('bias', 'h')} + r * (h @ "
                        f"{W('recurrent_kernel', 'h')} + {W('recurrent_bias', 'h')}))")
        else:
            body.append(f"        hh = {A(act)}(xt @ {W('kernel', 'h')} + {W('bias', 'h')} + (r * h) @ "
                        f"{W('recurrent_kernel', 'h')})")
        body.append("        h = z * h + (1.0 - z) * hh")
    else:
        body.append(f"        h = {A(act)}(xt @ {W('kernel', '')} + h @ {W('recurrent_kernel', '')} + "
                    f"{W('bias', '')})")
    body += ["        out.append(h)",
             "    return np.stack(out, axis=1)  # (B, T, units), in the order the steps ran"]
    return "\n".join(body)


def _fn_name(key: str) -> str:
    return "run_" + "".join(ch if ch.isalnum() else "_" for ch in key)


def script(layers: Sequence[RecurrentLayer], source: str = "") -> str:
    """A numpy-only Python script that recomputes every selected layer's output at every timestep from the
    --export .npz (float64), for people who want to compute predict by hand."""
    acts = _acts_of(layers)
    by_layer: dict[str, list[RecurrentLayer]] = {}
    for r in layers:
        by_layer.setdefault(r.keras_name, []).append(r)
    parts = [f'''"""Recompute the recurrent layers of {source or 'the model'} from the per-gate arrays of
`kerasc gates MODEL --export gates.npz` (written by kerasc; needs only numpy).

    python THIS.py gates.npz X.npy [LAYER] [OUT.npy]

X holds the layer's input, (batch, timesteps, features) (for the first layer: the model input). Prints and
writes (OUT.npy, default LAYER_out.npy) the layer's output at every timestep, (batch, timesteps, width), in
Keras' order (a go_backwards layer's steps run from the last input; Bidirectional flips its backward half back
and merges). A layer with return_sequences=False returns the last of these. No masking, zero initial state.
"""
import sys

import numpy as np

ACT = {{''']
    parts[0] += "\n" + "\n".join(f"    {a!r}: lambda x: {NUMPY_ACT[a]}," for a in acts) + "\n}\n"
    for r in layers:
        parts.append(f"\ndef {_fn_name(r.key)}(w, x):\n    \"\"\"{equations(r)}\n    \"\"\"\n{_cell_code(r)}\n")
    entries = []
    for lname, rs in by_layer.items():
        if rs[0].keras_class == "Bidirectional" and len(rs) == 2:
            fwd, bwd = rs
            merge = {"concat": "np.concatenate([y, y_rev], axis=-1)", "add": "y + y_rev", "mul": "y * y_rev",
                     "ave": "(y + y_rev) / 2.0", "none": "np.stack([y, y_rev])  # merge_mode=None: [forward, backward]"}
            code = (f"\ndef {_fn_name(lname)}(w, x):\n"
                    f"    \"\"\"Bidirectional '{lname}': forward, backward flipped back to input order, "
                    f"merge_mode {fwd.merge}.\"\"\"\n"
                    f"    y = {_fn_name(fwd.key)}(w, x)\n"
                    f"    y_rev = {_fn_name(bwd.key)}(w, x)[:, ::-1]\n"
                    f"    return {merge[fwd.merge or 'none']}\n")
            parts.append(code)
            entries.append((lname, _fn_name(lname)))
        else:
            for r in rs:
                entries.append((lname if len(rs) == 1 else r.key, _fn_name(r.key)))
    parts.append("\n\nLAYERS = {\n" + "".join(f"    {k!r}: {f},\n" for k, f in entries) + "}\n")
    parts.append('''

def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    w = dict(np.load(argv[0]))
    w = {k: v.astype(np.float64) for k, v in w.items()}
    x = np.load(argv[1]).astype(np.float64)
    if x.ndim == 2:
        x = x[None]
    name = argv[2] if len(argv) > 2 else next(iter(LAYERS))
    y = LAYERS[name](w, x)
    out = argv[3] if len(argv) > 3 else name.replace("/", "_") + "_out.npy"
    np.save(out, y)
    print(f"{name}: output {y.shape} -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
''')
    return "".join(parts)


# ----------------------------------------------------------------------------- float64 reference

def reference(layers: Sequence[RecurrentLayer], x: np.ndarray) -> dict[str, np.ndarray]:
    """The trace's values computed in float64 numpy from the exported arrays, for a layer whose input is x
    (batch, T, F): {LAYER/DIRECTION/SLOT: (batch, T, units)} in input-timestep order, like trace()."""
    acts = {a: eval("lambda x: " + NUMPY_ACT[a], {"np": np}) for a in _acts_of(layers)}  # noqa: S307 (our table)
    out = {}
    x = np.asarray(x, dtype=np.float64)
    for r in layers:
        o = r.node.options
        act, ract = acts[o["activation"]], acts[o.get("recurrent_activation", o["activation"])]

        def w(kernel: str, g: str, r: RecurrentLayer = r) -> Any:
            a = r.array(kernel, g)
            return a.values.astype(np.float64) if a is not None else 0.0

        B, T, _ = x.shape
        U = r.units
        h = np.zeros((B, U))
        c = np.zeros((B, U))
        rec = {s: np.zeros((B, T, U)) for s in TRACE_SLOTS[r.node.kind]}
        order = range(T - 1, -1, -1) if (r.node.reversed_inputs and r.node.reversed_inputs[0]) else range(T)
        for t in order:
            xt = x[:, t]
            if r.cell == "LSTM":
                i = ract(xt @ w("kernel", "i") + h @ w("recurrent_kernel", "i") + w("bias", "i"))
                f = ract(xt @ w("kernel", "f") + h @ w("recurrent_kernel", "f") + w("bias", "f"))
                g = act(xt @ w("kernel", "c") + h @ w("recurrent_kernel", "c") + w("bias", "c"))
                og = ract(xt @ w("kernel", "o") + h @ w("recurrent_kernel", "o") + w("bias", "o"))
                c = f * c + i * g
                h = og * act(c)
                vals = (i, f, g, og, c, h)
            elif r.cell == "GRU":
                z = ract(xt @ w("kernel", "z") + w("bias", "z") + h @ w("recurrent_kernel", "z")
                         + w("recurrent_bias", "z"))
                rr = ract(xt @ w("kernel", "r") + w("bias", "r") + h @ w("recurrent_kernel", "r")
                          + w("recurrent_bias", "r"))
                if o.get("reset_after"):
                    hh = act(xt @ w("kernel", "h") + w("bias", "h") + rr * (h @ w("recurrent_kernel", "h")
                                                                           + w("recurrent_bias", "h")))
                else:
                    hh = act(xt @ w("kernel", "h") + w("bias", "h") + (rr * h) @ w("recurrent_kernel", "h"))
                h = z * h + (1 - z) * hh
                vals = (z, rr, hh, h)
            else:
                h = act(xt @ w("kernel", "") + h @ w("recurrent_kernel", "") + w("bias", ""))
                vals = (h,)
            for s, v in zip(TRACE_SLOTS[r.node.kind], vals):
                rec[s][:, t] = v
        for s, v in rec.items():
            out[f"{r.key}/{s}"] = v
    return out


__all__ = ["GateArray", "RecurrentLayer", "TRACE_SLOTS", "arrays", "equations", "export", "lower", "recurrent_layers",
           "reference", "script", "statistics", "table", "to_json", "trace", "trace_table"]


# ----------------------------------------------------------------------------- the command

def command(model: str, *, layer: Optional[str] = None, name: Optional[str] = None, as_json: bool = False,
            export_to: Optional[str] = None, plot_dir: Optional[str] = None, shared_axes: bool = True,
            trace_x: Any = None, trace_out: Optional[str] = None, explain: bool = False,
            script_out: Optional[str] = None, out: Any = None) -> int:
    """`kerasc gates`: the statistics (text or JSON) on `out`, and whatever files the options ask for."""
    import json
    import sys

    out = out or sys.stdout
    notes = sys.stderr if as_json else out
    if plot_dir:
        from .report import require_matplotlib

        require_matplotlib()  # before the work: a missing extra is known now
    layers = recurrent_layers(lower(model, name), layer)
    if as_json:
        print(json.dumps(to_json(layers, source=str(model)), indent=2), file=out)
    elif not explain:
        print(table(layers), end="", file=out)
    if export_to:
        export(layers, export_to)
        print(f"wrote {export_to}: {sum(len(r.arrays) for r in layers)} per-gate arrays", file=notes)
    if plot_dir:
        from . import gates_plot

        specs = [s for r in layers for s in gates_plot.weight_specs(r, shared=shared_axes)]
        for p in gates_plot.write_plots(specs, plot_dir):
            print(f"wrote {p}", file=notes)
    if trace_x is not None:
        try:
            tr, traced = trace(model, trace_x, layer, name)
        except ValueError as exc:  # the harness' shape checks
            raise ConversionError(f"--trace: {exc}") from None
        dest = trace_out or "gates_trace.npz"
        _save_npz(dest, tr)
        print(trace_table(tr), end="", file=notes)
        print(f"wrote {dest}: {len(tr)} traces (batch, input timestep, units)", file=notes)
        if plot_dir:
            from . import gates_plot

            for p in gates_plot.write_plots(gates_plot.trace_specs(tr, traced), plot_dir):
                print(f"wrote {p}", file=notes)
    if explain and not layers:
        raise ConversionError(f"--explain: {model} has no recurrent layer to explain")
    if explain:
        for r in layers:
            print(equations(r) + "\n", file=out)
        dest = script_out or "gates_explain.py"
        _save_text(dest, script(layers, source=str(model)))
        npz = export_to or "gates.npz"
        print(f"wrote {dest}: python {dest} {npz} X.npy [LAYER] recomputes the output at every timestep from the "
              f"arrays of --export {npz}", file=notes)
    return 0


def _save_npz(dest: str, data: dict[str, np.ndarray]) -> None:
    import io

    buf = io.BytesIO()
    np.savez(buf, **data)
    _save_bytes(dest, buf.getvalue())


def _save_text(dest: str, text: str) -> None:
    _save_bytes(dest, text.encode("utf-8"))


def _save_bytes(dest: str, data: bytes) -> None:
    from .files import write_output

    write_output(Path(dest), data)
