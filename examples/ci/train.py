"""Train the example project's model: machine-vibration monitoring from a 3-axis accelerometer.

Synthetic signals at 200 Hz: a healthy machine (rotation tone + noise), an unbalanced rotor
(stronger tone at the rotation frequency) and a bearing fault (periodic impacts exciting a higher
resonance). An LSTM reads the samples as they arrive and, at every sample, a softmax names the
condition seen so far (the firmware reports it continuously).

    python train.py      # writes models/vibration.keras and data/reference.npz (held-out recordings)

Every retrain rewrites models/vibration.keras; tests/test_vibration_model.py re-proves the C.
"""

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras  # noqa: E402
import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
CLASSES = ["healthy", "unbalance", "bearing"]
RATE, T = 200.0, 40


def make_batch(rng, n):
    t = np.arange(T) / RATE
    x = np.zeros((n, T, 3), np.float32)
    y = rng.integers(0, len(CLASSES), n)
    for k in range(n):
        rot = rng.uniform(20, 30)  # rotation frequency, Hz
        phase = rng.uniform(0, 2 * np.pi)
        tone = (0.8 if y[k] == 1 else 0.2) * np.sin(2 * np.pi * rot * t + phase)
        impacts = np.zeros(T)
        if y[k] == 2:
            period = int(RATE / rng.uniform(35, 45))
            impacts[rng.integers(0, period)::period] = rng.uniform(0.8, 1.2)
            impacts = np.convolve(impacts, np.exp(-np.arange(6) / 2.0) * np.cos(np.arange(6) * 2.2))[:T]
        sig = np.stack([tone + impacts, 0.5 * np.roll(tone, 2) + 0.3 * impacts, 0.2 * tone], axis=1)
        x[k] = sig + rng.normal(0, 0.08, sig.shape)
    return x, y


def main():
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    x, y = make_batch(rng, 1500)
    xv, yv = make_batch(rng, 300)
    model = keras.Sequential([
        keras.Input((None, 3), name="accel"),
        keras.layers.LSTM(12, return_sequences=True, name="lstm"),
        keras.layers.Dense(len(CLASSES), activation="softmax", name="condition"),
    ], name="vibration")
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    per_step = lambda labels: np.repeat(labels[:, None], T, axis=1)  # noqa: E731
    model.fit(x, per_step(y), batch_size=50, epochs=15, validation_data=(xv, per_step(yv)), verbose=2)
    print("validation accuracy, last sample:", float(np.mean(np.argmax(model(xv)[:, -1], -1) == yv)))
    (HERE / "models").mkdir(exist_ok=True)
    (HERE / "data").mkdir(exist_ok=True)
    model.save(HERE / "models" / "vibration.keras")
    np.savez(HERE / "data" / "reference.npz", accel=xv[:8], labels=yv[:8])


if __name__ == "__main__":
    main()
