"""The example's model and data: which of three pulse shapes a variable-length recording (3 channels, 12-40
steps, zero-padded to 40) carries. Masking -> LSTM(16) -> AttentionAverage -> Dense(3, softmax), trained for a
few epochs (seeded; about ten seconds on a laptop core)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

T, F, CLASSES = 40, 3, 3


def data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n recordings: noise plus a pulse of class k on channel k at a random place; padded with zeros."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, T, F), np.float32)
    y = rng.integers(0, CLASSES, n)
    for i in range(n):
        length = int(rng.integers(12, T + 1))
        x[i, :length] = 0.3 * rng.standard_normal((length, F))
        at = int(rng.integers(0, length - 6))
        x[i, at:at + 6, y[i]] += np.hanning(6).astype(np.float32) * 2.0
    return x, y


def build(keras) -> object:
    from attention_average import keras_class

    inp = keras.Input((None, F), name="recording")
    h = keras.layers.Masking(0.0, name="masking")(inp)
    h = keras.layers.LSTM(16, return_sequences=True, name="lstm")(h)
    h = keras_class(keras)(name="attention")(h)
    return keras.Model(inp, keras.layers.Dense(CLASSES, activation="softmax", name="head")(h), name="pulses")


def train(out: Path) -> tuple[Path, Path]:
    """Train, save OUT/pulses.keras and 8 held recordings OUT/held.npy; return both paths."""
    import keras

    keras.utils.set_random_seed(7)
    model = build(keras)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = data(1024, seed=1)
    model.fit(x, y, epochs=6, batch_size=64, verbose=0)
    xt, yt = data(256, seed=2)
    acc = float(np.mean(np.argmax(model.predict(xt, verbose=0), axis=1) == yt))
    print(f"trained: accuracy {acc:.1%} on 256 held recordings")
    path = out / "pulses.keras"
    model.save(path)
    np.save(out / "held.npy", xt[:8])
    return path, out / "held.npy"
