"""qint: integer inference (`--quantize int8`): int8 weights and activations, int16 gates and cell state,
int32 accumulators, calibrated from representative inputs; C with no float arithmetic inside the layers.
`--quantize int16x8` (the TFLM/CMSIS-NN "16x8" scheme): the same int8 weights, gates, cells and accumulators, but
int16 activations: the Q0.15 hidden state and the int16 outputs of Dense layers feed the next products directly
(int16 x int8, exact in int32 up to 512 terms; SMLAD takes int16 halves as they are, so it costs the same).

The ModelIR of the float model is the input: its nodes carry the per-gate float32 weights. This module
1. checks the model is a chain kerasc can run in integers (LSTM, GRU (both reset_after), SimpleRNN,
   Dense, Conv1D (causal or valid, strides 1, a delay line in the state; valid: a warm-up before its first output)
   and the per-feature layers Activation, ReLU, BatchNormalization, Normalization, Rescaling, on sequences or
   vectors; no masks, go_backwards, return_state or stateful layers), naming the layer and what is supported
   otherwise;
2. runs the float model on the calibration inputs in float64 numpy (from the same weights) to find the
   range of the model input, of every Dense, Conv1D and per-feature output and of every LSTM cell state;
3. quantizes: weights per output unit (symmetric int8), the model input per tensor (symmetric int16; int8
   beyond 512 features), recurrent outputs Q0.7 (h in (-1, 1); int16x8: Q0.15), Dense outputs int8 (int16x8:
   int16), gates Q3.12 -> Q0.15 through a 257-point table, LSTM cells int16 with a power-of-two scale from the
   calibration, every rescaling an int32 multiplier and shift;
4. renders NAME.h from templates/qmodel.h.j2 with runtime_c/kc_qruntime.h.

CompiledQModel runs the header through cffi (predict, step, trace of every layer dequantized), and
verify(quantize="int8" or "int16x8", calibration=X) compares it with the float Keras model (kerasc.verify).
docs/integer.md states the formats, the error of each approximation and the default tolerances.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from .errors import ConversionError
from .ir import ModelIR, Node

QUANTIZE_TYPES = ("int8", "int16x8")
QRUNTIME_HEADER = "kc_qruntime.h"
GATE_FRAC = 12  # gates before their activation: Q3.12
LUT_ACTIVATIONS = ("sigmoid", "tanh", "hard_sigmoid", "hard_sigmoid_k2", "softsign", "hard_tanh")
OUTPUT_ACTIVATIONS = ("linear", "relu", "softmax", "sigmoid", "tanh")  # the last Dense, in float
MIDDLE_DENSE = ("linear", "relu") + LUT_ACTIVATIONS
# Default tolerance of verify --quantize MODE against the float Keras model (atol, rtol): 2.5x the worst atol
# needed at rtol 0.05 over the sweep of benchmarks/qint_error.py (48 random models: LSTM, GRU reset_after
# True/False, SimpleRNN; 4 to 128 units; and the demo; docs/integer.md "How the default tolerance was chosen"):
# int8 SimpleRNN 8.0e-2, LSTM 2.9e-2, GRU 4.4e-2 -- the same as --weights int8.
# int16x8 on the same models and inputs lowers the mean |err| by 5-40 % (demo: 4.3e-4 vs 7.0e-4, the atol it
# needs 2.7e-3 vs 1.1e-2), but the largest errors come from the int8 weights both modes share: the worst atol
# needed is 7.7e-2 (SimpleRNN(128)), LSTM 2.9e-2, GRU 3.4e-2. With weights already on the int8 grid (only the
# activations rounded) int16x8 errs 10x less (LSTM(64): 1.3e-3 vs 1.0e-2). So int16x8 keeps int8's default.
TOLERANCE = {"int8": (0.2, 5e-2), "int16x8": (0.2, 5e-2)}
MAX_INT16_TERMS = 512  # int16 x int8 products: 32768 * 127 * 512 < 2^31, every sum exact in int32

_F = {
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "tanh": np.tanh,
    "hard_sigmoid": lambda x: np.clip(x + 3.0, 0.0, 6.0) / 6.0,
    "hard_sigmoid_k2": lambda x: np.clip(0.2 * x + 0.5, 0.0, 1.0),
    "softsign": lambda x: x / (1.0 + np.abs(x)),
    "hard_tanh": lambda x: np.clip(x, -1.0, 1.0),
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0.0),
}


def check_quantize(quantize: Optional[str], calibration: Any) -> Optional[str]:
    if quantize is None:
        return None
    if quantize not in QUANTIZE_TYPES:
        raise ConversionError(f"--quantize {quantize!r} is not supported; supported: {', '.join(QUANTIZE_TYPES)}")
    if calibration is None:
        levels = "256 (int16x8: 65536)" if quantize == "int16x8" else "256"
        raise ConversionError(
            f"--quantize {quantize} needs --calibration X.npy: representative inputs (a few hundred timesteps of real "
            f"data, shape (batch, timesteps, features)). Integer inference maps each tensor's range onto {levels} "
            "levels; kerasc takes the ranges of the model input, of every Dense output and of every LSTM cell "
            "state from running the model on them. Ranges guessed without data either clip real values or "
            "waste the levels, and the C silently computes something else than Keras")
    return quantize


def lut(act: str) -> np.ndarray:
    """The 257-point Q0.15 table of a bounded activation over [-8, 8] (kc_q_lut in kc_qruntime.h)."""
    x = -8.0 + np.arange(257) / 16.0
    return np.clip(np.rint(_F[act](x) * 32768.0), -32768, 32767).astype(np.int16)


def lut_eval(table: np.ndarray, q: np.ndarray) -> np.ndarray:
    """What kc_q_lut computes for Q3.12 inputs q (int16), as Q0.15 integers (the numpy twin, for the
    error sweep of docs/integer.md)."""
    u = q.astype(np.int64) + 32768
    i, f = u >> 8, u & 255
    t = table.astype(np.int64)
    return t[i] + (((t[np.minimum(i + 1, 256)] - t[i]) * f + 128) >> 8)


def rescale_fn(reals: Sequence[float], n: int, xlim: int = 128) -> str:
    """The C rescaling of a product over n terms int8 weight x input (|input| <= xlim: 128 for int8 activations,
    32768 for int16 ones and the int16 model input): kc_q_rescale when
    |acc * factor| provably fits int32 (|acc| <= 127 * xlim * n), else kc_q_rescale_wide (saturating in 64 bits)."""
    top = max((r for r in reals if r > 0 and math.isfinite(r)), default=0.0)
    return "kc_q_rescale" if top * 127 * xlim * n < 2.0 ** 31 - 2 ** 24 else "kc_q_rescale_wide"


def multipliers(reals: Sequence[float], what: str) -> tuple[list[int], int]:
    """([m per row], shift) with m_j * 2^-shift = reals[j] for kc_q_rescale: one shift for the rows of a product
    (a constant in the C), the largest multiplier in [2^30, 2^31); the smallest keeps fewer bits (a row whose
    scale is 2^k times smaller keeps 31 - k)."""
    top = max((r for r in reals if r > 0 and math.isfinite(r)), default=0.0)
    if top == 0.0:
        return [0] * len(reals), 31
    shift = 30 - math.frexp(top)[1] + 1  # top * 2^shift in [2^30, 2^31)
    if shift < 16:
        raise ConversionError(f"{what}: a rescaling factor of {top:.3g} is too large for int32 arithmetic "
                              "(the weights and the calibrated ranges are too far apart)")
    shift = min(shift, 62)
    ms = [min(int(round(r * 2.0 ** shift)), (1 << 31) - 1) if r > 0 and math.isfinite(r) else 0 for r in reals]
    return ms, shift


def _pad4(n: int) -> int:
    return (n + 3) // 4 * 4


def _rows(wT: np.ndarray, cols: int) -> np.ndarray:
    """[units][in] int8 rows padded with zeros to `cols` columns."""
    out = np.zeros((wT.shape[0], cols), np.int8)
    out[:, :wT.shape[1]] = wT
    return out


def _pack(rows: np.ndarray) -> np.ndarray:
    """int8 rows [R][n] (n % 4 == 0) -> the int32 words kc_q_matvec reads: rows padded with zeros to a multiple
    of 4, in blocks of 4 rows, word (block * n/4 + k/4) * 4 + row % 4 holding columns k..k+3 (byte i: k + i)."""
    R, n = rows.shape
    Rp = _pad4(R)
    padded = np.zeros((Rp, n), np.int8)
    padded[:R] = rows
    b = padded.view(np.uint8).astype(np.uint32).reshape(Rp // 4, 4, n // 4, 4)  # block, row, group, byte
    words = b[..., 0] | (b[..., 1] << 8) | (b[..., 2] << 16) | (b[..., 3] << 24)  # block, row, group
    return words.transpose(0, 2, 1).reshape(-1).view(np.int32)


def _quant_cols(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A Keras kernel [in][units] -> (int8 rows [units][in], scale per unit): symmetric, zero columns scale 1."""
    w = np.asarray(w, np.float64)
    amax = np.abs(w).max(axis=0) if w.shape[0] else np.zeros(w.shape[1])
    scale = np.where(amax > 0, amax / 127.0, 1.0)
    q = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
    return q.T.copy(), scale


def _bias_correction(w: np.ndarray, rows: np.ndarray, scale: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """(W - its int8 version) applied to the calibration's mean input: the average error int8 weights add to
    each unit, folded into its bias (bias correction, Nagel et al. 2019). Inputs with a large mean (gravity on
    an accelerometer axis) otherwise shift every pre-activation."""
    err = np.asarray(w, np.float64) - rows.T.astype(np.float64) * scale
    return np.asarray(mean, np.float64) @ err


# ---------------------------------------------------------------- the supported chain

SUPPORTED = ("LSTM, GRU, SimpleRNN, Dense (TimeDistributed(Dense) too), Conv1D (padding 'causal' or 'valid', "
             "strides 1), Activation, ReLU, BatchNormalization, Normalization, Rescaling, and the inference no-ops "
             "(Dropout, GaussianNoise, ...)")
ELEMENT_OPS = ("act", "relu", "affine", "standardize")  # per-feature layers in integers (kind activation/normalization)


def _check_elementwise(n: Node, where: str, mode: str, last: bool) -> None:
    """An Activation/ReLU/normalization node kerasc can run in integers, or a refusal naming the option."""
    op = n.options.get("op")
    if n.kind == "normalization" and op == "layer_norm":
        raise ConversionError(f"{where}: LayerNormalization is not supported with --quantize {mode} (its per-step "
                              "mean and rsqrt(variance) are not built in integers); supported: BatchNormalization, "
                              "Normalization, Rescaling (per-feature affine), or the float header without --quantize")
    if op not in ELEMENT_OPS:
        raise ConversionError(f"{where} is not supported in integer inference; supported per feature: "
                              f"Activation ({', '.join(MIDDLE_DENSE)}; softmax as the last layer), ReLU (no "
                              "negative_slope or threshold), BatchNormalization, Normalization, Rescaling")
    if op == "act":
        act = n.options["activation"]
        ok = OUTPUT_ACTIVATIONS if last else MIDDLE_DENSE
        if act not in ok:
            raise ConversionError(f"{where}: activation {act!r} is not supported with --quantize {mode} "
                                  f"{'as the last layer' if last else 'before another layer'}; supported: "
                                  f"{', '.join(ok)}")
    if op == "relu" and (n.options.get("negative_slope") or n.options.get("threshold")):
        raise ConversionError(f"{where}: negative_slope={n.options.get('negative_slope')!r}, threshold="
                              f"{n.options.get('threshold')!r} are not supported with --quantize {mode}; supported: "
                              "ReLU with negative_slope 0 and threshold 0 (max_value any)")


def _check_conv(n: Node, where: str, mode: str) -> None:
    o = n.options
    if o["groups"] != 1:
        raise ConversionError(f"{where}: groups={o['groups']} is not supported with --quantize {mode}; supported: "
                              "groups=1")
    if o["strides"] != 1 or o["padding"] not in ("causal", "valid"):
        raise ConversionError(f"{where}: padding={o['padding']!r} with strides={o['strides']} is not supported with "
                              f"--quantize {mode} ('same' reads future timesteps, strides skip them: neither fits "
                              "the integer header's one pass over the timesteps); supported: padding 'causal' or "
                              "'valid', strides 1, any dilation_rate")
    if o["activation"] not in MIDDLE_DENSE + OUTPUT_ACTIVATIONS:
        raise ConversionError(f"{where}: activation {o['activation']!r} is not supported with --quantize {mode}; "
                              f"supported: {', '.join(MIDDLE_DENSE)} (and softmax as the last layer)")


def _chain(ir: ModelIR, mode: str = "int8") -> list[Node]:
    """The nodes of `ir`, checked to form one chain of supported layers."""
    if len(ir.inputs) != 1 or len(ir.outputs) != 1:
        raise ConversionError(f"--quantize {mode}: model '{ir.name}' has {len(ir.inputs)} inputs and "
                              f"{len(ir.outputs)} outputs; supported: one input and one output")
    if ir.input_ctypes[0] != "float":
        raise ConversionError(f"--quantize {mode}: token inputs (Embedding) are not supported yet; supported: float inputs")
    prev = ir.inputs[0]
    for k, n in enumerate(ir.nodes):
        where = f"--quantize {mode}: layer '{n.keras_name}' ({n.keras_class})"
        last = k == len(ir.nodes) - 1
        if n.kind not in ("lstm", "gru", "simple_rnn", "dense", "conv", "activation", "normalization"):
            raise ConversionError(f"{where} is not supported in integer inference; supported: {SUPPORTED} in a chain "
                                  "(use --weights int8 for int8 weights with float arithmetic)")
        if tuple(n.inputs) != (prev,) or n.mask is not None or n.init or any(n.reversed_inputs):
            raise ConversionError(f"{where}: supported: a chain of layers, each reading the previous one's output, "
                                  "without masks, initial_state or go_backwards")
        if n.options.get("stateful") or n.options.get("return_state"):
            raise ConversionError(f"{where}: stateful and return_state are not supported with --quantize {mode}")
        if n.recurrent:
            for g in n.gates:
                if g.activation not in LUT_ACTIVATIONS:
                    raise ConversionError(f"{where}: activation {g.activation!r} of gate {g.name or 'h'} is not supported "
                                          f"in integers; supported: {', '.join(LUT_ACTIVATIONS)}")
        if n.kind == "conv":
            _check_conv(n, where, mode)
        if n.kind in ("activation", "normalization"):
            _check_elementwise(n, where, mode, last)
        prev = n.outputs[0]
    if prev != ir.outputs[0]:
        raise ConversionError(f"--quantize {mode}: the model output must be the last layer's output")
    return list(ir.nodes)


# ---------------------------------------------------------------- calibration: the float model in numpy

def _act(name: str, v: np.ndarray) -> np.ndarray:
    if name == "softmax":
        e = np.exp(v - v.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    return _F[name](v)


def _gate_arrays(n: Node) -> dict[str, tuple]:
    return {g.name: (g.W.values.astype(np.float64), g.U.values.astype(np.float64),
                     np.zeros(g.W.values.shape[1]) if g.b is None else g.b.values.astype(np.float64),
                     np.zeros(g.W.values.shape[1]) if g.rb is None else g.rb.values.astype(np.float64),
                     g.activation) for g in n.gates}


def conv_span(n: Node) -> int:
    """The timesteps one output step of a Conv1D node reads: (kernel_size - 1) * dilation_rate + 1."""
    return (n.options["kernel_size"] - 1) * n.options["dilation"] + 1


def _conv_forward(n: Node, x: np.ndarray) -> np.ndarray:
    """Keras Conv1D (groups 1, strides 1) before its activation: y[t] = b + sum_k x[t - pad + k * dilation] @ kernel[k]
    (causal: pad = span - 1 zeros on the left; valid: no padding, T - span + 1 steps)."""
    K, D, span = n.options["kernel_size"], n.options["dilation"], conv_span(n)
    W = n.arrays[0].values.astype(np.float64).reshape(K, n.in_width, n.out_width)
    if n.options["padding"] == "causal":
        x = np.concatenate([np.zeros((x.shape[0], span - 1, x.shape[2])), x], axis=1)
    T = x.shape[1] - span + 1
    y = sum(x[:, k * D:k * D + T] @ W[k] for k in range(K))
    return y + (n.arrays[1].values.astype(np.float64) if n.options["use_bias"] else 0.0)


def elementwise_affine(n: Node) -> tuple[np.ndarray, np.ndarray]:
    """A per-feature node as y = f(x * a + c): (a, c) in float64 (Activation and ReLU: a = 1, c = 0)."""
    op, F = n.options["op"], n.in_width
    if op == "affine":  # BatchNormalization (its factor and offset, computed by layers/normalization.py), Rescaling
        return n.arrays[0].values.astype(np.float64), n.arrays[1].values.astype(np.float64)
    if op == "standardize":  # Normalization: (x - mean) / d
        d = n.arrays[1].values.astype(np.float64)
        return 1.0 / d, -n.arrays[0].values.astype(np.float64) / d
    return np.ones(F), np.zeros(F)


def _elementwise_forward(n: Node, x: np.ndarray) -> np.ndarray:
    a, c = elementwise_affine(n)
    v = x * a + c
    if n.options["op"] == "act":
        return _act(n.options["activation"], v)
    if n.options["op"] == "relu":
        v = np.maximum(v, 0.0)
        return v if n.options.get("max_value") is None else np.minimum(v, float(n.options["max_value"]))
    return v


def float_forward(nodes: Sequence[Node], x: np.ndarray) -> tuple[list[np.ndarray], dict[str, Any]]:
    """Every node's output (float64, (B, T, W) or (B, W)) on x (B, T, F), and what calibration needs:
    'cell:<cid>' the largest |c| of an LSTM, 'gate:<cid>' the largest |pre-activation| of a gate, 'xmean:<cid>'
    the mean input vector of a node and 'hmean:<cid>' the mean h_{t-1} of a recurrent one (bias correction)."""
    h_in = np.asarray(x, np.float64)
    outs, ranges = [], {}
    for n in nodes:
        ranges[f"xmean:{n.cid}"] = h_in.reshape(-1, h_in.shape[-1]).mean(axis=0)
        if n.kind == "dense":
            W = n.arrays[0].values.astype(np.float64)
            b = n.arrays[1].values.astype(np.float64) if n.options.get("use_bias") else 0.0
            y = _act(n.options["activation"], h_in @ W + b)
        elif n.kind == "conv":
            y = _act(n.options["activation"], _conv_forward(n, h_in))
        elif n.kind in ("activation", "normalization"):
            y = _elementwise_forward(n, h_in)
        else:
            g = _gate_arrays(n)
            B, T = h_in.shape[0], h_in.shape[1]
            U = n.options["units"]
            h = np.zeros((B, U))
            c = np.zeros((B, U))
            seq, cmax, gmax = [], 0.0, 0.0
            hsum = np.zeros(U)
            for t in range(T):
                hsum += h.sum(axis=0)  # h_{t-1}, for the bias correction of the recurrent kernel
                xt = h_in[:, t]
                if n.kind == "lstm":
                    pre = {k: xt @ v[0] + h @ v[1] + v[2] for k, v in g.items()}
                    gmax = max(gmax, max(float(np.abs(p).max(initial=0)) for p in pre.values()))
                    i, f, cc, o = (_act(g[k][4], pre[k]) for k in "ifco")
                    c = f * c + i * cc
                    h = o * _act(g["c"][4], c)
                    cmax = max(cmax, float(np.abs(c).max(initial=0)))
                elif n.kind == "gru":
                    ra = n.options.get("reset_after")
                    pz = xt @ g["z"][0] + h @ g["z"][1] + g["z"][2] + g["z"][3]
                    pr = xt @ g["r"][0] + h @ g["r"][1] + g["r"][2] + g["r"][3]
                    z, r = _act(g["z"][4], pz), _act(g["r"][4], pr)
                    if ra:
                        ph = xt @ g["h"][0] + g["h"][2] + r * (h @ g["h"][1] + g["h"][3])
                    else:
                        ph = xt @ g["h"][0] + (r * h) @ g["h"][1] + g["h"][2]
                    gmax = max(gmax, float(np.abs(np.concatenate([pz, pr, ph])).max(initial=0)))
                    h = z * h + (1 - z) * _act(g["h"][4], ph)
                else:
                    (k0,) = g
                    p = xt @ g[k0][0] + h @ g[k0][1] + g[k0][2]
                    gmax = max(gmax, float(np.abs(p).max(initial=0)))
                    h = _act(g[k0][4], p)
                seq.append(h)
            ranges[f"cell:{n.cid}"] = cmax
            ranges[f"gate:{n.cid}"] = gmax
            ranges[f"hmean:{n.cid}"] = hsum / (B * T)
            y = np.stack(seq, axis=1) if n.out_seq else h
        outs.append(y)
        h_in = y
    return outs, ranges


# ---------------------------------------------------------------- quantization

@dataclasses.dataclass
class QNode:
    """One node in integers: what templates/qmodel.h.j2 reads."""

    node: Node
    kind: str
    cid: str
    F: int  # input width (Fp: padded to a multiple of 4)
    Fp: int
    W: int  # output width
    Wp: int
    in_scale: float
    out_scale: float  # of the output the next product reads (int8: 1/128 for recurrent layers, int16x8: 1/32768;
    # the last Dense: 0, its output is float)
    last: bool
    tail: bool  # runs on a vector after the sequence part (once per predict)
    delay: int = 0  # its output's step t is the model input's step t + delay (padding='valid' Conv1D upstream)
    arrays: list = dataclasses.field(default_factory=list)  # (cname, ctype, values, comment)
    info: dict = dataclasses.field(default_factory=dict)


LIMIT = 1 << 28  # KC_Q_LIMIT: every rescaled product and bias saturates at +-2^28 (sums of four stay in int32)


def _bias(v: Any) -> np.ndarray:
    """A bias in the scale of its sum, rounded and saturated like the products it is added to."""
    return np.clip(np.rint(np.asarray(v, np.float64)), -LIMIT, LIMIT - 1).astype(np.int64)


def _arr(q: QNode, prefix: str, what: str, ctype: str, values: Any, comment: str) -> str:
    name = f"{prefix}__{q.cid}_{what}"
    q.arrays.append((name, ctype, np.asarray(values).ravel(), comment))
    return name


@dataclasses.dataclass
class QModel:
    """A model ready for integer C: the float IR, its chain in integers and the calibration facts."""

    ir: ModelIR
    nodes: list[QNode]
    in_scale: float
    calib_steps: int
    luts: dict[str, np.ndarray]
    ranges: dict[str, float]
    in_bits: int = 16  # the model input's integer width
    mode: str = "int8"  # --quantize: "int8" or "int16x8"
    warmup: int = 0  # the first input steps with no output (padding='valid' Conv1D: span - 1 each)

    @property
    def act_bits(self) -> int:
        """The width of the activations the products read: 8 (int8) or 16 (int16x8)."""
        return 16 if self.mode == "int16x8" else 8

    @property
    def name(self) -> str:
        return self.ir.name

    @property
    def weight_bytes(self) -> int:
        return sum(int(v.size) * {"int8_t": 1, "int16_t": 2, "int32_t": 4, "float": 4}[ct]
                   for q in self.nodes for _, ct, v, _ in q.arrays) + 2 * 257 * len(self.luts)


def _terms(n: Node) -> int:
    """The terms of a node's product over its input (0: a per-feature node, no product)."""
    if n.kind == "conv":
        return n.options["kernel_size"] * _pad4(n.in_width)
    return 0 if n.kind in ("activation", "normalization") else _pad4(n.in_width)


def _warmup(nodes: Sequence[Node]) -> int:
    """Input steps before the first output: span - 1 for each padding='valid' Conv1D."""
    return sum(conv_span(n) - 1 for n in nodes if n.kind == "conv" and n.options["padding"] == "valid")


def _signed_multipliers(reals: Sequence[float], what: str) -> tuple[list[int], int]:
    """multipliers() of |reals| with their signs (a BatchNormalization factor can be negative)."""
    ms, shift = multipliers([abs(r) for r in reals], what)
    return [m if r >= 0 else -m for m, r in zip(ms, reals)], shift


def _quantize_elementwise(q: QNode, n: Node, y: np.ndarray, p: str, luts: dict, scale: float, xlim: int, alim: int,
                          where: str) -> None:
    """Activation, ReLU, BatchNormalization, Normalization, Rescaling: y_j = f(x_j * a_j + c_j) per feature, as one
    rescale of the integer x_j (multiplier per feature, one shift) plus a bias; a bounded f through its table."""
    a, c = elementwise_affine(n)
    op = n.options["op"]
    act = n.options["activation"] if op == "act" else ("relu" if op == "relu" else "linear")
    q.kind = "elem"
    q.info["act"] = act
    hi = n.options.get("max_value") if op == "relu" else None
    if q.last:  # in float: y = act(x * (scale * a) + c)
        q.info["fs"] = _arr(q, p, "fs", "float", (scale * a).astype(np.float32),
                            f"dequantization and factor of each feature: y = x * fs + b [{q.W}]")
        q.info["fb"] = _arr(q, p, "fb", "float", c.astype(np.float32), f"offset [{q.W}]")
        q.info["hi"] = None if hi is None else float(hi)
        q.info["mode"] = "float"
        q.out_scale = 0.0
        return
    if act in LUT_ACTIVATIONS:
        luts.setdefault(act, lut(act))
        reals, bias, q.info["mode"] = scale * a * 2 ** GATE_FRAC, c * 2 ** GATE_FRAC, "lut"
        to = "Q3.12"
    else:
        ymax = float(np.abs(y).max(initial=0))
        q.out_scale = ymax / (alim - 1.0) if ymax > 0 else 1.0
        reals, bias, q.info["mode"] = scale * a / q.out_scale, c / q.out_scale, act
        q.info["hi"] = None if hi is None else int(min(round(float(hi) / q.out_scale), alim - 1))
        to = "the output scale"
    ms, q.info["S"] = _signed_multipliers(list(reals), where)
    top = max((abs(r) for r in reals), default=0.0)
    q.info["fn"] = "kc_q_rescale" if top * xlim < 2.0 ** 31 - 2 ** 24 else "kc_q_rescale_wide"
    q.info["m"] = _arr(q, p, "m", "int32_t", ms, f"rescale multipliers of each feature to {to} (shift {q.info['S']})")
    q.info["b"] = _arr(q, p, "b", "int32_t", _bias(bias), f"offset of each feature in {to}")


def quantize_model(ir: ModelIR, calibration: Any, mode: str = "int8") -> QModel:
    """`ir` (float32 weights) in integers, its ranges taken from `calibration` ((B, T, F) or (T, F)); mode: the
    --quantize type ("int8": int8 activations; "int16x8": int16 activations, int8 weights)."""
    if mode not in QUANTIZE_TYPES:
        raise ConversionError(f"--quantize {mode!r} is not supported; supported: {', '.join(QUANTIZE_TYPES)}")
    nodes = _chain(ir, mode)
    x = np.asarray(calibration, dtype=np.float64)
    if ir.input_seq and x.ndim == 2:
        x = x[None]
    want = 3 if ir.input_seq else 2
    if x.ndim != want or x.shape[-1] != ir.input_width or x.size == 0:
        raise ConversionError(f"--calibration: shape {tuple(x.shape)} does not fit model '{ir.name}' "
                              f"(expected (batch, timesteps, {ir.input_width})" if ir.input_seq else
                              f"--calibration: shape {tuple(x.shape)} does not fit model '{ir.name}' (expected "
                              f"(batch, {ir.input_width}))")
    if not np.all(np.isfinite(x)):
        raise ConversionError("--calibration: the inputs hold NaN or Inf values")
    if not ir.input_seq:
        raise ConversionError(f"--quantize {mode}: models with a vector input are not supported; supported: "
                              "a sequence input (timesteps, features)")
    short = _warmup(nodes) + 1
    if x.shape[1] < short:
        raise ConversionError(f"--calibration: sequences of {x.shape[1]} timesteps are too short for model "
                              f"'{ir.name}': its padding='valid' Conv1D layers need at least {short}")
    outs, ranges = float_forward(nodes, x)
    amax = float(np.abs(x).max())
    # The model input in int16 (its first product is int16 x int8, as cheap as int8 x int8 with SMLAD): sensor
    # models are sensitive to input rounding. int8 beyond 512 terms keeps that product's sum within int32.
    in_bits = 16 if _terms(nodes[0]) <= 512 else 8
    in_lim = 2 ** (in_bits - 1) - 1
    in_scale = amax / in_lim if amax > 0 else 1.0
    p = ir.name
    qnodes: list[QNode] = []
    luts: dict[str, np.ndarray] = {}
    scale = in_scale
    wide = mode == "int16x8"
    alim = 32768 if wide else 128  # the largest |activation| the products read: int16 or int8
    delay = 0
    for k, (n, y) in enumerate(zip(nodes, outs)):
        last = k == len(nodes) - 1
        xlim = in_lim + 1 if k == 0 else alim  # the largest |x| of this node's input
        where = f"layer '{n.keras_name}' ({n.keras_class})"
        if wide:  # int16 x int8 sums are exact in int32 over at most 512 terms
            for what, width, lim in (("input", _terms(n), xlim),
                                     ("units", n.out_width if n.recurrent else 0, alim)):
                if lim > 128 and _pad4(width) > MAX_INT16_TERMS:
                    what = "units" if what == "units" else ("window terms (kernel_size x input features)"
                                                            if n.kind == "conv" else "input features")
                    raise ConversionError(
                        f"--quantize int16x8: {where}: {width} {what}: "
                        f"an int16 x int8 product over more than {MAX_INT16_TERMS} terms can leave int32; supported: "
                        f"up to {MAX_INT16_TERMS} (--quantize int8 keeps such a product's input in int8)")
        if n.kind == "conv" and n.options["padding"] == "valid":
            delay += conv_span(n) - 1
        q = QNode(node=n, kind=n.kind, cid=n.cid, F=n.in_width, Fp=_pad4(n.in_width), W=n.out_width,
                  Wp=_pad4(n.out_width), in_scale=scale, out_scale=1.0 / alim, last=last, tail=not n.in_seq,
                  delay=delay if n.out_seq else 0)
        if n.kind in ("dense", "conv"):
            act = n.options["activation"]
            if n.kind == "dense":
                Wf, xmean, terms = n.arrays[0].values.astype(np.float64), ranges[f"xmean:{n.cid}"], q.Fp
                what = (f"Keras layer '{n.keras_name}' ({n.keras_class}) kernel, int8 [units={q.W}][in={q.Fp}] "
                        "(transposed, padded with zeros)")
            else:  # the window [kernel_size][Fp] of taps as one product; each tap padded to Fp (zero rows)
                K, D = n.options["kernel_size"], n.options["dilation"]
                Wk = n.arrays[0].values.astype(np.float64).reshape(K, q.F, q.W)
                Wf = np.zeros((K, q.Fp, q.W))
                Wf[:, :q.F] = Wk
                Wf = Wf.reshape(K * q.Fp, q.W)
                mean = np.zeros(q.Fp)
                mean[:q.F] = ranges[f"xmean:{n.cid}"]
                xmean, terms = np.tile(mean, K), K * q.Fp
                span = conv_span(n)
                q.info.update(K=K, D=D, span=span, terms=terms, gather=D > 1 and K > 1)
                what = (f"Keras layer '{n.keras_name}' (Conv1D) kernel, int8 [filters={q.W}][kernel_size={K} x "
                        f"in={q.Fp}] (tap k input c at column k*{q.Fp}+c, padded with zeros)")
            b = n.arrays[1].values.astype(np.float64) if n.options.get("use_bias") else np.zeros(n.out_width)
            wq, sw = _quant_cols(Wf)
            b = b + _bias_correction(Wf, wq, sw, xmean)
            q.info.update(act=act, hi=None)
            q.info["W"] = _arr(q, p, "Wq", "int32_t", _pack(_rows(wq, terms)),
                               f"{what}, one scale per unit, packed four to a word for kc_q_matvec")
            q.info["R"] = _pad4(q.W)
            if last:
                if act not in OUTPUT_ACTIVATIONS:
                    raise ConversionError(f"--quantize {mode}: {where}: activation {act!r} of the output layer is not "
                                          f"supported; supported: {', '.join(OUTPUT_ACTIVATIONS)}")
                q.info["fs"] = _arr(q, p, "fs", "float", (scale * sw).astype(np.float32),
                                    f"dequantization of each unit: y = acc * fs + b [{q.W}]")
                q.info["fb"] = _arr(q, p, "fb", "float", b.astype(np.float32), f"bias [{q.W}]")
                q.out_scale = 0.0
            elif act in LUT_ACTIVATIONS:
                luts.setdefault(act, lut(act))
                reals = [scale * s * 2 ** GATE_FRAC for s in sw]
                ms, q.info["S"] = multipliers(reals, where)
                q.info["fn"] = rescale_fn(reals, terms, xlim)
                q.info["mode"] = "lut"
                q.info["m"] = _arr(q, p, "m", "int32_t", ms, f"rescale multipliers to Q3.12 (shift {q.info['S']})")
                q.info["b"] = _arr(q, p, "b", "int32_t", _bias(b * 2 ** GATE_FRAC),
                                   "bias in Q3.12")
            elif act in ("linear", "relu"):
                ymax = float(np.abs(y).max(initial=0))
                out_scale = ymax / (alim - 1.0) if ymax > 0 else 1.0
                reals = [scale * s / out_scale for s in sw]
                ms, q.info["S"] = multipliers(reals, where)
                q.info["fn"] = rescale_fn(reals, terms, xlim)
                q.info["mode"] = act
                q.out_scale = out_scale
                q.info["m"] = _arr(q, p, "m", "int32_t", ms,
                                   f"rescale multipliers to the output scale (shift {q.info['S']})")
                q.info["b"] = _arr(q, p, "b", "int32_t", _bias(b / out_scale),
                                   "bias in the output scale")
            else:
                raise ConversionError(f"--quantize {mode}: {where}: activation {act!r} before another layer is not "
                                      f"supported; supported: {', '.join(MIDDLE_DENSE)}")
        elif n.kind in ("activation", "normalization"):
            _quantize_elementwise(q, n, y, p, luts, scale, xlim, alim, where)
        else:
            g = {gt.name: gt for gt in n.gates}
            order = [gt.name for gt in n.gates]
            U = n.options["units"]
            q.info.update(units=U, Up=_pad4(U), gates=order, reset_after=bool(n.options.get("reset_after")))
            wrows, urows, mx, mh, bx, bh = [], [], [], [], [], []
            for name in order:
                gt = g[name]
                wq, sw = _quant_cols(gt.W.values)
                uq, su = _quant_cols(gt.U.values)
                wrows.append(_rows(wq, q.Fp))
                urows.append(_rows(uq, q.info["Up"]))
                mx += [scale * s * 2 ** GATE_FRAC for s in sw]
                mh += [s / alim * 2 ** GATE_FRAC for s in su]  # h: Q0.7 (int8) or Q0.15 (int16x8)
                b = np.zeros(U) if gt.b is None else gt.b.values.astype(np.float64)
                rb = np.zeros(U) if gt.rb is None else gt.rb.values.astype(np.float64)
                b = b + _bias_correction(gt.W.values, wq, sw, ranges[f"xmean:{n.cid}"])
                hc = _bias_correction(gt.U.values, uq, su, ranges[f"hmean:{n.cid}"])
                if n.kind == "gru" and q.info["reset_after"] and name == "h":
                    rb = rb + hc  # inside r * (U h + rb)
                elif not (n.kind == "gru" and name == "h"):  # reset_before: U_h multiplies r * h (no mean of it)
                    b = b + hc
                if n.kind == "gru" and q.info["reset_after"] and name == "h":
                    bx.append(b)
                    bh.append(rb)  # inside r * (U h + rb)
                else:
                    bx.append(b + rb)
                    bh.append(np.zeros(U))
                luts.setdefault(gt.activation, lut(gt.activation))
            q.info["acts"] = {name: g[name].activation for name in order}
            G = len(order)
            q.info["W"] = _arr(q, p, "Wq", "int32_t", _pack(np.concatenate(wrows)),
                               f"Keras layer '{n.keras_name}' ({n.keras_class}) kernel, int8 rows "
                               f"[gates {', '.join(order)} x units={U}][in={q.Fp}], one scale per gate and unit, "
                               "packed four to a word for kc_q_matvec")
            q.info["R"] = _pad4(G * U)
            if n.kind == "gru" and not q.info["reset_after"]:  # U_h multiplies r * h: a product of its own
                q.info["U"] = _arr(q, p, "Uq", "int32_t", _pack(np.concatenate(urows[:2])),
                                   f"recurrent_kernel of gates z, r, int8 rows [2 x units={U}][{q.info['Up']}], packed")
                q.info["Uh"] = _arr(q, p, "Uhq", "int32_t", _pack(urows[2]),
                                    f"recurrent_kernel of gate h, int8 rows [units={U}][{q.info['Up']}], packed")
                q.info["Rzr"], q.info["Rh"] = _pad4(2 * U), _pad4(U)
            else:
                q.info["U"] = _arr(q, p, "Uq", "int32_t", _pack(np.concatenate(urows)),
                                   f"recurrent_kernel, int8 rows [gates {', '.join(order)} x units={U}]"
                                   f"[{q.info['Up']}], packed four to a word")
            mxq, q.info["Sx"] = multipliers(mx, where)
            mhq, q.info["Sh"] = multipliers(mh, where)
            q.info["fnx"], q.info["fnh"] = rescale_fn(mx, q.Fp, xlim), rescale_fn(mh, q.info["Up"], alim)
            q.info["mx"] = _arr(q, p, "mx", "int32_t", mxq, f"x-part rescale to Q3.12 [{G * U}] (shift {q.info['Sx']})")
            q.info["mh"] = _arr(q, p, "mh", "int32_t", mhq, f"h-part rescale to Q3.12 [{G * U}] (shift {q.info['Sh']})")
            q.info["bx"] = _arr(q, p, "bx", "int32_t", _bias(np.concatenate(bx) * 2 ** GATE_FRAC),
                                "bias in Q3.12 (both biases where they add)")
            if n.kind == "gru" and q.info["reset_after"]:
                q.info["bh"] = _arr(q, p, "bh", "int32_t",
                                    _bias(np.concatenate(bh) * 2 ** GATE_FRAC),
                                    "recurrent bias of the candidate gate in Q3.12 (reset_after: r * (U h + rb))")
            if n.kind == "lstm":
                cmax = ranges[f"cell:{n.cid}"]
                frac = 15
                while frac > 4 and cmax * 2.0 * 2 ** frac > 32767:
                    frac -= 1
                q.info["cfrac"] = frac
        qnodes.append(q)
        scale = q.out_scale
    return QModel(ir=ir, nodes=qnodes, in_scale=in_scale, calib_steps=int(x.shape[0] * x.shape[1]),
                  luts=luts, ranges=ranges, in_bits=in_bits, mode=mode, warmup=delay)


# ---------------------------------------------------------------- C

def _c_values(ctype: str, values: np.ndarray) -> str:
    if ctype == "float":
        from .ir import c_float

        items = [c_float(float(v)) for v in values]
    else:
        items = [str(int(v)) for v in values]
    lines, line = [], []
    for it in items:
        line.append(it)
        if len(line) == 16:
            lines.append(", ".join(line))
            line = []
    if line:
        lines.append(", ".join(line))
    return ",\n    ".join(lines) if lines else "0"


def _c_number(v: float) -> str:
    """A float C literal of v in %.9g ("1.0f", never the invalid "1f")."""
    text = "%.9g" % float(v)
    return text + ("" if any(ch in text for ch in ".en") else ".0") + "f"


def render_qheader(qm: QModel) -> str:
    from .codegen import MARKER, environment

    view_nodes = []
    for q in qm.nodes:
        view_nodes.append({"q": q, "n": q.node, "arrays": [(nm, ct, _c_values(ct, v), v.size, cm)
                                                           for nm, ct, v, cm in q.arrays]})
    tpl = environment().get_template("qmodel.h.j2")
    seq_nodes = [q for q in qm.nodes if not q.tail]
    h = hashlib.sha256()
    for q in qm.nodes:
        for _, _, v, _ in q.arrays:
            h.update(np.ascontiguousarray(v).tobytes())
    return tpl.render(qm=qm, ir=qm.ir, p=qm.name, P=qm.ir.NAME, nodes=view_nodes, seq=seq_nodes,
                      tail=[q for q in qm.nodes if q.tail], luts={k: _c_values("int16_t", v) for k, v in qm.luts.items()},
                      MARKER=MARKER, weights_hash=h.hexdigest(), out=qm.nodes[-1], in_scale=qm.in_scale,
                      tol=TOLERANCE[qm.mode], wide=qm.mode == "int16x8", cf=_c_number)


def qruntime_source() -> str:
    from ._resources import runtime_dir

    return (runtime_dir() / QRUNTIME_HEADER).read_text()


def write_qfiles(qm: QModel, out_dir: Path, force: bool = False) -> list[Path]:
    """Write NAME.h and kc_qruntime.h into out_dir (all or none)."""
    from .codegen import check_overwrite
    from .files import atomic_write_all

    out_dir = Path(out_dir)
    files = {out_dir / f"{qm.name}.h": render_qheader(qm), out_dir / QRUNTIME_HEADER: qruntime_source()}
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConversionError(f"cannot create output directory {out_dir}: {exc.strerror or exc}") from None
    for path in files:
        check_overwrite(path, force)
    try:
        atomic_write_all(files)
    except OSError as exc:
        raise ConversionError(f"cannot write into {out_dir}: {exc.strerror or exc}; nothing was written") from None
    return list(files)


# ---------------------------------------------------------------- cffi

_CDEF = """
typedef struct {{ ...; }} {p}_state;
void {p}_reset({p}_state *st);
void {p}_step({p}_state *st, const float *x, float *y);
int {p}_predict({p}_state *st, const float *x, int timesteps, float *y);
void {p}_layer_output(const {p}_state *st, int k, float *y);
"""


class CompiledQModel:
    """The integer C of a QModel, built with cffi (cached by content like every harness build)."""

    def __init__(self, qm: QModel, defines: Sequence[str] = ()):
        from .harness import build_extension

        self.qm = qm
        p = qm.name
        shim = f'#include "{p}.h"\n'
        sources = {f"{p}.h": render_qheader(qm), QRUNTIME_HEADER: qruntime_source()}
        self.lib, self.ffi = build_extension(shim, _CDEF.format(p=p), sources, defines)
        self._st = self.ffi.new(f"{p}_state *")
        self._fn = {k: getattr(self.lib, f"{p}_{k}") for k in ("reset", "step", "predict", "layer_output")}
        self.in_width = qm.ir.input_width
        self.out_width = qm.nodes[-1].W

    def _f32(self, a: np.ndarray) -> Any:
        return self.ffi.cast("float *", a.ctypes.data)

    def reset(self) -> None:
        self._fn["reset"](self._st)

    def step(self, x_t: Any) -> np.ndarray:
        x = np.ascontiguousarray(x_t, dtype=np.float32).reshape(self.in_width)
        y = np.zeros(self.out_width, np.float32)
        self._fn["step"](self._st, self._f32(x), self._f32(y))
        return y

    def predict(self, x: Any) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim == 2:
            x = x[None]
        out = []
        last = self.qm.nodes[-1]
        for s in x:
            if s.shape[0] <= self.qm.warmup:
                raise ValueError(f"predict: {s.shape[0]} timesteps; the model needs at least {self.qm.warmup + 1} "
                                 "(its padding='valid' Conv1D layers)")
            y = np.zeros(self.out_width if not last.node.out_seq else (s.shape[0] - last.delay, self.out_width),
                         np.float32)
            s = np.ascontiguousarray(s)
            self._fn["predict"](self._st, self._f32(s), s.shape[0], self._f32(y))
            out.append(y)
        return np.stack(out)

    def trace(self, x: Any) -> list[np.ndarray]:
        """Every layer's output at every timestep (vectors after the sequence part: at the last step),
        dequantized: what verify compares with Keras."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        B, T = x.shape[0], x.shape[1]
        outs = [np.zeros((B, T - q.delay, q.W) if q.node.out_seq else (B, q.W), np.float32) for q in self.qm.nodes]
        buf = np.zeros(max(q.W for q in self.qm.nodes), np.float32)
        for b in range(B):
            self.reset()
            for t in range(T):
                self.step(x[b, t])
                for k, q in enumerate(self.qm.nodes):
                    self._fn["layer_output"](self._st, k, self._f32(buf))
                    if q.node.out_seq:
                        if t >= q.delay:  # a padding='valid' Conv1D upstream: its output starts at step q.delay
                            outs[k][b, t - q.delay] = buf[:q.W]
                    elif t == T - 1:
                        outs[k][b] = buf[:q.W]
        return outs


def compile_quantized(model: Any, calibration: Any, name: Optional[str] = None,
                      defines: Sequence[str] = (), quantize: str = "int8") -> CompiledQModel:
    """Build the integer C of `model` (a keras.Model or a file) calibrated on `calibration`."""
    from .lower import build

    check_quantize(quantize, calibration)
    return CompiledQModel(quantize_model(build(model, name), calibration, quantize), defines)
