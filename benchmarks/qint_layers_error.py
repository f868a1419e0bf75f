"""Error of the integer C (`--quantize int8` and `int16x8`) for the layers around the recurrent ones (Conv1D causal
and valid, Activation, ReLU, BatchNormalization, Rescaling, TimeDistributed(Dense)) against the float Keras model:
the figures of docs/integer.md "Conv1D and the per-timestep layers".

The models are those of tests/parity/test_qint_layers.py (random weights N(0, 1 / sqrt(fan_in)), biases N(0, 0.3),
BatchNormalization with trained-like statistics), one per seed; each is calibrated on 64 seeded N(0, 1) sequences
and compared on 4 others scaled by 0.8 (inside the calibrated range: beyond it values saturate). Printed: per Keras
class, over every model, seed, layer and timestep, the largest |err|, the smallest atol that passes at the default
rtol and the largest mean |err| of a layer, for both modes.

    PYTHONPATH=. python benchmarks/qint_layers_error.py [--timesteps 32] [--seeds 3]
"""

from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--timesteps", type=int, default=32)
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()

    from kerasc.keras_bridge import import_keras
    from kerasc.qint import QUANTIZE_TYPES, TOLERANCE
    from kerasc.verify import verify
    from tests.parity.test_qint_layers import KEYS, _model

    keras = import_keras()
    rng = np.random.default_rng(0)
    calib = rng.standard_normal((64, args.timesteps, 5)).astype(np.float32)
    # 0.8 x N(0, 1): inside the calibrated range. Unscaled, a few values of these 4 sequences exceed the
    # calibration's largest |x| (3.95 against 3.90), and the layers on the raw input (Rescaling with an offset,
    # Conv1D -> BatchNormalization -> relu) saturate at their calibrated ranges: errors up to 0.48 in both modes.
    x = (0.8 * rng.standard_normal((4, args.timesteps, 5))).astype(np.float32)
    worst: dict[tuple[str, str], tuple[float, float, float]] = {}
    for mode in QUANTIZE_TYPES:
        rtol = TOLERANCE[mode][1]
        for key in KEYS:
            for seed in range(args.seeds):
                rep = verify(_model(keras, key, seed), x=x, quantize=mode, calibration=calib)
                for row, (c, k) in zip(rep.layers, rep.values):
                    d = np.abs(c.astype(np.float64) - k)
                    need = float(np.max(d - rtol * np.abs(k)))
                    e, n, m = worst.get((row.keras_class, mode), (0.0, 0.0, 0.0))
                    worst[(row.keras_class, mode)] = (max(e, float(d.max())), max(n, need), max(m, float(d.mean())))
                print(f"  {mode:8} {key:12} seed {seed}: max |err| {rep.max_abs_err:.2e}{'' if rep.ok else '  FAIL'}",
                      flush=True)
    print(f"\nworst per Keras class over {len(KEYS)} models x {args.seeds} seeds, T = {args.timesteps} "
          "(max |err| / atol needed at rtol 0.05 / largest mean |err| of a layer):")
    classes = sorted({c for c, _ in worst})
    for cls in classes:
        cells = [f"{worst[(cls, m)][0]:.1e} / {worst[(cls, m)][1]:.1e} / {worst[(cls, m)][2]:.1e}"
                 for m in QUANTIZE_TYPES if (cls, m) in worst]
        print(f"  {cls:20} " + "   ".join(f"{m}: {c}" for m, c in zip(QUANTIZE_TYPES, cells)))


if __name__ == "__main__":
    main()
