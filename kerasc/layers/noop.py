"""Layers that do nothing at inference: Keras applies them only when training=True. lower.py folds
them away (their output is their input, mask included), so they cost no code, flash or RAM."""

from __future__ import annotations

from ..errors import ConversionError
from ..load import LayerRecord
from . import LayerDoc, LayerTraits, Option, check_options, register

_TRAINING = "training only"
NOOPS = {
    "Dropout": (Option("rate", doc=_TRAINING), Option("noise_shape", doc=_TRAINING)),
    "SpatialDropout1D": (Option("rate", doc=_TRAINING),),
    "GaussianNoise": (Option("stddev", doc=_TRAINING),),
    "GaussianDropout": (Option("rate", doc=_TRAINING),),
    "AlphaDropout": (Option("rate", doc=_TRAINING), Option("noise_shape", doc=_TRAINING)),
    "ActivityRegularization": (Option("l1", doc=_TRAINING), Option("l2", doc=_TRAINING)),
}
DOCS = {cls: LayerDoc(opts, "identity at inference: folded away (no code, no memory)") for cls, opts in NOOPS.items()}


def check(rec: LayerRecord, n_inputs: int) -> None:
    """Refuse what is not a plain inference no-op (unknown options, several inputs)."""
    check_options(rec, DOCS[rec.class_name].known())
    if n_inputs != 1:
        raise ConversionError(f"layer '{rec.name}' ({rec.class_name}) takes {n_inputs} inputs; supported: one")


@register(*NOOPS, doc=DOCS, traits=LayerTraits(identity=True))
def folded(rec: LayerRecord, ctx: object):
    """lower.py folds these layers (output = input): this entry only lists them as supported."""
    raise AssertionError(f"{rec.class_name} is folded by lower.py, not lowered by a handler")
