"""Wrapper layers: TimeDistributed(Dense) and Bidirectional(LSTM | GRU | SimpleRNN).

Keras Bidirectional.call (keras/src/layers/rnn/bidirectional.py):
  y     = forward_layer(x)                       backward_layer reads x from the last timestep
  y_rev = backward_layer(x)                      (go_backwards = not forward's)
  if return_sequences: y_rev = flip(y_rev, time) so both are in input order again
  output = concat([y, y_rev]) | y + y_rev | y * y_rev | (y + y_rev) / 2 | [y, y_rev] (merge_mode None)
  with return_state: output, *forward states, *backward states
Both sub-layers get zero_output_for_mask = return_sequences. get_weights(): forward, then backward.
Bidirectional becomes several kerasc nodes: the forward RNN, the backward RNN and the merge (which
reads the backward sequence at T-1-t).
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from ..errors import ConversionError
from ..load import LayerRecord
from . import Context, LayerDoc, LayerTraits, Mask, Option, check_options, register, to_node

RNN_CLASSES = ("LSTM", "GRU", "SimpleRNN")
MERGE_MODES = {"concat": "concat", "sum": "add", "mul": "mul", "ave": "ave"}


def _inner(rec: LayerRecord, key: str) -> tuple[str, dict[str, Any]]:
    lc = rec.config.get(key)
    if not isinstance(lc, dict) or not isinstance(lc.get("class_name"), str) or not isinstance(lc.get("config"), dict):
        raise ConversionError(f"layer '{rec.name}' ({rec.class_name}): its wrapped layer ({key}) is missing or malformed")
    return lc["class_name"], dict(lc["config"])


TD_DOC = LayerDoc((Option("layer", doc="a `Dense`"),), "the Dense applied at every timestep")
BIDI_DOC = LayerDoc((Option("layer", doc="`LSTM`, `GRU`, `SimpleRNN`, or `RNN` of one of their cells"),
                     Option("merge_mode", doc="`concat`, `sum`, `mul`, `ave`, or `None` (two outputs)",
                            default="concat"),
                     Option("backward_layer", doc="a custom backward RNN")),
                    "the forward and backward RNNs, stacked or not, with or without `return_sequences`/"
                    "`return_state`; needs the caller `work` buffer, no streaming")


@register("TimeDistributed", doc=TD_DOC, traits=LayerTraits(mask=Mask.PASS))
def time_distributed(rec: LayerRecord, ctx: Context):
    check_options(rec, TD_DOC.known())
    cls, cfg = _inner(rec, "layer")
    if cls != "Dense":
        raise ConversionError(f"layer '{rec.name}' (TimeDistributed) wraps {cls}; supported: TimeDistributed(Dense)")
    if not ctx.in_seq:
        raise ConversionError(f"layer '{rec.name}' (TimeDistributed) needs a sequence input (timesteps, features)")
    inner = LayerRecord(f"{rec.name}/{cfg.get('name', 'dense')}", "Dense", cfg, rec.weights)
    node = to_node(inner, ctx)
    return dataclasses.replace(node, keras_name=rec.name, keras_class="TimeDistributed", inner_class=node.keras_class,
                               summary=f"TimeDistributed({node.summary})")


def bidirectional_parts(rec: LayerRecord) -> tuple[LayerRecord, LayerRecord, str]:
    """The forward and backward RNN records of a Bidirectional layer, and its merge mode ('none' for None)."""
    check_options(rec, BIDI_DOC.known())
    mode = rec.config.get("merge_mode", "concat")
    if mode is not None and mode not in MERGE_MODES:
        raise ConversionError(f"layer '{rec.name}' (Bidirectional): merge_mode={mode!r} is not supported; supported: "
                              "'concat', 'sum', 'mul', 'ave', None")
    f_cls, f_cfg = _inner(rec, "layer")
    if rec.config.get("backward_layer") is not None:
        b_cls, b_cfg = _inner(rec, "backward_layer")
    else:  # Keras builds the backward layer from the forward config with go_backwards flipped
        b_cls, b_cfg = f_cls, copy.deepcopy(f_cfg)
        b_cfg["go_backwards"] = not bool(f_cfg.get("go_backwards", False))
        b_cfg["name"] = "backward_" + str(f_cfg.get("name", "rnn")).removeprefix("forward_")
    for cls in (f_cls, b_cls):
        if cls not in RNN_CLASSES:
            raise ConversionError(f"layer '{rec.name}' (Bidirectional) wraps {cls}; supported: "
                                  f"{', '.join(RNN_CLASSES)}")
    for cfg in (f_cfg, b_cfg):
        cfg["zero_output_for_mask"] = bool(cfg.get("return_sequences", False))
    n_fwd = 2 + int(bool(f_cfg.get("use_bias", True)))
    fwd = LayerRecord(f"{rec.name}/{f_cfg.get('name', 'forward')}", f_cls, f_cfg, rec.weights[:n_fwd])
    bwd = LayerRecord(f"{rec.name}/{b_cfg.get('name', 'backward')}", b_cls, b_cfg, rec.weights[n_fwd:])
    for key in ("return_sequences", "return_state", "stateful"):
        if bool(f_cfg.get(key, False)) != bool(b_cfg.get(key, False)):
            raise ConversionError(f"layer '{rec.name}' (Bidirectional): forward and backward layers differ in {key}; "
                                  "Keras requires them equal")
    if bool(f_cfg.get("go_backwards", False)) == bool(b_cfg.get("go_backwards", False)):
        raise ConversionError(f"layer '{rec.name}' (Bidirectional): forward and backward layers have the same "
                              "go_backwards; Keras requires them to differ")
    return fwd, bwd, "none" if mode is None else MERGE_MODES[mode]


@register("Bidirectional", doc=BIDI_DOC, traits=LayerTraits(mask=Mask.TAKE_PASS, initial_state=True))
def bidirectional(rec: LayerRecord, ctx: Context):
    """lower.py lowers Bidirectional itself (into forward, backward and merge nodes): this entry
    only lists it among the supported layers."""
    raise AssertionError("Bidirectional is lowered by lower.py, not by a layer handler")
