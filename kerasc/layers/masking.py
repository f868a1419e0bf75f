"""Masking and the mask operations Keras records in Functional graphs.

Keras Masking.call:  mask = any(x != mask_value, axis=-1);  y = x * mask
A Functional model saves the mask its recurrent layers receive as explicit op layers,
NotEqual(x, mask_value) -> Any(axis=-1), passed to them as `mask=`. A mask is carried as a
sequence of width 1 holding 1.0 (step kept) or 0.0 (step masked).
"""

from __future__ import annotations

from ..errors import ConversionError
from ..ir import Node, Port, StateVar, c_float
from ..load import LayerRecord
from . import Context, check_options, register


def _need_seq(rec: LayerRecord, ctx: Context) -> None:
    if not ctx.in_seq:
        raise ConversionError(f"layer '{rec.name}' ({rec.class_name}) needs a sequence input (timesteps, features); "
                              f"it receives a vector of {ctx.in_width}")


@register("Masking")
def masking(rec: LayerRecord, ctx: Context) -> Node:
    ignored = check_options(rec, {"mask_value": None})
    _need_seq(rec, ctx)
    value = rec.config.get("mask_value", 0.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConversionError(f"layer '{rec.name}' (Masking): mask_value={value!r} is not supported; supported: a number")
    F = ctx.in_width
    where = f"Keras layer '{rec.name}' (Masking)"
    return Node(
        index=ctx.index, kind="masking", keras_name=rec.name, keras_class="Masking", cid=ctx.cid,
        in_width=F, out_width=F, in_seq=True, out_seq=True, out_ref=f"st->{ctx.cid}_y",
        extra_ports=(Port(1, True, f"st->{ctx.cid}_m"),),
        state=(StateVar(f"{ctx.cid}_y", F, f"{where}: output of one step [{F}]", False),
               StateVar(f"{ctx.cid}_m", 1, f"{where}: mask of one step (1: kept, 0: masked)", False)),
        arrays=(), options={"mask_value": c_float(value), "scratch": 0},
        summary=f"Masking(mask_value={value!r})", ignored=ignored,
    )


@register("NotEqual")
def not_equal(rec: LayerRecord, ctx: Context) -> Node:
    args = rec.call_args[0] if rec.call_args else []
    scalars = [a for a in args if isinstance(a, (int, float)) and not isinstance(a, bool)]
    if len(ctx.in_widths or (1,)) != 1 or len(args) != 2 or len(scalars) != 1:
        raise ConversionError(f"layer '{rec.name}' (NotEqual): supported only as Keras' mask computation "
                              "not_equal(tensor, number)")
    check_options(rec, {})
    F = ctx.in_width
    where = f"Keras op '{rec.name}' (NotEqual)"
    return Node(
        index=ctx.index, kind="mask_op", keras_name=rec.name, keras_class="NotEqual", cid=ctx.cid,
        in_width=F, out_width=F, in_seq=ctx.in_seq, out_seq=ctx.in_seq, out_ref=f"st->{ctx.cid}_y",
        state=(StateVar(f"{ctx.cid}_y", F, f"{where}: 1.0 where x != {scalars[0]!r}, else 0.0 [{F}]", False),),
        arrays=(), options={"op": "not_equal", "value": c_float(scalars[0]), "scratch": 0},
        summary=f"NotEqual(x, {scalars[0]!r}) as 1.0/0.0",
    )


@register("Any")
def any_op(rec: LayerRecord, ctx: Context) -> Node:
    check_options(rec, {"axis": None, "keepdims": (False,)})
    axis = rec.config.get("axis")
    last = 2 if ctx.in_seq else 1
    if axis not in (-1, last):
        raise ConversionError(f"layer '{rec.name}' (Any): axis={axis!r} is not supported; supported: -1 (the mask "
                              "computation of Masking)")
    if not ctx.in_seq:
        raise ConversionError(f"layer '{rec.name}' (Any): supported only on sequences (the mask of Masking)")
    F = ctx.in_width
    where = f"Keras op '{rec.name}' (Any)"
    return Node(
        index=ctx.index, kind="mask_op", keras_name=rec.name, keras_class="Any", cid=ctx.cid,
        in_width=F, out_width=1, in_seq=True, out_seq=True, out_ref=f"st->{ctx.cid}_y",
        state=(StateVar(f"{ctx.cid}_y", 1, f"{where}: 1.0 if any input value is non-zero, else 0.0", False),),
        arrays=(), options={"op": "any", "scratch": 0},
        summary="Any(axis=-1) as 1.0/0.0",
    )
