"""Merge layers (Concatenate, Add, Subtract, Multiply, Average, Maximum, Minimum) and the
merge inside Bidirectional. Keras' formulas (keras/src/layers/merging/):
  Add       out = x0 + x1 + ... (left to right)     Average  out = (x0 + x1 + ...) / n
  Subtract  out = x0 - x1                            Multiply out = x0 * x1 * ...
  Maximum   out = max(max(x0, x1), ...)              Concatenate on the last axis
"""

from __future__ import annotations

from ..errors import ConversionError
from ..ir import Node, StateVar
from ..load import LayerRecord
from . import Context, LayerDoc, LayerTraits, Mask, Option, check_options, register

OPS = {"Concatenate": "concat", "Add": "add", "Subtract": "sub", "Multiply": "mul", "Average": "ave",
       "Maximum": "max", "Minimum": "min"}
WORDS = {"concat": "concatenation on the last axis", "add": "sum", "sub": "difference x0 - x1",
         "mul": "product", "ave": "average (sum / n)", "max": "element-wise maximum", "min": "element-wise minimum",
         "copy": "copy"}


_DOCS = {cls: LayerDoc((Option("axis", doc="-1 (the last axis) only", default=-1),) if cls == "Concatenate" else (),
                       f"{WORDS[op]} of branches (sequences of one time axis, or vectors); Keras' masked-input "
                       "rules for Concatenate, Add, Subtract, Average"
                       + ("" if op == "concat" else "; an input of width 1 broadcasts over the features "
                          "(attention weights (T, 1) times features (T, F))"))
         for cls, op in OPS.items()}


# Keras 3's Concatenate ORs the masks; Add, Subtract, Average pass them; Multiply, Maximum, Minimum substitute
# values at masked steps (kerasc refuses them masked).
_TRAITS = {c: LayerTraits(kinds=("merge",), mask=Mask.CONCAT if c == "Concatenate" else
                          Mask.MERGE_VALUES if c in ("Multiply", "Maximum", "Minimum") else Mask.MERGE) for c in OPS}


@register(*OPS, doc=_DOCS, traits=_TRAITS)
def merge_layer(rec: LayerRecord, ctx: Context) -> Node:
    ignored = check_options(rec, _DOCS[rec.class_name].known())
    widths, seqs = ctx.in_widths or (ctx.in_width,), ctx.in_seqs or (ctx.in_seq,)
    if len(widths) < 2 and rec.class_name != "Concatenate":
        raise ConversionError(f"layer '{rec.name}' ({rec.class_name}) needs at least 2 inputs, got {len(widths)}")
    if rec.class_name == "Subtract" and len(widths) != 2:
        raise ConversionError(f"layer '{rec.name}' (Subtract) takes exactly 2 inputs, got {len(widths)}")
    if rec.class_name == "Concatenate":
        axis = rec.config.get("axis", -1)
        last = 2 if seqs[0] else 1
        if axis not in (-1, last):
            raise ConversionError(f"layer '{rec.name}' (Concatenate): axis={axis!r} is not supported; supported: "
                                  f"-1 (the feature axis)")
    return merge_node(ctx, OPS[rec.class_name], rec.name, rec.class_name, widths, seqs, ignored=ignored)


def merge_node(ctx: Context, op: str, keras_name: str, keras_class: str, widths: tuple[int, ...],
               seqs: tuple[bool, ...], *, part: str = "", ignored: tuple[str, ...] = ()) -> Node:
    if len(set(seqs)) != 1:
        raise ConversionError(f"layer '{keras_name}' ({keras_class}) merges sequences with vectors; supported: "
                              "inputs that all have a time axis or all have none")
    width = sum(widths) if op == "concat" else max(widths)
    if op != "concat" and any(w not in (1, width) for w in widths):
        raise ConversionError(f"layer '{keras_name}' ({keras_class}) merges widths {list(widths)}; supported: equal "
                              f"widths, or width 1 broadcast over the others' {width} features (Keras' broadcasting)")
    bcast = [op != "concat" and w != width for w in widths]
    offsets = [sum(widths[:i]) for i in range(len(widths))]
    where = f"Keras layer '{keras_name}' ({keras_class}{', ' + part if part else ''})"
    return Node(
        index=ctx.index, kind="merge", keras_name=keras_name, keras_class=keras_class, cid=ctx.cid,
        in_width=widths[0], out_width=width, in_seq=seqs[0], out_seq=seqs[0], out_ref=f"st->{ctx.cid}_y",
        state=(StateVar(f"{ctx.cid}_y", width, f"{where}: output of one step [{width}]", False),),
        arrays=(), options={"op": op, "widths": list(widths), "offsets": offsets, "n": len(widths),
                            "n_float": f"{float(len(widths))!r}f", "bcast": bcast,
                            "idx": ["0" if b else "j" for b in bcast]},
        summary=f"{keras_class}({WORDS[op]} of {len(widths)} input{'s' if len(widths) > 1 else ''})"
                + (f" [{part}]" if part else ""),
        ignored=ignored, part=part,
    )
