"""Dense, on a vector or on every timestep of a sequence (Keras applies it to the last axis)."""

from __future__ import annotations

from .. import activations
from ..ir import Node, StateVar
from ..load import LayerRecord
from . import Context, LayerDoc, LayerTraits, Mask, Option, check_options, expect_weights, flag, positive_int, register


DOC = LayerDoc(
    options=(Option("units", doc="≥ 1"),
             Option("activation", doc="any activation below, or `glu`, which halves the width; default linear",
                    default="linear"),
             Option("use_bias", default=True)),
    notes="on vectors, and per timestep on sequences",
)


@register("Dense", doc=DOC, traits=LayerTraits(kinds=("dense",), mask=Mask.PASS))
def dense(rec: LayerRecord, ctx: Context) -> Node:
    ignored = check_options(rec, DOC.known())
    cfg = rec.config
    units = positive_int(rec, "units")
    use_bias = flag(rec, "use_bias", True)
    act = ctx.activation(rec, "activation", "linear", activations.SUPPORTED_DENSE)
    F = ctx.in_width
    shapes, names = [(F, units)], ["kernel"]
    if use_bias:
        shapes.append((units,))
        names.append("bias")
    ws = expect_weights(rec, shapes, names)
    where = f"Keras layer '{rec.name}' (Dense)"
    arrays = [ctx.array("W", ws[0], f"{where} kernel: [in={F}][units={units}], x[k] feeds unit j through W[k][j]")]
    if use_bias:
        arrays.append(ctx.array("b", ws[1], f"{where} bias: [units={units}]"))
    out = activations.out_width(act, units)
    per = "per timestep" if ctx.in_seq else "on a vector"
    return Node(
        index=ctx.index, kind="dense", keras_name=rec.name, keras_class="Dense", cid=ctx.cid,
        in_width=F, out_width=out, in_seq=ctx.in_seq, out_seq=ctx.in_seq, out_ref=f"st->{ctx.cid}_y",
        state=(StateVar(f"{ctx.cid}_y", units, f"{where}: output of one step [units={units}]", False),),
        arrays=tuple(arrays), options={"activation": act, "use_bias": use_bias, "units": units},
        kernels=(arrays[0].cname,),
        summary=f"Dense(units={units}, activation={act}, use_bias={use_bias}) {per}", ignored=ignored,
    )
