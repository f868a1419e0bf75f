"""Layers that move values between the time axis and the features: Cropping1D, ZeroPadding1D,
RepeatVector, Flatten, Reshape, Permute. No arithmetic, only copies.

Each output step that needs the input's other timesteps (a sequence out) is a `window` node over a new
time axis (lower.py: a derived Domain): Cropping1D and ZeroPadding1D (length T - crop or T + pad, from T
in C), RepeatVector(n), Reshape to a sequence and Permute((2, 1)) (constant lengths). A sequence turned
into a vector (Flatten, Reshape to one axis) is a `gather` node run once on the stored sequence. Flatten,
Reshape and Permute of a sequence need its length fixed (Keras too needs it for the new shape)."""

from __future__ import annotations

from typing import Any, Optional

from ..errors import ConversionError
from ..ir import Node, StateVar, TimeMap
from ..load import LayerRecord
from . import MAX_UNITS, Context, LayerDoc, LayerTraits, Option, check_options, register
from .conv import need_seq


def _pair(rec: LayerRecord, key: str, default: Any) -> tuple[int, int]:
    value = rec.config.get(key, default)
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    if not (isinstance(value, (list, tuple)) and len(value) == 2 and
            all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_UNITS for v in value)):
        raise ConversionError(f"layer '{rec.name}' ({rec.class_name}): {key}={value!r} is not supported; "
                              "supported: one or two non-negative integers")
    return int(value[0]), int(value[1])


def _node(rec: LayerRecord, ctx: Context, kind: str, width: int, seq: bool, options: dict, summary: str,
          ignored: tuple, **plan: Any) -> Node:
    """A copying node; `plan` holds its planner fields (window, gather, time, fixed_in, stream_why)."""
    where = f"Keras layer '{rec.name}' ({rec.class_name})"
    return Node(index=ctx.index, kind=kind, keras_name=rec.name, keras_class=rec.class_name, cid=ctx.cid,
                in_width=ctx.in_width, out_width=width, in_seq=ctx.in_seq, out_seq=seq, out_ref=f"st->{ctx.cid}_y",
                state=(StateVar(f"{ctx.cid}_y", width, f"{where}: output {'of one step ' if seq else ''}[{width}]",
                                False),),
                arrays=(), options=options, summary=summary, ignored=ignored, **plan)


def _copy(rec: LayerRecord, ctx: Context, mode: str, width: int, time: TimeMap, why: str, summary: str,
          ignored: tuple, fixed_in: Optional[int] = None, **extra: Any) -> Node:
    """A window node that copies: output step t from the input (see templates/layers/reshaping.c.j2)."""
    return _node(rec, ctx, "reshaping", width, True,
                 {"mode": mode, "in_seq": ctx.in_seq, **extra}, summary, ignored,
                 window=True, time=time, stream_why=why, fixed_in=fixed_in)


def _fixed_steps(rec: LayerRecord, ctx: Context, what: str) -> int:
    if ctx.in_timesteps is None:
        raise ConversionError(f"layer '{rec.name}' ({rec.class_name}) {what} of a sequence with a variable number of "
                              "timesteps; supported: an input with fixed timesteps, e.g. Input((T, features))")
    return ctx.in_timesteps


_TRAITS = LayerTraits(kinds=("reshaping", "flatten"))  # Reshape to (n,) is a flatten node

CROP_DOC = LayerDoc((Option("cropping", doc="`(start, end)` or one integer", default=(1, 1)),),
                    "a time axis of T - start - end steps (NAME_predict returns -1 when that is < 1); no streaming")
PAD_DOC = LayerDoc((Option("padding", doc="`(start, end)` or one integer", default=(1, 1)),
                    Option("data_format", ("channels_last",), default="channels_last")),
                   "zeros before and after: a time axis of T + start + end steps; no streaming")


@register("Cropping1D", doc=CROP_DOC, traits=_TRAITS)
def cropping1d(rec: LayerRecord, ctx: Context) -> Node:
    ignored = check_options(rec, CROP_DOC.known())
    need_seq(rec, ctx)
    a, b = _pair(rec, "cropping", (1, 1))
    if ctx.in_timesteps is not None and ctx.in_timesteps <= a + b:
        raise ConversionError(f"layer '{rec.name}' (Cropping1D): cropping={(a, b)} leaves no timestep of "
                              f"{ctx.in_timesteps}; supported: cropping less than the sequence")
    return _copy(rec, ctx, "shift", ctx.in_width, TimeMap(add=-(a + b)), "reads future timesteps (it crops the start)"
                 if a else "shortens the time axis", f"Cropping1D(cropping=({a}, {b}))", ignored, offset=a)


@register("ZeroPadding1D", doc=PAD_DOC, traits=_TRAITS)
def zeropadding1d(rec: LayerRecord, ctx: Context) -> Node:
    ignored = check_options(rec, PAD_DOC.known())
    need_seq(rec, ctx)
    a, b = _pair(rec, "padding", (1, 1))
    return _copy(rec, ctx, "shift", ctx.in_width, TimeMap(add=a + b), "lengthens the time axis",
                 f"ZeroPadding1D(padding=({a}, {b}))", ignored, offset=-a)


REPEAT_DOC = LayerDoc((Option("n", doc="≥ 1"),), "a vector repeated: a time axis of n steps")


@register("RepeatVector", doc=REPEAT_DOC, traits=_TRAITS)
def repeatvector(rec: LayerRecord, ctx: Context) -> Node:
    ignored = check_options(rec, REPEAT_DOC.known())
    n = rec.config.get("n")
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= (1 << 31) - 1:
        raise ConversionError(f"layer '{rec.name}' (RepeatVector): n={n!r} is not supported; supported: a positive "
                              "integer")
    if ctx.in_seq:
        raise ConversionError(f"layer '{rec.name}' (RepeatVector) needs a vector input (features,); it receives a "
                              "sequence")
    return _copy(rec, ctx, "repeat", ctx.in_width, TimeMap(const=n), f"starts a new time axis of {n} steps",
                 f"RepeatVector(n={n})", ignored)


FLATTEN_DOC = LayerDoc((Option("data_format", ("channels_last",), default="channels_last"),),
                       "a sequence of fixed T to a vector of T*features (vectors unchanged); no streaming")
RESHAPE_DOC = LayerDoc((Option("target_shape", doc="`(n,)` or `(T, n)`, -1 allowed, same number of values"),),
                       "vector <-> sequence and sequence -> sequence of fixed length, row-major as Keras; "
                       "no streaming")
PERMUTE_DOC = LayerDoc((Option("dims", doc="`(2, 1)`"),),
                       "a sequence of fixed T [T][F] to [F][T]; no streaming")


def _to_vector(rec: LayerRecord, ctx: Context, ignored: tuple, what: str) -> Node:
    if not ctx.in_seq:
        return _node(rec, ctx, "flatten", ctx.in_width, False, {"count": ctx.in_width}, f"{what} (a copy)", ignored)
    T = _fixed_steps(rec, ctx, "flattens")
    n = T * ctx.in_width
    if n > MAX_UNITS:
        raise ConversionError(f"layer '{rec.name}' ({rec.class_name}) makes a vector of {n} values; supported: up to "
                              f"{MAX_UNITS}")
    return _node(rec, ctx, "flatten", n, False, {"count": n}, f"{what}: [{T}][{ctx.in_width}] -> [{n}]", ignored,
                 gather=True, fixed_in=T, stream_why="needs the whole sequence (it flattens it)")


@register("Flatten", doc=FLATTEN_DOC, traits=LayerTraits(kinds=("flatten",)))
def flatten(rec: LayerRecord, ctx: Context) -> Node:
    ignored = check_options(rec, FLATTEN_DOC.known())
    if rec.config.get("data_format") not in (None, "channels_last"):
        raise ConversionError(f"layer '{rec.name}' (Flatten): data_format={rec.config.get('data_format')!r} is not "
                              "supported; supported: 'channels_last'")
    return _to_vector(rec, ctx, ignored, "Flatten")


@register("Reshape", doc=RESHAPE_DOC, traits=_TRAITS)
def reshape(rec: LayerRecord, ctx: Context) -> Node:
    ignored = check_options(rec, RESHAPE_DOC.known())
    target = rec.config.get("target_shape")
    total = ctx.in_width * (_fixed_steps(rec, ctx, "reshapes the time axis") if ctx.in_seq else 1)
    ok = isinstance(target, (list, tuple)) and len(target) in (1, 2) and \
        all(isinstance(d, int) and not isinstance(d, bool) and (d >= 1 or d == -1) for d in target) and \
        list(target).count(-1) <= 1
    dims = list(target) if ok else []
    if ok and -1 in dims:
        known = 1
        for d in dims:
            known *= d if d != -1 else 1
        ok = total % known == 0
        dims = [total // known if d == -1 else d for d in dims]
    if not ok or (dims and dims[0] * (dims[1] if len(dims) == 2 else 1) != total):
        raise ConversionError(f"layer '{rec.name}' (Reshape): target_shape={target!r} is not supported for "
                              f"{'a sequence' if ctx.in_seq else 'a vector'} of {total} values; supported: (n,) or "
                              "(timesteps, n) with the same number of values (-1 for one of them)")
    if len(dims) == 1:
        return _to_vector(rec, ctx, ignored, f"Reshape(target_shape={tuple(target)})")
    T2, F2 = dims
    return _copy(rec, ctx, "flat", F2, TimeMap(const=T2), f"reshapes into a new time axis of {T2} steps",
                 f"Reshape(target_shape={tuple(target)}): {total} values as [{T2}][{F2}]", ignored,
                 fixed_in=ctx.in_timesteps if ctx.in_seq else None)


@register("Permute", doc=PERMUTE_DOC, traits=_TRAITS)
def permute(rec: LayerRecord, ctx: Context) -> Node:
    ignored = check_options(rec, {"dims": None})
    dims = rec.config.get("dims")
    if not isinstance(dims, (list, tuple)) or tuple(dims) != (2, 1):
        raise ConversionError(f"layer '{rec.name}' (Permute): dims={dims!r} is not supported; supported: (2, 1) on a "
                              "sequence (timesteps <-> features)")
    need_seq(rec, ctx)
    T = _fixed_steps(rec, ctx, "swaps the time axis")
    F = ctx.in_width
    return _copy(rec, ctx, "transpose", T, TimeMap(const=F), f"swaps time and features (a new time axis of {F} steps)",
                 f"Permute(dims=(2, 1)): [{T}][{F}] -> [{F}][{T}]", ignored, steps=T, fixed_in=T)
