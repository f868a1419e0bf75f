"""Keras activation identifiers -> the runtime's activation names.

Keras 3 definitions are implemented in runtime_c/kc_runtime.h (`kc_vec_<name>`). This table
is the single place that says which activations exist and where Keras accepts them.
"""

from __future__ import annotations

from typing import Any

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


def _identifier(value: Any) -> Any:
    """Keras 3 stores built-in activations as a plain string; some versions wrap it in a dict."""
    if isinstance(value, dict):
        module = str(value.get("module", ""))
        inner = value.get("config")
        if module.startswith("keras") and isinstance(inner, str):
            return inner
        return value
    return value


def resolve(value: Any, *, layer: str, option: str, allowed: tuple[str, ...]) -> str:
    """Return the canonical activation name, or raise ConversionError naming layer and option."""
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


def is_vector(name: str) -> bool:
    return name in VECTOR or name in WIDTH_HALVING


def out_width(name: str, width: int) -> int:
    return width // 2 if name in WIDTH_HALVING else width
