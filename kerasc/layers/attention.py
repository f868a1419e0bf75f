"""Attention over time: Softmax over the time axis, Dot on sequences, and Keras' Attention (Luong) and
AdditiveAttention (Bahdanau) layers. Keras' formulas (keras/src/layers/activations/softmax.py,
merging/dot.py, attention/attention.py, attention/additive_attention.py):

  Softmax(axis=1)      y[t][f] = exp(x[t][f] - max_s x[s][f]) / sum_s exp(x[s][f] - max_s x[s][f])
  Dot(axes=(p, q))     batch_dot: the product summed over axis p of x0 and axis q of x1; what is left of
                       x0 is the output's time axis, what is left of x1 its features
  Attention            e[i][j] = q[i] . k[j] (times scale with use_scale);  score_mode="concat":
                       e[i][j] = concat_score_weight * sum_d tanh(scale * (q[i][d] + k[j][d]))
  AdditiveAttention    e[i][j] = sum_d scale[d] * tanh(q[i][d] + k[j][d])  (scale 1 without use_scale)
  then                 e[i][j] -= 1e9 where the value mask is 0 or (use_causal_mask) j > i;
                       w = softmax over j;  y[i] = sum_j w[i][j] v[j];  y[i] = 0 where the query mask is 0

Each output step reads its inputs' whole sequences, so every node here is a `window` node (NAME_predict
only): the whole stored inputs, each sequence with its length, and the output step t. Attention's value
(and key) and Dot's second operand keep their own time axes (Node.shared_time), so an encoder-decoder
attends from the decoder's steps over an encoder sequence of another length.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..errors import ConversionError
from ..ir import Node, StateVar, TimeMap, c_float
from ..load import LayerRecord
from . import Context, LayerDoc, LayerTraits, Mask, Option, check_options, expect_weights, flag, register

KIND = "attention"
MASKED = "1.0e9f"  # Keras' _apply_scores: scores - 1e9 where masked (float32)

DOT_DOC = LayerDoc((Option("axes", doc="on sequences (T0, A)·(T1, C): `1` or `(1, 1)` (over time: (A, C)), "
                                        "`2`/`-1` or `(2, 2)` (over features: (T0, T1), T1 fixed), `(2, 1)` "
                                        "((T0, C), T1 fixed = A), `(1, 2)` ((A, T1), T0 fixed = C); on vectors `1`/`-1`"),
                    Option("normalize", (False,), doc="`False`", default=False)),
                   "batch_dot as Keras; on sequences it reads both whole sequences (no streaming)")
ATT_OPTS = (Option("use_scale", doc="`True` or `False`", default=False),
            Option("score_mode", ("dot", "concat"), default="dot"))
ATT_DOC = LayerDoc(ATT_OPTS + (Option("call: use_causal_mask", doc="`True` or `False`", default=False),
                               Option("call: return_attention_scores", doc="`False` only", default=False)),
                   "Luong attention of a query sequence over a value (and key) sequence of its own length; "
                   "query and value masks (Masking, Embedding mask_zero); NAME_predict only")
ADD_DOC = LayerDoc((Option("use_scale", doc="`True` or `False`", default=True),
                    Option("call: use_causal_mask", doc="`True` or `False`", default=False),
                    Option("call: return_attention_scores", doc="`False` only", default=False)),
                   "Bahdanau attention, as Attention; NAME_predict only")


def _where(rec: LayerRecord) -> str:
    return f"Keras layer '{rec.name}' ({rec.class_name})"


def _node(rec: LayerRecord, ctx: Context, width: int, options: dict, summary: str, ignored: tuple,
          state: tuple = (), arrays: tuple = (), **plan) -> Node:
    y = StateVar(f"{ctx.cid}_y", width, f"{_where(rec)}: output of one step [{width}]", False)
    return Node(index=ctx.index, kind=KIND, keras_name=rec.name, keras_class=rec.class_name, cid=ctx.cid,
                in_width=ctx.in_width, out_width=width, in_seq=ctx.in_seq, out_seq=True, out_ref=f"st->{ctx.cid}_y",
                state=(y,) + tuple(state), arrays=tuple(arrays), options=options, summary=summary, ignored=ignored,
                window=True, **plan)


def softmax_over_time(rec: LayerRecord, ctx: Context, ignored: tuple) -> Node:
    """Softmax(axis=1) (or -2) of a sequence: per feature, over the timesteps."""
    if ctx.masked:
        raise ConversionError(f"layer '{rec.name}' (Softmax) over the time axis receives a mask (Masking or "
                              "Embedding upstream), which Keras 3 cannot broadcast onto (batch, timesteps, "
                              "features) either; supported: Softmax over time on unmasked sequences")
    F = ctx.in_width
    state = (StateVar(f"{ctx.cid}_m", F, f"{_where(rec)}: maximum over time per feature [{F}]", False),
             StateVar(f"{ctx.cid}_s", F, f"{_where(rec)}: sum over time of exp(x - max) per feature [{F}]", False))
    return _node(rec, ctx, F, {"mode": "softmax_time"}, "Softmax(axis=1): over the timesteps, per feature", ignored,
                 state=state, stream_why="normalizes over every timestep (Softmax over time)")


def _axes(rec: LayerRecord, ndim: int) -> tuple[int, int]:
    axes = rec.config.get("axes")
    if isinstance(axes, int) and not isinstance(axes, bool):
        pair = [axes, axes]
    elif isinstance(axes, (list, tuple)) and len(axes) == 2 and \
            all(isinstance(a, int) and not isinstance(a, bool) for a in axes):
        pair = list(axes)
    else:
        raise ConversionError(f"layer '{rec.name}' (Dot): axes={axes!r} is not supported; supported: an integer or "
                              "two integers")
    out = tuple(a % ndim if a < 0 else a for a in pair)
    if any(a not in range(1, ndim) for a in out):
        raise ConversionError(f"layer '{rec.name}' (Dot): axes={axes!r} is not supported; supported: axes of the "
                              f"inputs other than the batch axis (1{' or 2' if ndim == 3 else ''})")
    return out[0], out[1]


@register("Dot", doc=DOT_DOC, traits=LayerTraits(kinds=(KIND,)))
def dot_layer(rec: LayerRecord, ctx: Context) -> Node:
    ignored = check_options(rec, {"axes": None, "normalize": (False,)})
    widths, seqs, steps = ctx.in_widths, ctx.in_seqs, ctx.in_steps
    if len(widths) != 2:
        raise ConversionError(f"layer '{rec.name}' (Dot) takes exactly 2 inputs, got {len(widths)}")
    if seqs[0] != seqs[1]:
        raise ConversionError(f"layer '{rec.name}' (Dot) of a sequence and a vector is not supported; supported: "
                              "two sequences (timesteps, features), or two vectors")
    A, C = widths
    if not seqs[0]:
        p, q = _axes(rec, 2)
        if A != C:
            raise ConversionError(f"layer '{rec.name}' (Dot): the vectors have {A} and {C} features; they must match")
        return Node(index=ctx.index, kind=KIND, keras_name=rec.name, keras_class="Dot", cid=ctx.cid, in_width=A,
                    out_width=1, in_seq=False, out_seq=False, out_ref=f"st->{ctx.cid}_y",
                    state=(StateVar(f"{ctx.cid}_y", 1, f"{_where(rec)}: x0 . x1 [1]", False),), arrays=(),
                    options={"mode": "dot_vec", "K": A}, summary="Dot(axes=1) of two vectors: their dot product",
                    ignored=ignored)
    p, q = _axes(rec, 3)
    T0, T1 = steps[0], steps[1]

    axes = rec.config.get("axes")

    def fixed(n: Optional[int], which: str, what: str) -> int:
        if n is None:
            raise ConversionError(f"layer '{rec.name}' (Dot): axes={axes!r} {what} the time axis of {which}; "
                                  "supported: that input with fixed timesteps, e.g. Input((T, features))")
        return n

    def match(n: int, m: int, what: str) -> None:
        if n != m:
            raise ConversionError(f"layer '{rec.name}' (Dot): axes={axes!r} sums {what} ({n} against {m}); they "
                                  "must match")

    X0 = {2: "x0[(size_t)t * %du + (size_t)k]" % A, 1: "x0[(size_t)k * %du + (size_t)t]" % A}[p]
    X1 = {2: "x1[(size_t)j * %du + (size_t)k]" % C, 1: "x1[(size_t)k * %du + (size_t)j]" % C}[q]
    plan: dict = {}
    time: Optional[TimeMap] = None
    shared: tuple[int, ...] = (0,)
    if p == 2 and q == 2:  # (T0, A) . (T1, C) over features: (T0, T1)
        match(A, C, "the features of both inputs")
        width, K = fixed(T1, "the second input", "makes features of"), str(A)
    elif p == 2 and q == 1:  # over x0's features and x1's time: (T0, C)
        match(A, fixed(T1, "the second input", "sums features against"), "the first input's features against "
              "the second's timesteps")
        width, K = C, str(A)
    elif p == 1 and q == 1:  # both time axes, one length: (A, C)
        width, K, shared, time = C, "timesteps", (0, 1), TimeMap(const=A)
    else:  # p == 1, q == 2: over x0's time and x1's features: (A, T1)
        match(fixed(T0, "the first input", "sums features against"), C, "the first input's timesteps against "
              "the second's features")
        width, K, time = fixed(T1, "the second input", "makes features of"), str(C), TimeMap(const=A)
    if time is not None:
        plan.update(time=time, stream_why=f"starts a new time axis of {A} steps (Dot over the time axis)")
    else:
        plan.update(stream_why="reads the whole second sequence (Dot)")
    shape = f"[{'T0' if p == 2 else A}][{width}]"
    return _node(rec, ctx, width, {"mode": "dot_seq", "K": K, "X0": X0, "X1": X1, "p": p, "q": q},
                 f"Dot(axes=({p}, {q})): [T0][{A}] . [T1][{C}] -> {shape}", ignored, shared_time=shared, **plan)


def _call_flag(rec: LayerRecord, key: str) -> bool:
    kwargs = rec.call_kwargs[0] if rec.call_kwargs else {}
    value = kwargs.get(key, False)
    if value is None:
        value = False
    if not isinstance(value, bool):
        raise ConversionError(f"layer '{rec.name}' ({rec.class_name}) is called with {key}={value!r}; supported: "
                              "True or False")
    return value


_ATT_TRAITS = LayerTraits(kinds=(KIND,), mask=Mask.ATTEND, in_width=lambda rec: None,
                          call_args=("use_causal_mask", "return_attention_scores"))


@register("Attention", "AdditiveAttention", doc={"Attention": ATT_DOC, "AdditiveAttention": ADD_DOC},
          traits=_ATT_TRAITS)
def attention_layer(rec: LayerRecord, ctx: Context) -> Node:
    additive = rec.class_name == "AdditiveAttention"
    known = {"use_scale": None, "dropout": None}
    if not additive:
        known["score_mode"] = ("dot", "concat")
    ignored = check_options(rec, known)
    use_scale = flag(rec, "use_scale", additive)
    mode = "bahdanau" if additive else rec.config.get("score_mode", "dot")
    if _call_flag(rec, "return_attention_scores"):
        raise ConversionError(f"layer '{rec.name}' ({rec.class_name}) is called with return_attention_scores=True; "
                              "supported: return_attention_scores=False (the attention output only)")
    causal = _call_flag(rec, "use_causal_mask")
    masks = ctx.masks or (False,) * len(ctx.in_widths)
    n_data = len(ctx.in_widths) - sum(masks[:2])
    widths, seqs = ctx.in_widths[:n_data], ctx.in_seqs[:n_data]
    if n_data not in (2, 3):
        raise ConversionError(f"layer '{rec.name}' ({rec.class_name}) takes [query, value] or [query, value, key], "
                              f"got {n_data} inputs")
    if not all(seqs):
        raise ConversionError(f"layer '{rec.name}' ({rec.class_name}): every input must be a sequence (batch, "
                              "timesteps, dim); a vector is not supported (Keras needs rank 3 too)")
    Dq, Dv = widths[0], widths[1]
    Dk = widths[2] if n_data == 3 else Dv
    if Dq != Dk:
        raise ConversionError(f"layer '{rec.name}' ({rec.class_name}): query has {Dq} features and key {Dk}; they "
                              "must match")
    where = _where(rec)
    names, shapes = [], []
    if use_scale:
        names.append("scale")
        shapes.append((Dq,) if additive else ())
    if mode == "concat":
        names.append("concat_score_weight")
        shapes.append(())
    ws = expect_weights(rec, shapes, names)
    got = dict(zip(names, ws))
    options = {"mode": mode, "Dq": Dq, "Dv": Dv, "key": n_data == 3, "causal": causal,
               "q_mask": masks[0], "v_mask": masks[1], "use_scale": use_scale,
               "c_scale": c_float(float(got["scale"])) if use_scale and not additive else "",
               "c_concat": c_float(float(got["concat_score_weight"])) if mode == "concat" else ""}
    arrays = ()
    if additive and use_scale:
        arrays = (ctx.array("scale", np.asarray(got["scale"]).reshape(Dq), f"{where} scale: [dim={Dq}]"),)
    what = {"dot": "dot-product scores" + (" times scale" if use_scale else ""),
            "concat": "concat scores (sum of tanh)", "bahdanau": "additive scores"}[mode]
    extra = ", causal" if causal else ""
    extra += ", query mask" if masks[0] else ""
    extra += ", value mask" if masks[1] else ""
    return _node(rec, ctx, Dv, options, f"{rec.class_name}({what}{extra}) over the whole value sequence", ignored,
                 arrays=arrays, shared_time=(0,),
                 stream_why="reads the whole value sequence at every step (attention)")
