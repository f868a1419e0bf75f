"""Keras models for the suite: random weights that saturate without chaos (DESIGN), Keras' own
output as ground truth (checked to be self-consistent first), and the small named models the
firmware and program tests build."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _is_bias(v) -> bool:
    name = getattr(v, "path", None) or v.name  # Keras 3 "lstm/lstm_cell/bias", tf_keras "lstm/lstm_cell/bias:0"
    return "bias" in name.rsplit("/", 1)[-1] or len(v.shape) < 2 or v.shape[0] == 0


def randomize(model, seed: int, gain: float = 1.75, bias_scale: float = 0.5):
    """Kernels N(0, gain / sqrt(fan_in)) (DESIGN: saturating but not chaotic), biases and vectors
    N(0, bias_scale) (a GRU reset_after's (2, 3 units) bias included). Works for Keras 3 and tf_keras
    models alike; returns the model."""
    rng = np.random.default_rng(seed)
    new = []
    for v in model.weights:
        shape = tuple(v.shape)
        if _is_bias(v):
            new.append(rng.normal(0, bias_scale, shape).astype(np.float32))
        else:
            new.append(rng.normal(0, gain / np.sqrt(shape[0]), shape).astype(np.float32))
    model.set_weights(new)
    return model


def trained_statistics(model, seed: int) -> None:
    """Give BatchNormalization and adapted Normalization layers statistics a trained layer can have
    (positive variances); randomize() draws every weight from a normal distribution."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        cls = type(layer).__name__
        if cls == "BatchNormalization":
            ws = layer.get_weights()
            ws[-1] = rng.uniform(0.3, 2.0, ws[-1].shape).astype(np.float32)
            layer.set_weights(ws)
        elif cls == "Normalization" and layer.weights:
            mean, var, count = layer.get_weights()
            layer.set_weights([mean, rng.uniform(0.3, 2.0, var.shape).astype(np.float32), count])
            if hasattr(layer, "finalize_state"):
                layer.finalize_state()  # Keras 3 computes with copies made here (loading a file calls it too)


def _numpy(t):
    return t.numpy() if hasattr(t, "numpy") else np.asarray(t)


def keras_truth(model, x: np.ndarray) -> np.ndarray:
    """Keras' output for x, checked to be self-consistent first (DESIGN: chaotic random RNNs
    disagree with themselves; such a model cannot judge the C)."""
    y = _numpy(model(x, training=False))
    y1 = _numpy(model(x[:1], training=False))
    assert np.allclose(y[:1], y1, atol=1e-6, rtol=1e-5), \
        f"Keras disagrees with itself (batch of {len(x)} vs 1) by {np.abs(y[:1] - y1).max():.2e}: weights too chaotic"
    assert np.all(np.isfinite(y)), "Keras produced non-finite outputs: pick milder weights"
    return y


def draw_inputs(model, case) -> np.ndarray:
    """N(0, 1) inputs for the model's one input: (batch, T, features) or (batch, features), seeded by the case."""
    rng = np.random.default_rng(case.seed)
    shape = model.inputs[0].shape
    if len(shape) == 3:
        return rng.standard_normal((case.batch, shape[1] or case.timesteps, shape[2])).astype(np.float32)
    return rng.standard_normal((case.batch, shape[1])).astype(np.float32)


def pad_masked(x: np.ndarray) -> np.ndarray:
    """Masked timesteps (Masking's mask_value 0) in rows 0-2: a padded tail, a padded head, and a hole."""
    x = x.copy()
    x[0, -3:] = 0.0
    x[1, :2] = 0.0
    x[2, 3] = 0.0
    return x


def truth_with_stable_weights(model, x, case):
    """Randomise with the case's gain; where Keras is not self-consistent at that gain (activations
    that amplify, e.g. a GRU gated by log_sigmoid), halve it, at most twice. Returns Keras' output."""
    gain, bias = case.gain, case.bias_scale
    for attempt in range(3):
        randomize(model, seed=1000 + case.seed, gain=gain, bias_scale=bias)
        try:
            return keras_truth(model, x)
        except AssertionError as exc:
            if attempt == 2:
                raise AssertionError(f"case {case.id}: {exc}") from None
            gain, bias = gain / 2, bias / 2


def _seq(k, T, feats, *layers):
    return k.Sequential([k.Input((T, feats)), *layers])


# name -> builder(keras) of the models the firmware and program tests run; each a different recurrent shape
MODELS = {
    "lstm_seq": lambda k: _seq(k, None, 3, k.layers.LSTM(6, return_sequences=True)),
    "gru_last": lambda k: _seq(k, None, 4, k.layers.GRU(5, reset_after=False), k.layers.Dense(3, activation="softmax")),
    "rnn_relu": lambda k: _seq(k, 9, 2, k.layers.SimpleRNN(7, activation="tanh", return_sequences=True),
                               k.layers.Dense(2, activation="relu")),
    "stacked": lambda k: _seq(k, None, 3, k.layers.LSTM(8, return_sequences=True), k.layers.GRU(6, return_sequences=True),
                              k.layers.SimpleRNN(4)),
    "backwards": lambda k: _seq(k, None, 3, k.layers.GRU(5, return_sequences=True, go_backwards=True),
                                k.layers.LSTM(4, go_backwards=True), k.layers.Dense(2)),
    "dense_vec": lambda k: k.Sequential([k.Input((5,)), k.layers.Dense(4, activation="tanh"), k.layers.Dense(2)]),
}


def make_model(keras, key: str, seed: int = 0):
    """A named test model with random weights N(0, 1.75/sqrt(fan_in)), named `key`."""
    model = MODELS[key](keras)
    model.name = key
    return randomize(model, seed=2000 + seed)


def save_model(keras, key: str, directory: Path, seed: int = 0) -> Path:
    path = Path(directory) / f"{key}.keras"
    make_model(keras, key, seed).save(path)
    return path
