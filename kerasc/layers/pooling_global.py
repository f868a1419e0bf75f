"""GlobalAveragePooling1D and GlobalMaxPooling1D: a sequence (timesteps, features) -> a vector (features,).

Both are causal running accumulators, so they run inside the timestep loop like an RNN without
return_sequences (Node.collapses): after step t the output is the pooling of steps 0..t, which is what
NAME_step returns and what NAME_predict gives at the last step.

  GlobalAveragePooling1D   y = sum(x) / T; with a mask (Masking upstream), as Keras:
                           y = sum(x * mask) / sum(mask)  (every step masked: 0 / 0, NaN, as in Keras)
  GlobalMaxPooling1D       y = max over steps of x; Keras ignores the mask (masked steps count with the
                           values they carry, zeros straight after Masking)
"""

from __future__ import annotations

from ..errors import ConversionError
from ..ir import Node, StateVar
from ..load import LayerRecord
from . import Context, LayerDoc, LayerTraits, Mask, Option, check_options, register

_OPTS = (Option("data_format", ("channels_last",), doc="`channels_last`", default="channels_last"),
         Option("keepdims", (False,), doc="`False`", default=False))
DOCS = {
    "GlobalAveragePooling1D": LayerDoc(_OPTS, "sequence -> vector, as a running mean inside the timestep loop "
                                              "(streams: the output after step t is the mean so far); averages "
                                              "over the unmasked steps when masked, as Keras does"),
    "GlobalMaxPooling1D": LayerDoc(_OPTS, "sequence -> vector, as a running maximum inside the timestep loop "
                                          "(streams: the output after step t is the maximum so far); Keras "
                                          "ignores the mask, so does kerasc"),
}


@register("GlobalAveragePooling1D", "GlobalMaxPooling1D", doc=DOCS,
          traits={"GlobalAveragePooling1D": LayerTraits(kinds=("pooling_global",), mask=Mask.TAKE),
                  "GlobalMaxPooling1D": LayerTraits(kinds=("pooling_global",))})
def global_pooling(rec: LayerRecord, ctx: Context) -> Node:
    ignored = check_options(rec, DOCS[rec.class_name].known())
    if not ctx.in_seq:
        raise ConversionError(f"layer '{rec.name}' ({rec.class_name}) needs a sequence input (timesteps, features); "
                              f"it receives a vector of {ctx.in_width}")
    F = ctx.in_width
    avg = rec.class_name == "GlobalAveragePooling1D"
    where = f"Keras layer '{rec.name}' ({rec.class_name})"
    state = [StateVar(f"{ctx.cid}_y", F, f"{where}: pooling of the steps so far [{F}]", True),
             StateVar(f"{ctx.cid}_n", 1, f"{where}: steps counted so far (unmasked steps when masked)", True)]
    if avg:
        state.append(StateVar(f"{ctx.cid}_sum", F, f"{where}: running sum of the steps [{F}]", True))
    masked = avg and ctx.masked
    return Node(
        index=ctx.index, kind="pooling_global", keras_name=rec.name, keras_class=rec.class_name, cid=ctx.cid,
        in_width=F, out_width=F, in_seq=True, out_seq=False, out_ref=f"st->{ctx.cid}_y",
        state=tuple(state), arrays=(), options={"op": "avg" if avg else "max", "mask_arg": masked},
        summary=f"{rec.class_name}() over time{' (masked steps left out)' if masked else ''}", ignored=ignored,
    )
