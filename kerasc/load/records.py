"""The plain records every source is read into: what the rest of kerasc sees of a model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

MAX_CONFIG_BYTES = 64 << 20
MAX_WEIGHTS_BYTES = 1 << 30
MAX_ARRAY_ELEMENTS = 1 << 27  # 512 MiB of float32 in one weight array

# (layer name, node index, tensor index): one tensor flowing along a graph edge.
TensorRef = tuple[str, int, int]


@dataclass
class LayerRecord:
    name: str
    class_name: str
    config: dict[str, Any]
    weights: list[np.ndarray]
    # One entry per call of the layer: the tensors it was called on, and the call's kwargs.
    inbound: list[list[TensorRef]] = field(default_factory=list)
    call_kwargs: list[dict[str, Any]] = field(default_factory=list)
    # The positional arguments of each call as saved (tensors as Keras' __keras_tensor__ dicts,
    # constants as values), for op layers such as NotEqual(x, 0.0).
    call_args: list[list[Any]] = field(default_factory=list)
    # Set by kerasc.rnn_api for layers rewritten from Keras' generic RNN API: the form the model used
    # (e.g. "RNN(LSTMCell)"), and the Keras tensor (layer, output index) each output stands for
    # (None: a value inside a Keras layer, with no tensor of its own; default: this layer's outputs).
    origin: Optional[str] = None
    # Keras 3 files and live models: the module of the layer's class as saved ("keras.layers" for Keras' own;
    # None or the user's module for a custom class) and its registered name ("package>Class" for a class
    # registered with keras.saving.register_keras_serializable). Keras 2 files record neither.
    keras_module: Optional[str] = None
    registered_name: Optional[str] = None
    custom: bool = False  # a user's class as the file tells (converted only by a plugin: kerasc.extend)
    keras_ports: Optional[list[Optional[tuple[str, int]]]] = None


@dataclass
class ModelRecord:
    name: str
    source: str  # file name, or "<keras.Model NAME>"
    keras_version: str
    class_name: str  # Sequential / Functional
    layers: list[LayerRecord]
    inputs: list[TensorRef]
    outputs: list[TensorRef]
    # Saved by Keras 2 (decided by keras_version): Keras 2 semantics apply (see kerasc.load.keras2).
    legacy: bool = False
