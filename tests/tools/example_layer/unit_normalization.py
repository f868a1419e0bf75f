"""Keras UnitNormalization as a kerasc layer: the worked example of docs/architecture.md.

This module and unit_normalization.c.j2 beside it are all a trivial per-timestep layer needs: the handler
(record -> Node), its LayerDoc (options, for check_options and the layers table) and its LayerTraits (mask
role, node kinds, where the template lives), registered in one call. Lowering, planning, codegen, inspect,
quant and verify pick it up from the registry; tests/tools/test_architecture.py proves it against real Keras.
It lives under tests/ (kerasc does not ship it): a layer in kerasc would sit in kerasc/layers/ with its
template in templates/layers/ and no `template_dir`.
"""

from __future__ import annotations

from pathlib import Path

from kerasc.errors import ConversionError
from kerasc.ir import Node, StateVar
from kerasc.layers import Context, LayerDoc, LayerTraits, Mask, Option, check_options, register
from kerasc.load import LayerRecord

CLASS = "UnitNormalization"
DOC = LayerDoc((Option("axis", doc="-1 (the features of each timestep)", default=-1),),
               "y = x / max(||x||, 1e-12) per timestep")
TRAITS = LayerTraits(kinds=("unit_normalization",), mask=Mask.PASS, template_dir=Path(__file__).parent)


@register(CLASS, doc=DOC, traits=TRAITS)
def unit_normalization(rec: LayerRecord, ctx: Context) -> Node:
    ignored = check_options(rec, DOC.known())
    axis = rec.config.get("axis", -1)
    if axis not in (-1, [-1], 2 if ctx.in_seq else 1, [2 if ctx.in_seq else 1]):
        raise ConversionError(f"layer '{rec.name}' ({CLASS}): axis={axis!r} is not supported; supported: -1")
    F = ctx.in_width
    return Node(index=ctx.index, kind="unit_normalization", keras_name=rec.name, keras_class=CLASS, cid=ctx.cid,
                in_width=F, out_width=F, in_seq=ctx.in_seq, out_seq=ctx.in_seq, out_ref=f"st->{ctx.cid}_y",
                state=(StateVar(f"{ctx.cid}_y", F, f"Keras layer '{rec.name}' ({CLASS}): output of one step [{F}]",
                                False),),
                arrays=(), summary=f"{CLASS}(axis=-1) {'per timestep' if ctx.in_seq else 'on a vector'}",
                ignored=ignored)
