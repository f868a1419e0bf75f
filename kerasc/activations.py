"""Keras activation identifiers -> the runtime's activation names.

Keras 3 definitions are implemented in runtime_c/kc_runtime.h (`kc_vec_<name>`). This table
is the single place that says which activations exist and where Keras accepts them.
Models saved by Keras 2 are resolved against Keras 2's table (`legacy=True`): where a
definition changed, the name maps to a `_k2` variant of the runtime.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import ConversionError

# Applied value by value.
ELEMENTWISE = (
    "linear", "tanh", "sigmoid", "relu", "relu6", "leaky_relu", "elu", "selu", "celu",
    "softplus", "softsign", "silu", "gelu", "exponential", "hard_sigmoid", "hard_silu",
    "hard_tanh", "hard_shrink", "soft_shrink", "tanh_shrink", "sparse_plus", "sparse_sigmoid",
    "squareplus", "mish", "log_sigmoid",
)
# Applied to the whole vector of one timestep (Keras' last axis).
VECTOR = ("softmax", "log_softmax", "sparsemax")
# Halves the vector: Keras accepts it only where the width may change (Dense).
WIDTH_HALVING = ("glu",)

ALIASES = {"swish": "silu", "hard_swish": "hard_silu", None: "linear"}

SUPPORTED_RNN = ELEMENTWISE + VECTOR
SUPPORTED_DENSE = ELEMENTWISE + VECTOR + WIDTH_HALVING

# Keras 2 (standalone 2.x, tf.keras, tf_keras 2.x): the names its activations.get() accepts, in
# every position (tf_keras/src/activations.py). All but these agree with Keras 3 (see docs/keras2.md, "A Keras 2 model computes what it computed in Keras 2"):
KERAS2 = (
    "linear", "tanh", "sigmoid", "hard_sigmoid", "relu", "relu6", "leaky_relu", "elu", "selu",
    "softplus", "softsign", "swish", "silu", "gelu", "exponential", "mish", "softmax", "log_softmax",
)
# hard_sigmoid: Keras 2 backend.hard_sigmoid is clip(0.2 x + 0.5, 0, 1); Keras 3's is relu6(x + 3) / 6.
KERAS2_VARIANTS = {"hard_sigmoid": "hard_sigmoid_k2"}
# tf_keras 2.13+ also accepts an activation *layer* by class name ("LeakyReLU") or object, and saves
# it as {"class_name": ..., "config": {...}}. Each supported one with the options it may carry
# (option -> (value that works, runtime name)). LeakyReLU's own default slope is 0.3, not
# leaky_relu's 0.2.
KERAS2_LAYER_ACTIVATIONS = {
    "LeakyReLU": ("alpha", {0.3: "leaky_relu_k2"}),
    "ELU": ("alpha", {1.0: "elu"}),
    "ThresholdedReLU": ("theta", {1.0: "thresholded_relu_k2"}),
    "Softmax": ("axis", {-1: "softmax"}),
}


def _identifier(value: Any) -> Any:
    """Keras 3 stores built-in activations as a plain string; some versions wrap it in a dict."""
    if isinstance(value, dict):
        module = str(value.get("module", ""))
        inner = value.get("config")
        if module.startswith("keras") and isinstance(inner, str):
            return inner
        return value
    return value


def resolve(value: Any, *, layer: str, option: str, allowed: tuple[str, ...], legacy: bool = False) -> str:
    """Return the canonical activation name, or raise ConversionError naming layer and option.

    legacy=True: the model was saved by Keras 2, whose names and definitions apply."""
    if legacy:
        return _resolve_keras2(value, layer=layer, option=option)
    ident = _identifier(value)
    if isinstance(ident, str) or ident is None:
        name = ALIASES.get(ident, ident)
        if name in allowed:
            return name
        if name == "threshold":
            why = "Keras cannot call 'threshold' without its threshold/default_value arguments"
        elif name in WIDTH_HALVING:
            why = f"'{name}' halves the width, which Keras only accepts in Dense"
        else:
            why = f"unknown activation {ident!r}"
        raise ConversionError(
            f"layer '{layer}': {option}={ident!r} is not supported ({why}); supported: {', '.join(allowed)}"
        )
    raise ConversionError(
        f"layer '{layer}': {option} is a custom or serialized object ({str(ident)[:120]}); "
        f"only Keras' built-in activations are supported: {', '.join(allowed)}"
    )


def _resolve_keras2(value: Any, *, layer: str, option: str) -> str:
    supported = ", ".join(KERAS2) + "; activation layers: " + ", ".join(
        f"{cls}({opt}={next(iter(vals))!r})" for cls, (opt, vals) in KERAS2_LAYER_ACTIVATIONS.items()) + \
        ", ReLU() with its defaults"
    if isinstance(value, dict) and isinstance(value.get("class_name"), str) and isinstance(value.get("config"), dict):
        return _keras2_layer_activation(value["class_name"], value["config"], layer, option, supported)
    ident = _identifier(value)
    if ident is None or isinstance(ident, str):
        name = "linear" if ident is None else ident
        if name in KERAS2:
            name = ALIASES.get(name, name)
            return KERAS2_VARIANTS.get(name, name)
        if name in ("ReLU",) + tuple(KERAS2_LAYER_ACTIVATIONS):  # an activation layer by name: its defaults
            return _keras2_layer_activation(name, {}, layer, option, supported)
        raise ConversionError(f"layer '{layer}': {option}={ident!r} is not supported (Keras 2 has no activation "
                              f"of that name); supported in models saved by Keras 2: {supported}")
    raise ConversionError(f"layer '{layer}': {option} is a custom or serialized object ({str(ident)[:120]}); "
                          f"supported in models saved by Keras 2: {supported}")


def _keras2_layer_activation(cls: str, cfg: dict[str, Any], layer: str, option: str, supported: str) -> str:
    if cls == "ReLU":
        relu_defaults = {"max_value": None, "negative_slope": 0.0, "threshold": 0.0}
        odd = {k: cfg[k] for k in relu_defaults if k in cfg and cfg[k] != relu_defaults[k]}
        if not odd:
            return "relu"
        raise ConversionError(f"layer '{layer}': {option}=ReLU({', '.join(f'{k}={v!r}' for k, v in odd.items())}) "
                              f"is not supported; supported: {supported}")
    if cls not in KERAS2_LAYER_ACTIVATIONS:
        raise ConversionError(f"layer '{layer}': {option} is a {cls} layer; supported: {supported}")
    opt, values = KERAS2_LAYER_ACTIVATIONS[cls]
    default = next(iter(values))
    got = cfg.get(opt, default)
    for want, name in values.items():
        # The config stores float32 values widened to double (0.30000001192092896).
        if isinstance(got, (int, float)) and np.float32(got) == np.float32(want):
            return name
    shown = f"{float(np.float32(got)):g}" if isinstance(got, float) else repr(got)
    raise ConversionError(f"layer '{layer}': {option}={cls}({opt}={shown}) is not supported; supported: {supported}")


def is_vector(name: str) -> bool:
    return name in VECTOR or name in WIDTH_HALVING


def out_width(name: str, width: int) -> int:
    return width // 2 if name in WIDTH_HALVING else width
