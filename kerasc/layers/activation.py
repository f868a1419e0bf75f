"""Activation layers: Activation, Softmax, ReLU, LeakyReLU, PReLU, ELU, applied to the vector of one
timestep (or to a vector). Keras 3 and Keras 2 (tf_keras) define each the same way:

  Activation(a)   y = a(x)
  Softmax         y = exp(x - max) / sum(exp(x - max)) over the last axis
  ReLU            y = (x if x > threshold else 0), clipped to [0, max_value], - negative_slope * relu(threshold - x)
  LeakyReLU       y = x if x > 0 else negative_slope * x   (Keras 2 calls the slope `alpha`; default 0.3 in both)
  PReLU           y = relu(x) - alpha * relu(-x), alpha a weight per feature
  ELU             y = x if x > 0 else alpha * expm1(x)
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .. import activations
from ..errors import ConversionError
from ..ir import Node, StateVar, c_float
from ..load import LayerRecord
from . import Context, LayerDoc, LayerTraits, Mask, Option, check_options, expect_weights, register

_PER = "on vectors, and per timestep on sequences; passes the mask on"

DOCS = {
    "Activation": LayerDoc((Option("activation", doc="any elementwise activation below, softmax, log_softmax or "
                                                     "sparsemax (not `glu`)"),), _PER),
    "Softmax": LayerDoc((Option("axis", doc="the last axis (`-1`); on a sequence also the time axis (`1` or "
                                            "`-2`: attention weights)", default=-1),),
                        "on vectors, and per timestep on sequences; over time it reads the whole sequence (no "
                        "streaming); refused on a masked sequence (Keras 3 cannot apply it there either)"),
    "ReLU": LayerDoc((Option("max_value", doc="`None` or a float ≥ 0", default=None),
                      Option("negative_slope", doc="float ≥ 0", default=0.0),
                      Option("threshold", doc="float ≥ 0", default=0.0)), _PER),
    "LeakyReLU": LayerDoc((Option("negative_slope", doc="float ≥ 0 (default 0.3)", default=0.3),
                           Option("alpha", doc="Keras 2's name for negative_slope (default 0.3)", default=0.3)),
                          _PER),
    "PReLU": LayerDoc((Option("shared_axes", doc="`None` or `[1]` on vectors; on sequences axes that share the "
                                                 "time axis, as Keras' PReLU.build reads them (`[1]`: one alpha "
                                                 "per feature, `[1, 2]`: one alpha)", default=None),
                       Option("alpha_initializer", doc="training only"),
                       Option("alpha_regularizer", doc="training only"),
                       Option("alpha_constraint", doc="training only")),
                      _PER + "; alpha stays float32 with `--weights float16/int8`"),
    "ELU": LayerDoc((Option("alpha", doc="any float (default 1.0)", default=1.0),), _PER),
}


def _number(rec: LayerRecord, key: str, value: Any, minimum: Optional[float] = None) -> float:
    """A float option (Keras 2 configs may hold a 0-d array or a one-element list)."""
    if isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise ConversionError(f"layer '{rec.name}' ({rec.class_name}): {key}={value!r} is not supported; "
                              "supported: a finite number")
    if minimum is not None and value < minimum:
        raise ConversionError(f"layer '{rec.name}' ({rec.class_name}): {key}={value!r} is not supported; "
                              f"supported: a number >= {minimum:g}")
    return float(value)


def _node(rec: LayerRecord, ctx: Context, op: str, options: dict, summary: str, ignored: tuple,
          arrays: tuple = (), out_width: int = 0) -> Node:
    F = ctx.in_width
    W = out_width or F
    where = f"Keras layer '{rec.name}' ({rec.class_name})"
    per = "per timestep" if ctx.in_seq else "on a vector"
    return Node(
        index=ctx.index, kind="activation", keras_name=rec.name, keras_class=rec.class_name, cid=ctx.cid,
        in_width=F, out_width=W, in_seq=ctx.in_seq, out_seq=ctx.in_seq, out_ref=f"st->{ctx.cid}_y",
        state=(StateVar(f"{ctx.cid}_y", F, f"{where}: output of one step [{W}]", False),),
        arrays=arrays, options={"op": op, **options},
        summary=f"{summary} {per}", ignored=ignored,
    )


_TRAITS = LayerTraits(kinds=("activation",), mask=Mask.PASS)  # per timestep: the mask passes through


@register("Activation", doc=DOCS["Activation"], traits=_TRAITS)
def activation_layer(rec: LayerRecord, ctx: Context) -> Node:
    ignored = check_options(rec, DOCS["Activation"].known())
    act = ctx.activation(rec, "activation", "linear", activations.SUPPORTED_RNN)
    return _node(rec, ctx, "act", {"activation": act}, f"Activation({act})", ignored)


@register("Softmax", doc=DOCS["Softmax"], traits=LayerTraits(kinds=("activation", "attention"), mask=Mask.TAKE))
def softmax_layer(rec: LayerRecord, ctx: Context) -> Node:
    ignored = check_options(rec, {"axis": None})
    axis = rec.config.get("axis", -1)
    last = 2 if ctx.in_seq else 1
    if isinstance(axis, (list, tuple)) and len(axis) == 1:
        axis = axis[0]
    if ctx.in_seq and not isinstance(axis, bool) and axis in (1, -2):
        from .attention import softmax_over_time  # (registered after the per-timestep layers)

        return softmax_over_time(rec, ctx, ignored)
    if isinstance(axis, bool) or axis not in (-1, last):
        raise ConversionError(f"layer '{rec.name}' (Softmax): axis={rec.config.get('axis')!r} is not supported; "
                              "supported: the last axis (-1), over the features of each timestep, or on a sequence "
                              "the time axis (1 or -2)")
    if ctx.masked:
        raise ConversionError(f"layer '{rec.name}' (Softmax) receives a mask (Masking upstream), which Keras 3 "
                              "cannot broadcast over the features; supported: Softmax on unmasked tensors")
    return _node(rec, ctx, "act", {"activation": "softmax", "axis": -1}, "Softmax(axis=-1)", ignored)


@register("ReLU", doc=DOCS["ReLU"], traits=_TRAITS)
def relu_layer(rec: LayerRecord, ctx: Context) -> Node:
    ignored = check_options(rec, DOCS["ReLU"].known())
    cfg = rec.config
    mx = cfg.get("max_value")
    mx = None if mx is None else _number(rec, "max_value", mx, 0.0)
    slope = _number(rec, "negative_slope", cfg.get("negative_slope", 0.0), 0.0)
    thr = _number(rec, "threshold", cfg.get("threshold", 0.0), 0.0)
    opts = {"negative_slope": slope, "max_value": mx, "threshold": thr,  # as in Keras (inspect shows them)
            "c_slope": c_float(slope), "clip": int(mx is not None), "c_max": c_float(mx or 0.0), "c_thr": c_float(thr)}
    return _node(rec, ctx, "relu", opts, f"ReLU(max_value={mx!r}, negative_slope={slope:g}, threshold={thr:g})",
                 ignored)


@register("LeakyReLU", doc=DOCS["LeakyReLU"], traits=_TRAITS)
def leaky_relu_layer(rec: LayerRecord, ctx: Context) -> Node:
    ignored = check_options(rec, DOCS["LeakyReLU"].known())
    key = "alpha" if "alpha" in rec.config and "negative_slope" not in rec.config else "negative_slope"
    slope = _number(rec, key, rec.config.get(key, 0.3), 0.0)
    opts = {"negative_slope": slope, "c_slope": c_float(slope), "clip": 0, "c_max": c_float(0.0), "c_thr": c_float(0.0)}
    return _node(rec, ctx, "relu", opts, f"LeakyReLU(negative_slope={np.float32(slope):g})", ignored)


@register("ELU", doc=DOCS["ELU"], traits=_TRAITS)
def elu_layer(rec: LayerRecord, ctx: Context) -> Node:
    ignored = check_options(rec, DOCS["ELU"].known())
    alpha = _number(rec, "alpha", rec.config.get("alpha", 1.0))
    return _node(rec, ctx, "elu", {"alpha": alpha, "c_alpha": c_float(alpha)}, f"ELU(alpha={np.float32(alpha):g})", ignored)


@register("PReLU", doc=DOCS["PReLU"], traits=_TRAITS)
def prelu_layer(rec: LayerRecord, ctx: Context) -> Node:
    ignored = check_options(rec, DOCS["PReLU"].known())
    F = ctx.in_width
    raw = rec.config.get("shared_axes")
    shared = [] if raw is None else ([raw] if isinstance(raw, int) else list(raw))
    # Keras' PReLU.build: param_shape = input_shape[1:]; param_shape[i - 1] = 1 for i in shared_axes
    # (Python indexing, so -1 names the axis before the last one); None marks a shared axis here.
    param: list = ["time", "feature"] if ctx.in_seq else ["feature"]
    try:
        for a in shared:
            if isinstance(a, bool) or not isinstance(a, int):
                raise IndexError
            param[a - 1] = None
    except IndexError:
        raise ConversionError(f"layer '{rec.name}' (PReLU): shared_axes={raw!r} is not supported; supported: axes "
                              f"of the input, 1 to {len(param)}") from None
    if ctx.in_seq:
        if param[0] is not None:
            raise ConversionError(f"layer '{rec.name}' (PReLU): shared_axes={raw!r} on a "
                                  "sequence gives each timestep its own alpha; supported: shared_axes containing 1 "
                                  "(the time axis), e.g. [1] (one alpha per feature) or [1, 2] (one alpha)")
        per_feature = param[1] is not None
        shape = (1, F) if per_feature else (1, 1)
    else:
        per_feature = param[0] is not None
        shape = (F,) if per_feature else (1,)
    (alpha,) = expect_weights(rec, [shape], ["alpha"])
    alpha = np.broadcast_to(alpha.reshape(-1), (F,))
    what = "one per feature" if per_feature else "one shared by every feature, repeated"
    arr = ctx.array("alpha", alpha, f"Keras layer '{rec.name}' (PReLU) alpha: [{F}] ({what})")
    return _node(rec, ctx, "prelu", {"shared_axes": raw}, f"PReLU(shared_axes={shared or None})", ignored, arrays=(arr,))
