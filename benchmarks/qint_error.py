"""Error of the integer C (`--quantize int8`) against the float Keras model: the measurement behind the
default tolerance of `kerasc verify --quantize int8` (kerasc.qint.TOLERANCE; docs/integer.md "How the
default tolerance was chosen").

The models are those of benchmarks/quant_error.py (LSTM, GRU reset_after True/False, SimpleRNN, each with a
Dense(4, tanh) head; 4 to 128 units; weights N(0, 1.75 / sqrt(fan_in)), saturating but not chaotic) plus the
demo model; Bidirectional is left out (--quantize refuses it). Each is calibrated on 16 seeded N(0, 1)
sequences (the demo on examples/demo/calibration.npy), then the integer C and Keras run on 4 other seeded
sequences; printed per model: the largest |err| over every layer and timestep and the smallest atol that
passes at the default rtol.

    PYTHONPATH=. python benchmarks/qint_error.py [--timesteps 32] [--seeds 3] [--mode int8]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from quant_error import DEMO, FEATURES, needed_atol, random_models  # noqa: E402  (the same sweep)

CALIBRATION = DEMO.parent / "calibration.npy"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--timesteps", type=int, default=32)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--mode", default="int8")
    args = ap.parse_args()

    from kerasc.keras_bridge import import_keras, load_keras_model
    from kerasc.qint import TOLERANCE
    from kerasc.verify import verify

    keras = import_keras()
    atol, rtol = TOLERANCE[args.mode]
    models = [("demo (activity.keras)", load_keras_model(DEMO))]
    models += [(label, m) for label, m in random_models(keras, args.seeds) if not label.startswith("bilstm")]
    rng = np.random.default_rng(0)
    calib = rng.standard_normal((16, args.timesteps, FEATURES)).astype(np.float32)
    x = rng.standard_normal((4, args.timesteps, FEATURES)).astype(np.float32)
    demo_x = np.load(CALIBRATION)
    print(f"{len(models)} models, {args.timesteps} timesteps, batch 4, inputs N(0, 1); --quantize {args.mode}: "
          f"default atol {atol:g}, rtol {rtol:g}")
    print(f"  {'model':24} {'max |err|':>10} {'atol needed':>12} {'x margin':>9}")
    worst: dict[str, tuple[float, float]] = {}
    for label, model in models:
        if label.startswith("demo"):
            c, xx = demo_x, demo_x[-4:]
        else:
            c, xx = calib, x
        rep = verify(model, x=xx, quantize=args.mode, calibration=c)
        need = needed_atol(rep, rtol)
        margin = atol / need if need > 0 else float("inf")
        print(f"  {label:24} {rep.max_abs_err:10.2e} {need:12.2e} {margin:9.1f}{'' if rep.ok else '  FAIL'}",
              flush=True)
        kind = label.split("-")[0]
        e, n = worst.get(kind, (0.0, 0.0))
        worst[kind] = (max(e, rep.max_abs_err), max(n, need))
    print("\nworst per kind (max |err| / atol needed):")
    for kind, (e, n) in worst.items():
        print(f"  {kind:24} {e:.1e} / {n:.1e}")
    top = max(n for _, n in worst.values())
    print(f"default atol {atol:g} = {atol / max(top, 1e-30):.1f} x the worst atol needed")


if __name__ == "__main__":
    main()
