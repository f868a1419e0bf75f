"""Embedding: token ids -> rows of a table. Keras Embedding.call: y = embeddings[x]

The input is a model input holding token ids, `int32_t` in C, one per timestep: Keras' (batch,
timesteps) is a sequence of width 1 (lower.py decides which inputs hold token ids). A token outside
[0, input_dim) makes Keras (TensorFlow on CPU) raise an error; C cannot raise, so kerasc defines it:
the output row is all zeros. With mask_zero=True the node has a second, internal output, the mask
(1.0: token != 0, 0.0: token == 0), which lower.py routes to the recurrent layers downstream like
the mask of a Masking layer.
"""

from __future__ import annotations

from ..errors import ConversionError
from ..ir import TOKEN_CTYPE, Node, Port, StateVar
from ..load import LayerRecord
from . import Context, LayerDoc, LayerTraits, Mask, Option, check_options, expect_weights, flag, positive_int, register

DOC = LayerDoc(
    options=(Option("input_dim", doc="≥ 1 (vocabulary size)"),
             Option("output_dim", doc="≥ 1"),
             Option("mask_zero", doc="`True`: token 0 masks its timestep for the recurrent layers downstream, as "
                                     "in Keras", default=False),
             Option("input_length", doc="Keras 2: bookkeeping"),
             Option("sparse", (False,), default=False)),
    notes="directly on a model input of token ids (`int32_t` in C, one per timestep); a token outside "
          "`[0, input_dim)`, where Keras raises an error, gives an all-zero row",
)


@register("Embedding", doc=DOC, traits=LayerTraits(kinds=("embedding",), mask=Mask.MAKE, tokens=True))
def embedding(rec: LayerRecord, ctx: Context) -> Node:
    ignored = check_options(rec, DOC.known())
    cfg = rec.config
    if ctx.in_ctype != TOKEN_CTYPE or not ctx.in_seq:
        raise ConversionError(f"layer '{rec.name}' (Embedding) reads a float tensor; supported: Embedding directly "
                              "on a model input of token ids, shape (batch, timesteps), read only by Embedding layers")
    length = cfg.get("input_length")
    if length is not None and not (isinstance(length, (int, list, tuple)) and not isinstance(length, bool)):
        raise ConversionError(f"layer '{rec.name}' (Embedding): input_length={length!r} must be an integer or None")
    vocab = positive_int(rec, "input_dim")
    dim = positive_int(rec, "output_dim")
    mask_zero = flag(rec, "mask_zero", False)
    (table,) = expect_weights(rec, [(vocab, dim)], ["embeddings"])
    where = f"Keras layer '{rec.name}' (Embedding)"
    arrays = (ctx.array("E", table, f"{where} embeddings: [input_dim={vocab}][output_dim={dim}], token k gives "
                                    "row E[k]"),)
    state = [StateVar(f"{ctx.cid}_y", dim, f"{where}: output of one step [{dim}]", False)]
    ports: tuple[Port, ...] = ()
    if mask_zero:
        state.append(StateVar(f"{ctx.cid}_m", 1, f"{where}: mask of one step (1: token != 0, 0: token 0)", False))
        ports = (Port(1, True, f"st->{ctx.cid}_m"),)
    return Node(
        index=ctx.index, kind="embedding", keras_name=rec.name, keras_class="Embedding", cid=ctx.cid,
        in_width=1, out_width=dim, in_seq=True, out_seq=True, out_ref=f"st->{ctx.cid}_y",
        extra_ports=ports, state=tuple(state), arrays=arrays, kernels=(arrays[0].cname,),
        options={"input_dim": vocab, "output_dim": dim, "mask_zero": mask_zero, "last_token": vocab - 1,
                 "token_ctype": TOKEN_CTYPE},
        summary=f"Embedding(input_dim={vocab}, output_dim={dim}{', mask_zero=True' if mask_zero else ''})",
        ignored=ignored,
    )
