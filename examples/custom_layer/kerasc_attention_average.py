"""The kerasc plugin for AttentionAverage (attention_average.py): lowering + C template, through kerasc.extend.

Load it with `kerasc convert|verify|inspect|gates|bench MODEL --plugin kerasc_attention_average.py`, by
importing it in Python (import = registration), or from an installed package's entry point (group
kerasc.layers). It imports no TensorFlow: `kerasc convert` of a model with this layer runs without it; the
Keras class is named as "module:function" and imported only when Keras loads a file (verify, self-test).

What the C computes (attention_average.c.j2 beside this file): the softmax over time as a running
("online") softmax, so the layer streams like GlobalAveragePooling1D: after step t its output is the
attention average of steps 0..t, and at the last step it is Keras' output.
"""

from __future__ import annotations

from pathlib import Path

from kerasc.extend import (ConversionError, Context, LayerDoc, LayerRecord, Mask, Node, StateVar, check_options,
                           expect_weights, register_layer)

CLASS = "AttentionAverage"
DOC = LayerDoc(options=(),
               notes="custom layer (examples/custom_layer): sequence -> vector, y = sum_t softmax_t(tanh(x_t . w + b)) "
                     "x_t; masked steps get no weight; streams (a running softmax)")


@register_layer(CLASS, doc=DOC, kinds=("attention_average",), template_dir=Path(__file__).parent,
                mask=Mask.TAKE, keras_class="attention_average:keras_class")
def attention_average(rec: LayerRecord, ctx: Context) -> Node:
    """Config and weights of one AttentionAverage layer -> the IR node its template emits."""
    ignored = check_options(rec, DOC.known())  # refuses any option this lowering does not know
    if not ctx.in_seq:
        raise ConversionError(f"layer '{rec.name}' ({CLASS}) needs a sequence input (timesteps, features); "
                              f"it receives a vector of {ctx.in_width}")
    F = ctx.in_width
    w, b = expect_weights(rec, [(F, 1), (1,)], ["w", "b"])  # refuses other shapes and NaN/Inf, saying where
    where = f"Keras layer '{rec.name}' ({CLASS})"
    cid = ctx.cid
    return Node(
        index=ctx.index, kind="attention_average", keras_name=rec.name, keras_class=CLASS, cid=cid,
        in_width=F, out_width=F, in_seq=True, out_seq=False, out_ref=f"st->{cid}_y",
        state=(StateVar(f"{cid}_y", F, f"{where}: attention average of the steps so far [{F}]", True),
               StateVar(f"{cid}_acc", F, f"{where}: running sum of exp(e_t - m) x_t [{F}]", True),
               StateVar(f"{cid}_m", 1, f"{where}: largest score e_t so far", True),
               StateVar(f"{cid}_s", 1, f"{where}: running sum of exp(e_t - m); 0 before the first step", True)),
        arrays=(ctx.array("w", w[:, 0], f"{where} w: [in={F}], the score of step t is tanh(x_t . w + b)"),
                ctx.array("b", b, f"{where} b: [1]")),
        options={"mask_arg": ctx.masked},
        summary=f"{CLASS}() over time{' (masked steps get no weight)' if ctx.masked else ''}",
        ignored=ignored,
    )
