"""Masking. Keras Masking.call:  mask = any(x != mask_value, axis=-1);  y = x * mask

The node has a second, internal output: the mask, a sequence of width 1 holding 1.0 (timestep
kept) or 0.0 (timestep masked), which lower.py routes to the recurrent layers downstream.
(Functional configs also record the mask computation as op layers, NotEqual, Any, LogicalOr, ...;
lower.py drops those and propagates the mask the way Keras' compute_mask does.)
"""

from __future__ import annotations

from ..errors import ConversionError
from ..ir import Node, Port, StateVar, c_float
from ..load import LayerRecord
from . import Context, LayerDoc, LayerTraits, Mask, Option, check_options, register


def _need_seq(rec: LayerRecord, ctx: Context) -> None:
    if not ctx.in_seq:
        raise ConversionError(f"layer '{rec.name}' ({rec.class_name}) needs a sequence input (timesteps, features); "
                              f"it receives a vector of {ctx.in_width}")


DOC = LayerDoc((Option("mask_value", doc="any float; default 0.0", default=0.0),),
               "masked timesteps keep the recurrent state and repeat the previous output, as in Keras; the "
               "mask flows through Dense, TimeDistributed, merges and Bidirectional")


@register("Masking", doc=DOC, traits=LayerTraits(kinds=("masking",), mask=Mask.MAKE))
def masking(rec: LayerRecord, ctx: Context) -> Node:
    ignored = check_options(rec, DOC.known())
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
        arrays=(), options={"mask_value": c_float(value)},
        summary=f"Masking(mask_value={value!r})", ignored=ignored,
    )
