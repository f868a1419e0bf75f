"""MaxPooling1D and AveragePooling1D (channels_last), on a sequence [T][F] -> [T'][F].

Keras' pooling: y[t][f] = max (or mean) of x[t*strides - pad_left + k][f] over the pool_size steps k that
lie inside [0, T). With padding='same' the padded steps take no part: max ignores them and the mean divides
by the number of real steps (TensorFlow's SAME pooling). Each output step reads steps ahead of it, so the
node reads its whole stored input (a `window` node) over a new time axis of length T'."""

from __future__ import annotations

from ..errors import ConversionError
from ..ir import Node, StateVar
from ..load import LayerRecord
from . import Context, LayerDoc, LayerTraits, Option, check_options, register
from .conv import channels_last, need_seq, one_int, pad_option, time_map

STREAM_WHY = {"valid": "pools over future timesteps", "same": "pools over future timesteps"}


def _doc(what: str) -> LayerDoc:
    return LayerDoc(
        options=(Option("pool_size", doc="≥ 1", default=2),
                 Option("strides", doc="≥ 1 or None (= pool_size)", default=None),
                 Option("padding", ("valid", "same"), default="valid"),
                 Option("data_format", ("channels_last",), default="channels_last")),
        notes=f"{what} over a new time axis of length T' (computed in C from T); no streaming",
    )


DOCS = {"MaxPooling1D": _doc("max per feature"),
        "AveragePooling1D": _doc("mean per feature (with `same`, of the steps inside the sequence)")}


@register("MaxPooling1D", "AveragePooling1D", doc=DOCS, traits=LayerTraits(kinds=("pooling",)))
def pooling1d(rec: LayerRecord, ctx: Context) -> Node:
    ignored = check_options(rec, DOCS[rec.class_name].known())
    need_seq(rec, ctx)
    channels_last(rec)
    P = one_int(rec, "pool_size", 2)
    S = one_int(rec, "strides", P) if rec.config.get("strides") is not None else P
    padding = rec.config.get("padding", "valid")
    if padding not in ("valid", "same"):
        raise ConversionError(f"layer '{rec.name}' ({rec.class_name}): padding={padding!r} is not supported; "
                              "supported: 'valid', 'same'")
    if ctx.in_timesteps is not None and padding == "valid" and ctx.in_timesteps < P:
        raise ConversionError(f"layer '{rec.name}' ({rec.class_name}): pool_size={P} is longer than the sequence "
                              f"({ctx.in_timesteps} timesteps); supported: padding='same', or at least pool_size steps")
    F = ctx.in_width
    op = "max" if rec.class_name == "MaxPooling1D" else "mean"
    where = f"Keras layer '{rec.name}' ({rec.class_name})"
    options = {"op": op, "pool_size": P, "strides": None if S == P else S, "padding": padding, "step": S,
               **pad_option(padding, P, S)}
    return Node(
        index=ctx.index, kind="pooling", keras_name=rec.name, keras_class=rec.class_name, cid=ctx.cid,
        in_width=F, out_width=F, in_seq=True, out_seq=True, out_ref=f"st->{ctx.cid}_y",
        state=(StateVar(f"{ctx.cid}_y", F, f"{where}: output of one step [{F}]", False),),
        arrays=(), options=options, window=True, time=time_map(padding, P, S), stream_why=STREAM_WHY[padding],
        summary=f"{rec.class_name}(pool_size={P}, strides={S}, padding={padding}), over the stored input sequence",
        ignored=ignored,
    )
