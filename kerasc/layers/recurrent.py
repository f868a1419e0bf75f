"""LSTM, GRU and SimpleRNN: Keras' fused kernels split into named per-gate arrays.

Keras concatenates the gates along the last axis of each array (keras/src/layers/rnn):
  LSTM       kernel (F, 4U), recurrent_kernel (U, 4U), bias (4U,)   gates i, f, c, o
  GRU        kernel (F, 3U), recurrent_kernel (U, 3U), gates z, r, h;
             bias (3U,), or with reset_after=True (2, 3U): row 0 input bias, row 1 recurrent bias
  SimpleRNN  kernel (F, U), recurrent_kernel (U, U), bias (U,)
This module is the only place that knows that order.
"""

from __future__ import annotations

from .. import activations
from ..errors import ConversionError
from ..ir import Gate, Node, Port, StateVar
from ..load import LayerRecord
from . import (GATE_WORDS, Context, LayerDoc, LayerTraits, Mask, Option, check_options, expect_weights, flag,
               known_options, positive_int, register)

GATES = {"LSTM": ("i", "f", "c", "o"), "GRU": ("z", "r", "h"), "SimpleRNN": ("",)}
KIND = {"LSTM": "lstm", "GRU": "gru", "SimpleRNN": "simple_rnn"}

_ACT_DOC = "any activation below"
_BOOL = (True, False)


def _doc(cls: str) -> LayerDoc:
    """The options of LSTM, GRU or SimpleRNN that kerasc implements (check_options accepts exactly these)."""
    opts = [Option("units", doc="≥ 1"), Option("activation", doc=f"{_ACT_DOC}; default tanh", default="tanh")]
    if cls != "SimpleRNN":
        opts.append(Option("recurrent_activation", doc=f"{_ACT_DOC}; default sigmoid", default="sigmoid"))
    opts += [Option("use_bias", default=True)]
    if cls == "GRU":
        opts.append(Option("reset_after", _BOOL, default=True))
    opts += [Option("return_sequences", _BOOL, default=False), Option("go_backwards", _BOOL, default=False),
             Option("return_state", _BOOL, doc="outputs `[out, h, c]` (LSTM) or `[out, h]`", default=False),
             Option("stateful", _BOOL, doc="state persists across `NAME_predict`/`NAME_step` until `NAME_reset`",
                    default=False),
             Option("zero_output_for_mask", _BOOL, doc="with a mask (Masking upstream): zeros at masked steps",
                    default=False)]
    notes = {"LSTM": "gates `i, f, c, o`",
             "GRU": "gates `z, r, h`; with `reset_after` both biases, the recurrent one applied inside the reset "
                    "product; Keras 2 configs without the key follow the bias they carry",
             "SimpleRNN": ""}[cls]
    return LayerDoc(tuple(opts), notes)


@register("LSTM", "GRU", "SimpleRNN", doc={cls: _doc(cls) for cls in GATES},
          traits={cls: LayerTraits(kinds=(KIND[cls],), mask=Mask.TAKE_PASS, recurrent=True, initial_state=True)
                  for cls in GATES})
def recurrent(rec: LayerRecord, ctx: Context) -> Node:
    cls = rec.class_name
    ignored = check_options(rec, known_options(cls))
    if not ctx.in_seq:
        hint = ("the model input has no time axis: use keras.Input((timesteps, features))" if ctx.index == 0 else
                "the recurrent layer before it needs return_sequences=True")
        raise ConversionError(f"layer '{rec.name}' ({cls}) needs a sequence input (timesteps, features); "
                              f"it receives one vector of {ctx.in_width} values ({hint})")
    if len(ctx.in_widths) > 1:
        raise ConversionError(f"layer '{rec.name}' ({cls}) is called on {len(ctx.in_widths)} tensors; supported: "
                              "one sequence (pass initial states as initial_state=[...])")
    cfg = rec.config
    units = positive_int(rec, "units")
    gates = GATES[cls]
    G = len(gates)
    F = ctx.in_width
    use_bias = flag(rec, "use_bias", True)
    reset_after = _reset_after(rec, ctx) if cls == "GRU" else False
    act = ctx.activation(rec, "activation", "tanh", activations.SUPPORTED_RNN)
    ract = (ctx.activation(rec, "recurrent_activation", "sigmoid", activations.SUPPORTED_RNN)
            if cls != "SimpleRNN" else act)

    shapes, names = [(F, G * units), (units, G * units)], ["kernel", "recurrent_kernel"]
    if use_bias:
        shapes.append((2, G * units) if reset_after else (G * units,))
        names.append("bias")
    ws = expect_weights(rec, shapes, names, gates if G > 1 else ())
    kernel, rkernel = ws[0], ws[1]
    bias = ws[2] if use_bias else None

    where = f"Keras layer '{rec.name}' ({cls})"
    out_gates = []
    arrays = []
    for g, gname in enumerate(gates):
        cols = slice(g * units, (g + 1) * units)
        suffix = f"_{gname}" if gname else ""
        word = GATE_WORDS[gname]
        gact = act if gname in ("c", "h", "") else ract
        W = ctx.array("W" + suffix, kernel[:, cols],
                      f"{where} kernel, {word} gate: [in={F}][units={units}], x[k] feeds unit j through W[k][j]")
        U = ctx.array("U" + suffix, rkernel[:, cols],
                      f"{where} recurrent_kernel, {word} gate: [units={units}][units={units}], h_tm1[k] feeds unit j")
        b = rb = None
        if bias is not None:
            b_vals = bias[0, cols] if reset_after else bias[cols]
            b = ctx.array("b" + suffix, b_vals,
                          f"{where} {'input ' if reset_after else ''}bias, {word} gate: [units={units}]")
            if reset_after:
                rb = ctx.array("rb" + suffix, bias[1, cols],
                               f"{where} recurrent bias (reset_after), {word} gate: [units={units}]")
        out_gates.append(Gate(gname, gact, W, U, b, rb))
        arrays += [a for a in (W, U, b, rb) if a is not None]

    n_states = 2 if cls == "LSTM" else 1
    if ctx.init_widths and (len(ctx.init_widths) != n_states or any(w != units for w in ctx.init_widths)):
        raise ConversionError(
            f"layer '{rec.name}' ({cls}): initial_state has {len(ctx.init_widths)} tensors of widths "
            f"{list(ctx.init_widths)}; supported: {n_states} vector(s) of {units} ({'[h, c]' if n_states == 2 else '[h]'})")
    state = [StateVar(f"{ctx.cid}_h", units, f"{where}: hidden state h [units={units}]", True)]
    if cls == "LSTM":
        state.append(StateVar(f"{ctx.cid}_c", units, f"{where}: carry state c [units={units}]", True))
    zero_masked = flag(rec, "zero_output_for_mask", False)
    if ctx.masked:
        state.append(StateVar(f"{ctx.cid}_y", units, f"{where}: output with Keras masking (kept or zeroed at "
                                                      f"masked timesteps) [units={units}]", False))
    scratch = {"LSTM": 4 * units, "GRU": 4 * units, "SimpleRNN": units}[cls]
    ret_seq = flag(rec, "return_sequences", False)
    go_back = flag(rec, "go_backwards", False)
    ret_state = flag(rec, "return_state", False)
    stateful = flag(rec, "stateful", False)
    h_ref = f"st->{ctx.cid}_h"
    extra = ()
    if ret_state:
        extra = (Port(units, False, h_ref),) + ((Port(units, False, f"st->{ctx.cid}_c"),) if cls == "LSTM" else ())
    opts = {
        "return_state": ret_state, "stateful": stateful, "masked": ctx.masked, "zero_output_for_mask": zero_masked,
        "n_states": n_states,
        "activation": act, "recurrent_activation": ract, "use_bias": use_bias, "reset_after": reset_after,
        "return_sequences": ret_seq, "go_backwards": go_back, "units": units,
        "zoff": [k * units for k in range(4)],
        "gate_order": ", ".join(gates) if cls != "SimpleRNN" else "-",
        # elementwise activations are applied inside the state-update loop (one vectorisable pass)
        "fused": not (activations.is_vector(act) or activations.is_vector(ract)),
    }
    parts = [f"units={units}", f"activation={act}"]
    if cls != "SimpleRNN":
        parts.append(f"recurrent_activation={ract}")
    parts += [f"use_bias={use_bias}"]
    if cls == "GRU":
        parts.append(f"reset_after={reset_after}")
    parts += [f"return_sequences={ret_seq}", f"go_backwards={go_back}"]
    if ret_state:
        parts.append("return_state=True")
    if stateful:
        parts.append("stateful=True")
    if ctx.masked:
        parts.append(f"masked, zero_output_for_mask={zero_masked}")
    if ctx.init_widths:
        parts.append("initial_state given")
    return Node(
        index=ctx.index, kind=KIND[cls], keras_name=rec.name, keras_class=cls, cid=ctx.cid,
        in_width=F, out_width=units, in_seq=True, out_seq=ret_seq,
        out_ref=f"st->{ctx.cid}_y" if ctx.masked else h_ref, extra_ports=extra,
        state=tuple(state), arrays=tuple(arrays), options=opts, gates=tuple(out_gates), scratch=scratch,
        kernels=tuple(a.cname for g in out_gates for a in (g.W, g.U)),
        summary=f"{cls}({', '.join(parts)})" + (f" [{rec.origin}]" if rec.origin else ""), ignored=ignored,
    )


def _reset_after(rec: LayerRecord, ctx: Context) -> bool:
    """GRU reset_after. Keras 3 and tf.keras default to True; configs written before Keras 2.1
    have no such key and always meant the reset-before variant, whose bias is (3U,) rather than
    (2, 3U), so a legacy config without the key follows the bias it carries."""
    if rec.config.get("reset_after") is not None:
        return flag(rec, "reset_after", True)
    if not ctx.legacy:
        return True
    return len(rec.weights) == 3 and getattr(rec.weights[2], "ndim", 1) == 2


RNN_DOC = LayerDoc((Option("cell", doc="`LSTMCell`, `GRUCell` (both `reset_after`), `SimpleRNNCell`, or "
                                       "`StackedRNNCells` of them"),
                    Option("return_sequences", _BOOL, default=False), Option("return_state", _BOOL, default=False),
                    Option("go_backwards", _BOOL, default=False), Option("stateful", _BOOL, default=False),
                    Option("unroll", _BOOL, doc="ignored (the same computation)", default=False),
                    Option("zero_output_for_mask", _BOOL, default=False)),
                   "computes as the LSTM, GRU or SimpleRNN of its cell, with the cell's options; StackedRNNCells: "
                   "the cells in turn at each timestep, `return_state` gives every cell's states in Keras' order "
                   "(not inside Bidirectional; with `go_backwards` only without a mask); also in Bidirectional")


@register("RNN", doc=RNN_DOC)
def rnn(rec: LayerRecord, ctx: Context) -> Node:
    """kerasc.rnn_api rewrites RNN(cell) into the layer of its cell when loading: this entry only
    lists it among the supported layers."""
    raise AssertionError("RNN(cell) is rewritten by kerasc.rnn_api, not lowered by a layer handler")
