"""Per-feature normalizations, on a vector or on every timestep of a sequence (the last axis):

  LayerNormalization   mean, variance over the features of the step; inv = rsqrt(variance + epsilon) * gamma;
                       y = x * inv + (beta - mean * inv)
                       (Keras 3's rms_scaling=True: y = x * rsqrt(variance + epsilon) * gamma)
  BatchNormalization   inference: inv = rsqrt(moving_variance + epsilon) * gamma;
                       y = x * inv + (beta - moving_mean * inv)
  Normalization        y = (x - mean) / max(sqrt(variance), 1e-7)  (preprocessing; invert=False)
  Rescaling            y = x * scale + offset

BatchNormalization's per-feature factor and offset are computed here, in float32, from its weights
(kc_vec_affine applies them); after a Dense with a linear activation whose output nothing else reads,
lower.py folds them into the Dense kernel and bias instead (fold_into_dense), so the layer costs nothing.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..errors import ConversionError
from ..ir import Node, StateVar, c_float
from ..load import LayerRecord
from . import Context, LayerDoc, LayerTraits, Mask, Option, check_options, expect_weights, flag, register

KERAS_EPSILON = 1e-7  # keras.config.epsilon(), which Normalization uses
_PER = "on vectors, and per timestep on sequences; passes the mask on"
_TRAIN = "training only"
_FLOAT32 = "; its parameters stay float32 with `--weights float16/int8`"

DOCS = {
    "LayerNormalization": LayerDoc(
        (Option("axis", doc="the last axis: `-1`, `[-1]`, or its index (2 on a sequence)", default=[-1]),
         Option("epsilon", doc="float ≥ 0", default=0.001),
         Option("center", default=True), Option("scale", default=True),
         Option("rms_scaling", doc="`False`, or Keras 3's deprecated `True` (x * rsqrt(variance + epsilon) * gamma)",
                default=False),
         *(Option(k, doc=_TRAIN) for k in ("beta_initializer", "gamma_initializer", "beta_regularizer",
                                            "gamma_regularizer", "beta_constraint", "gamma_constraint"))),
        _PER + _FLOAT32),
    "BatchNormalization": LayerDoc(
        (Option("axis", doc="the last axis: `-1`, `[-1]`, or its index", default=-1),
         Option("epsilon", doc="float ≥ 0", default=0.001),
         Option("center", default=True), Option("scale", default=True),
         Option("momentum", doc=_TRAIN), Option("synchronized", (False,), doc=_TRAIN + " (`False`)"),
         Option("renorm", (False,), doc="`False`"), Option("renorm_clipping", doc=_TRAIN),
         Option("renorm_momentum", doc=_TRAIN), Option("fused", doc="Keras 2, speed only"),
         Option("virtual_batch_size", (None,), doc="`None`"), Option("adjustment", (None,), doc="`None`"),
         *(Option(k, doc=_TRAIN) for k in ("beta_initializer", "gamma_initializer", "moving_mean_initializer",
                                            "moving_variance_initializer", "beta_regularizer", "gamma_regularizer",
                                            "beta_constraint", "gamma_constraint"))),
        "inference formula with the moving mean and variance; folded into the Dense before it when that Dense "
        "has a linear activation and nothing else reads its output (inspect says so), else its own "
        "per-feature step; " + _PER + _FLOAT32),
    "Normalization": LayerDoc(
        (Option("axis", doc="the last axis: `-1` or `[-1]`", default=[-1]),
         Option("invert", (False,), doc="`False`", default=False),
         Option("mean", doc="`None` (adapted: weights) or numbers per feature"),
         Option("variance", doc="`None` (adapted: weights) or numbers per feature")),
        "preprocessing, y = (x - mean) / max(sqrt(variance), 1e-7); " + _PER + _FLOAT32),
    "Rescaling": LayerDoc(
        (Option("scale", doc="a number or one per feature"), Option("offset", doc="a number or one per feature",
                                                                     default=0.0)),
        "y = x * scale + offset; " + _PER + _FLOAT32),
}


def _where(rec: LayerRecord) -> str:
    return f"Keras layer '{rec.name}' ({rec.class_name})"


def _last_axis(rec: LayerRecord, ctx: Context, default: Any) -> None:
    """Refuse any axis but the last (Keras 3 saves [-1], Keras 2 the index, e.g. [2])."""
    axis = rec.config.get("axis", default)
    last = 2 if ctx.in_seq else 1
    items = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    if len(items) != 1 or isinstance(items[0], bool) or items[0] not in (-1, last):
        shown = list(axis) if isinstance(axis, tuple) else axis  # a live layer holds a tuple, its file a list
        raise ConversionError(f"layer '{rec.name}' ({rec.class_name}): axis={shown!r} is not supported; supported: "
                              f"the last axis (-1 or {last}), i.e. per feature of each timestep")


def _epsilon(rec: LayerRecord, default: float) -> float:
    eps = rec.config.get("epsilon", default)
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not np.isfinite(eps) or eps < 0:
        raise ConversionError(f"layer '{rec.name}' ({rec.class_name}): epsilon={eps!r} is not supported; supported: "
                              "a number >= 0")
    return float(eps)


def _per_feature(rec: LayerRecord, key: str, value: Any, F: int) -> np.ndarray:
    """A config value that is a number or one number per feature, as float32 (F,)."""
    if isinstance(value, dict) and value.get("class_name") == "__numpy__":  # Keras 3 serialized ndarray
        value = value.get("config", {}).get("value")
    try:
        arr = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.dtype == object or arr.size not in (1, F) or (arr.size == F and arr.shape[-1:] != (F,)) \
            or not np.all(np.isfinite(arr)):
        raise ConversionError(f"layer '{rec.name}' ({rec.class_name}): {key}={value!r} is not supported; supported: "
                              f"a finite number or one per feature ({F})")
    return np.ascontiguousarray(np.broadcast_to(arr.reshape(-1), (F,)), dtype=np.float32)


def _node(rec: LayerRecord, ctx: Context, op: str, arrays: tuple, options: dict, summary: str,
          ignored: tuple) -> Node:
    F = ctx.in_width
    per = "per timestep" if ctx.in_seq else "on a vector"
    return Node(
        index=ctx.index, kind="normalization", keras_name=rec.name, keras_class=rec.class_name, cid=ctx.cid,
        in_width=F, out_width=F, in_seq=ctx.in_seq, out_seq=ctx.in_seq, out_ref=f"st->{ctx.cid}_y",
        state=(StateVar(f"{ctx.cid}_y", F, f"{_where(rec)}: output of one step [{F}]", False),),
        arrays=arrays, options={"op": op, **options}, summary=f"{summary} {per}", ignored=ignored,
    )


_TRAITS = LayerTraits(kinds=("normalization",), mask=Mask.PASS)  # per timestep: the mask passes through


@register("LayerNormalization", doc=DOCS["LayerNormalization"], traits=_TRAITS)
def layer_normalization(rec: LayerRecord, ctx: Context) -> Node:
    ignored = check_options(rec, DOCS["LayerNormalization"].known())
    _last_axis(rec, ctx, -1)
    eps = _epsilon(rec, 1e-3)
    center, scale = flag(rec, "center", True), flag(rec, "scale", True)
    rms = flag(rec, "rms_scaling", False)
    F = ctx.in_width
    has_gamma, has_beta = scale or rms, center and not rms
    names = (["gamma"] if has_gamma else []) + (["beta"] if has_beta else [])
    ws = dict(zip(names, expect_weights(rec, [(F,)] * len(names), names)))
    arrays = tuple(ctx.array(k, ws[k], f"{_where(rec)} {k}: [{F}]") for k in names)
    opts = {"epsilon": eps, "center": center, "scale": scale, "rms_scaling": rms, "c_eps": c_float(eps),
            "rms": int(rms),
            "gamma": arrays[0].cname if has_gamma else "NULL",
            "beta": arrays[-1].cname if has_beta else "NULL"}
    summary = (f"LayerNormalization(epsilon={eps:g}, center={center}, scale={scale}"
               f"{', rms_scaling=True' if rms else ''})")
    return _node(rec, ctx, "layer_norm", arrays, opts, summary, ignored)


def batch_norm_affine(rec: LayerRecord, F: int) -> tuple[np.ndarray, np.ndarray, str]:
    """BatchNormalization at inference as y = x * a + c: (a, c, summary); checks options and weights."""
    eps = _epsilon(rec, 1e-3)
    center, scale = flag(rec, "center", True), flag(rec, "scale", True)
    names = (["gamma"] if scale else []) + (["beta"] if center else []) + ["moving_mean", "moving_variance"]
    ws = dict(zip(names, expect_weights(rec, [(F,)] * len(names), names)))
    var = ws["moving_variance"]
    if np.any(var + np.float32(eps) <= 0):
        raise ConversionError(f"layer '{rec.name}' (BatchNormalization): moving_variance + epsilon is not positive; "
                              "supported: a trained layer (variance >= 0)")
    # Keras' formula, in float32: inv = rsqrt(variance + epsilon) * gamma; offset = beta - mean * inv.
    a = (np.float32(1) / np.sqrt(var + np.float32(eps))).astype(np.float32)
    if scale:
        a = (a * ws["gamma"]).astype(np.float32)
    c = (-ws["moving_mean"] * a).astype(np.float32)
    if center:
        c = (c + ws["beta"]).astype(np.float32)
    summary = f"BatchNormalization(epsilon={eps:g}, center={center}, scale={scale})"
    return a, c, summary


def _check_batch_norm(rec: LayerRecord, ctx: Context) -> tuple:
    ignored = check_options(rec, DOCS["BatchNormalization"].known())
    _last_axis(rec, ctx, -1)
    return ignored


@register("BatchNormalization", doc=DOCS["BatchNormalization"], traits=_TRAITS)
def batch_normalization(rec: LayerRecord, ctx: Context) -> Node:
    ignored = _check_batch_norm(rec, ctx)
    F = ctx.in_width
    a, c, summary = batch_norm_affine(rec, F)
    arrays = (ctx.array("a", a, f"{_where(rec)} factor rsqrt(moving_variance + epsilon) * gamma: [{F}]"),
              ctx.array("c", c, f"{_where(rec)} offset beta - moving_mean * factor: [{F}]"))
    shown = {k: rec.config.get(k, d) for k, d in (("epsilon", 1e-3), ("center", True), ("scale", True))}
    return _node(rec, ctx, "affine", arrays, shown, summary, ignored)


def fold_into_dense(rec: LayerRecord, dense: Node, ctx: Context) -> Node:
    """The Dense node `dense` (linear activation) with BatchNormalization `rec` folded in:
    kernel[:, j] * a[j] and bias[j] * a[j] + c[j] (bias 0 when the Dense has none)."""
    ignored = _check_batch_norm(rec, ctx)
    units = dense.options["units"]
    a, c, summary = batch_norm_affine(rec, units)
    W = dense.arrays[0]
    b = dense.arrays[1].values if dense.options["use_bias"] else np.zeros(units, np.float32)
    W_f = (W.values * a).astype(np.float32)
    b_f = (b * a + c).astype(np.float32)
    note = f"BatchNormalization '{rec.name}' folded in"
    kernel = dataclasses.replace(W, values=W_f, comment=f"{W.comment}; {note}: kernel[:, j] * factor[j]")
    bias_name = W.cname[: -len("_W")] + "_b" if W.cname.endswith("_W") else W.cname + "_b"
    bias_comment = f"{note}: bias[j] * factor[j] + offset[j] [units={units}]"
    if dense.options["use_bias"]:
        bias = dataclasses.replace(dense.arrays[1], values=b_f, comment=f"{dense.arrays[1].comment}; {bias_comment}")
    else:
        bias = dataclasses.replace(W, cname=bias_name, values=b_f, comment=f"Keras layer '{dense.keras_name}' "
                                   f"(Dense) has no bias; {bias_comment}")
    return dataclasses.replace(
        dense, arrays=(kernel, bias), options={**dense.options, "use_bias": True, "folded": rec.name},
        summary=f"{dense.summary}; {summary} '{rec.name}' folded into kernel and bias",
        ignored=dense.ignored + ignored)


@register("Normalization", doc=DOCS["Normalization"], traits=_TRAITS)
def normalization(rec: LayerRecord, ctx: Context) -> Node:
    ignored = check_options(rec, DOCS["Normalization"].known())
    _last_axis(rec, ctx, [-1])
    if flag(rec, "invert", False):
        raise ConversionError(f"layer '{rec.name}' (Normalization): invert=True is not supported; supported: "
                              "invert=False")
    F = ctx.in_width
    cfg = rec.config
    if cfg.get("mean") is not None or cfg.get("variance") is not None:
        if rec.weights:
            raise ConversionError(f"layer '{rec.name}' (Normalization) has both mean/variance in its config and "
                                  "weights; supported: one of them")
        mean = _per_feature(rec, "mean", cfg.get("mean"), F)
        var = _per_feature(rec, "variance", cfg.get("variance"), F)
    else:
        ws = [np.asarray(w, dtype=np.float32) for w in rec.weights]
        if len(ws) != 3 or ws[0].size != F or ws[1].size != F:
            raise ConversionError(f"layer '{rec.name}' (Normalization): weights do not match the input: expected "
                                  f"mean ({F},), variance ({F},), count; found {[w.shape for w in ws]} (an "
                                  "adapted layer, or mean and variance in the config, is supported)")
        mean, var = ws[0].reshape(F), ws[1].reshape(F)
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(var))):
            raise ConversionError(f"layer '{rec.name}' (Normalization): mean or variance contains NaN or Inf")
    if np.any(var < 0):
        raise ConversionError(f"layer '{rec.name}' (Normalization): a variance is negative; supported: variance >= 0")
    d = np.maximum(np.sqrt(var), np.float32(KERAS_EPSILON)).astype(np.float32)
    arrays = (ctx.array("mean", mean, f"{_where(rec)} mean: [{F}]"),
              ctx.array("d", d, f"{_where(rec)} max(sqrt(variance), 1e-7): [{F}]"))
    return _node(rec, ctx, "standardize", arrays, {}, "Normalization(axis=-1)", ignored)


@register("Rescaling", doc=DOCS["Rescaling"], traits=_TRAITS)
def rescaling(rec: LayerRecord, ctx: Context) -> Node:
    ignored = check_options(rec, DOCS["Rescaling"].known())
    F = ctx.in_width
    if "scale" not in rec.config:
        raise ConversionError(f"layer '{rec.name}' (Rescaling) has no scale in its config")
    scale = _per_feature(rec, "scale", rec.config["scale"], F)
    offset = _per_feature(rec, "offset", rec.config.get("offset", 0.0), F)
    arrays = (ctx.array("a", scale, f"{_where(rec)} scale: [{F}]"),
              ctx.array("c", offset, f"{_where(rec)} offset: [{F}]"))
    shown = {k: (f"{v[0]:g}" if np.all(v == v[0]) else f"[{F} values]") for k, v in (("scale", scale),
                                                                                      ("offset", offset))}
    return _node(rec, ctx, "affine", arrays, {}, f"Rescaling(scale={shown['scale']}, offset={shown['offset']})",
                 ignored)
