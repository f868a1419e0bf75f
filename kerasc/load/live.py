"""A live keras.Model (Keras 3 or tf_keras) -> ModelRecord, through get_config() and get_weights() (duck-typed:
this module does not import Keras)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConversionError
from .config import from_config
from .keras2 import is_keras2
from .records import ModelRecord


def load_live(model: Any) -> ModelRecord:
    import sys

    # The package the model comes from (keras, or tf_keras for a Keras 2 model) is imported already.
    framework = sys.modules.get(type(model).__module__.split(".")[0])
    version = str(getattr(framework, "__version__", "unknown"))
    cfg = {"class_name": model.__class__.__name__, "config": model.get_config()}
    if cfg["class_name"] not in ("Sequential", "Functional", "Model"):
        raise ConversionError(
            f"model '{model.name}' is a subclassed model ({cfg['class_name']}); kerasc converts Sequential "
            "and Functional models, whose structure is visible in their config"
        )
    by_name = {layer.name: layer for layer in model.layers}

    def weights_of(name: str, class_name: str) -> list[np.ndarray]:
        layer = by_name.get(name)
        return [np.asarray(w) for w in layer.get_weights()] if layer is not None else []

    record = from_config(cfg, weights_of, model.name, f"<keras.Model '{model.name}'>", version)
    record.legacy = is_keras2(version, unknown=False)
    return record
