"""Train the bundled demo model: activity recognition from a 3-axis accelerometer.

Synthetic but realistic signals at 50 Hz: idle (gravity + sensor noise), walking (~1.8 Hz gait),
running (~2.8 Hz, stronger impacts) and climbing stairs (slower gait with a vertical drift),
each with random phase, amplitude, orientation and noise. A GRU reads the samples as they
arrive and an LSTM summarises them; a softmax names the activity.

    python examples/demo/train.py     # writes activity.keras and held_inputs.npy beside this file
"""

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras  # noqa: E402
import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
CLASSES = ["idle", "walking", "running", "stairs"]
RATE, T = 50.0, 50


def make_batch(rng, n):
    t = np.arange(T) / RATE
    x = np.zeros((n, T, 3), np.float32)
    y = rng.integers(0, len(CLASSES), n)
    for k in range(n):
        freq, amp, drift = {0: (0.0, 0.0, 0.0), 1: (1.8, 0.35, 0.0), 2: (2.8, 0.9, 0.0), 3: (1.2, 0.3, 0.25)}[y[k]]
        freq *= rng.uniform(0.85, 1.15)
        phase = rng.uniform(0, 2 * np.pi)
        gait = amp * (np.sin(2 * np.pi * freq * t + phase) + 0.35 * np.sin(4 * np.pi * freq * t + 2 * phase))
        sig = np.stack([0.4 * gait, 0.25 * np.roll(gait, 3), 1.0 + gait + drift * t], axis=1)
        tilt = rng.normal(0, 0.15, (3, 3)) + np.eye(3)  # sensor orientation
        x[k] = sig @ tilt.T + rng.normal(0, 0.05, sig.shape)
    return x, y


def main():
    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(7)
    x, y = make_batch(rng, 3000)
    xv, yv = make_batch(rng, 400)
    model = keras.Sequential([
        keras.Input((None, 3), name="accel"),
        keras.layers.GRU(24, return_sequences=True, name="gru_features"),
        keras.layers.LSTM(16, name="lstm_summary"),
        keras.layers.Dense(len(CLASSES), activation="softmax", name="activity"),
    ], name="activity")
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=64, epochs=12, validation_data=(xv, yv), verbose=2)
    print("validation accuracy:", model.evaluate(xv, yv, verbose=0)[1])
    model.save(HERE / "activity.keras")
    np.save(HERE / "held_inputs.npy", xv[:16])


if __name__ == "__main__":
    main()
