"""quant: kernels stored as float16 or int8 instead of float32 (`--weights`, `weights=`).

Only the kernels shrink: every recurrent kernel and recurrent_kernel (per gate), every Dense
kernel and every Embedding table (int8: one scale per output_dim column; a lookup widens one row).
Biases, states, activations and all arithmetic stay float32; the C widens each weight to
float as it reads it (kc_preact_f16 / kc_preact_i8 in kc_runtime.h).

  float16  IEEE 754 binary16 bit patterns (uint16_t), round to nearest even (numpy's astype)
  int8     symmetric, one float scale per output unit (per gate and unit: a column of the Keras
           kernel): scale[j] = max_k |W[k][j]| / 127, q[k][j] = round(W[k][j] / scale[j]) in [-127, 127]

The error this adds is measured against the float Keras model by `kerasc verify --weights ...`;
TOLERANCE holds the default tolerance of each type, chosen from benchmarks/quant_error.py (docs/quantization.md "How the default tolerances were chosen").
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

from .errors import ConversionError
from .ir import CArray, ModelIR, Node

# weight type -> (atol, rtol) used by verify when none is given.
# float16 and int8: about 3x and 2.4x the worst atol needed (at this rtol) over the demo model and 60 random
# saturating models of 4 to 128 units over 32 timesteps (benchmarks/quant_error.py; docs/quantization.md "How the default tolerances were chosen").
TOLERANCE = {"float32": (1e-5, 1e-4), "float16": (1e-2, 1e-2), "int8": (2e-1, 5e-2)}
WEIGHT_TYPES = tuple(TOLERANCE)
NOTE = {"float16": "IEEE half bit patterns in uint16_t, widened to float as read",
        "int8": "int8_t with one float scale per unit and gate, symmetric"}


def check_weights(weights: Optional[str]) -> str:
    """The weight type (None: float32); ConversionError naming the supported ones otherwise."""
    if weights is None:
        return "float32"
    if weights not in TOLERANCE:
        raise ConversionError(f"weights={weights!r} is not supported; supported weight types: "
                              f"{', '.join(repr(w) for w in WEIGHT_TYPES)}")
    return weights


def default_tolerance(weights: Optional[str] = None) -> tuple[float, float]:
    return TOLERANCE[check_weights(weights)]


def half_bits(values: np.ndarray) -> np.ndarray:
    """float32 -> IEEE binary16 bit patterns (round to nearest even; beyond 65504 becomes inf)."""
    with np.errstate(over="ignore"):
        return np.ascontiguousarray(values, dtype=np.float32).astype(np.float16).view(np.uint16)


def int8_symmetric(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(q int8, scale float32 per column): values ~= scale * q, columns of zeros get scale 1."""
    w = np.ascontiguousarray(values, dtype=np.float32)
    amax = np.abs(w).max(axis=0) if w.shape[0] else np.zeros(w.shape[-1], np.float32)
    scale = np.where(amax > 0, amax / np.float32(127), np.float32(1)).astype(np.float32)
    q = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
    return q, scale


def dequantized(a: CArray) -> np.ndarray:
    """The float32 values the C computes with for array `a`."""
    if a.ctype == "uint16_t":
        return a.values.view(np.float16).astype(np.float32)
    if a.ctype == "int8_t":
        assert a.scale is not None
        return (a.values.astype(np.float32) * a.scale.values).astype(np.float32)
    return a.values


def _quantize_array(a: CArray, weights: str) -> CArray:
    if weights == "float16":
        if not np.all(np.isfinite(a.values)) or np.abs(a.values).max(initial=0.0) > 65504.0:
            raise ConversionError(f"{a.comment}: a weight beyond the float16 range (|w| > 65504); "
                                  "supported: --weights float32 or int8 for this model")
        return dataclasses.replace(a, values=half_bits(a.values), ctype="uint16_t",
                                   comment=f"{a.comment}; float16 (IEEE half bit patterns)")
    if not np.all(np.isfinite(a.values)):
        raise ConversionError(f"{a.comment}: a weight is not finite; supported: finite weights for --weights int8")
    q, scale = int8_symmetric(a.values)
    s = CArray(a.cname + "_scale", scale,
               f"int8 scales of {a.cname} [units={scale.size}]: W[k][j] = scale[j] * q[k][j]")
    return dataclasses.replace(a, values=q, ctype="int8_t", scale=s,
                               comment=f"{a.comment}; int8, scaled per unit j by {s.cname}[j]")


def kernels(n: Node) -> list[CArray]:
    """The arrays of a node that are kernels (quantizable), as its layer's lowering declared them (Node.kernels):
    gates' W and U, a Dense kernel, an Embedding table, Conv1D kernels."""
    return [a for a in n.arrays if a.cname in n.kernels]


def quantize(ir: ModelIR, weights: Optional[str]) -> ModelIR:
    """`ir` with its kernels stored as `weights` (float32: `ir` unchanged)."""
    weights = check_weights(weights)
    if weights == "float32":
        return ir
    nodes = []
    for n in ir.nodes:
        new = {a.cname: _quantize_array(a, weights) for a in kernels(n)}
        if not new:
            nodes.append(n)
            continue
        arrays = tuple(new.get(a.cname, a) for a in n.arrays)
        gates = tuple(dataclasses.replace(g, W=new.get(g.W.cname, g.W), U=new.get(g.U.cname, g.U)) for g in n.gates)
        nodes.append(dataclasses.replace(n, arrays=arrays, gates=gates))
    return dataclasses.replace(ir, nodes=tuple(nodes), weight_type=weights)
