"""Keras 2's CuDNNLSTM and CuDNNGRU (GPU-only layers of Keras 2.0.9-2.3 and tf.keras 1.x),
converted to the LSTM / GRU(reset_after=True) they are equivalent to.

Their weights are kernel (F, nU), recurrent_kernel (U, nU) and bias (2nU,), gates in Keras'
order (LSTM i, f, c, o; GRU z, r, h), biases as [input biases (nU) | recurrent biases (nU)].
The CuDNN layers handed each gate's kernel to cuDNN flattened as stored, and cuDNN reads a
gate matrix as [units][inputs] row-major; so, per gate, the equivalent Keras kernel is
    input kernel     K[f][u] = A.flat[u * F + f]   (A = the stored (F, U) slice)
    recurrent kernel K = A.T
This is the conversion Keras itself applies when it loads CuDNN weights into LSTM/GRU
(tf_keras/src/saving/legacy/hdf5_format.py, _convert_rnn_weights). cuDNN's LSTM adds both
biases (their sum is LSTM's bias); its GRU applies the recurrent bias inside the reset product,
which is GRU(reset_after=True) with bias rows [input; recurrent]. Activations are fixed: tanh
and the exact sigmoid.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import ConversionError
from ..ir import Node
from ..load import LayerRecord
from . import Context, LayerDoc, Option, check_options, positive_int, register
from .recurrent import recurrent

_OPTIONS = (Option("units", doc="≥ 1"), Option("return_sequences", (True, False), default=False),
            Option("go_backwards", (True, False), default=False), Option("return_state", (False,), default=False),
            Option("stateful", (False,), default=False))
DOCS = {
    "CuDNNLSTM": LayerDoc(_OPTIONS + (Option("unit_forget_bias", doc="initializer only", default=True),),
                          "Keras 2 files; converted to the equivalent `LSTM` (tanh, sigmoid, biases summed)",
                          keras2_only=True),
    "CuDNNGRU": LayerDoc(_OPTIONS, "Keras 2 files; converted to the equivalent `GRU(reset_after=True)`",
                         keras2_only=True),
}


def _cudnn_input_kernel(kernel: np.ndarray, gates: int) -> np.ndarray:
    """Per gate, the (F, U) slice as cuDNN read it, back in Keras' x @ K layout."""
    F = kernel.shape[0]
    U = kernel.shape[1] // gates
    return np.hstack([kernel[:, g * U:(g + 1) * U].reshape(U, F).T for g in range(gates)])


def _cudnn_recurrent_kernel(rkernel: np.ndarray, gates: int) -> np.ndarray:
    U = rkernel.shape[0]
    return np.hstack([rkernel[:, g * U:(g + 1) * U].T for g in range(gates)])


@register("CuDNNLSTM", "CuDNNGRU", doc=DOCS)
def cudnn(rec: LayerRecord, ctx: Context) -> Node:
    cls = rec.class_name
    check_options(rec, DOCS[cls].known())
    units = positive_int(rec, "units")
    gates = 4 if cls == "CuDNNLSTM" else 3
    F = ctx.in_width
    expected = [(F, gates * units), (units, gates * units), (2 * gates * units,)]
    got = [tuple(np.shape(w)) for w in rec.weights]
    if got != expected:
        raise ConversionError(
            f"layer '{rec.name}' ({cls}): weights do not match the config: expected kernel {expected[0]}, "
            f"recurrent_kernel {expected[1]}, bias {expected[2]}; found {got}"
        )
    kernel, rkernel, bias = (np.asarray(w, dtype=np.float32) for w in rec.weights)
    weights = [_cudnn_input_kernel(kernel, gates), _cudnn_recurrent_kernel(rkernel, gates)]
    config = {"name": rec.config.get("name", rec.name), "units": units, "activation": "tanh",
              "recurrent_activation": "sigmoid", "use_bias": True,
              "return_sequences": rec.config.get("return_sequences", False),
              "go_backwards": rec.config.get("go_backwards", False)}
    if cls == "CuDNNLSTM":
        weights.append(bias[:gates * units] + bias[gates * units:])
        target = "LSTM"
    else:
        weights.append(bias.reshape(2, gates * units))
        config["reset_after"] = True
        target = "GRU"
    node = recurrent(LayerRecord(rec.name, target, config, weights), dataclasses.replace(ctx, legacy=False))
    return dataclasses.replace(node, keras_class=cls, summary=f"{cls} as {node.summary}")
