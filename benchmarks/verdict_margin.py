"""The margin of verify's float32-limited verdict (kerasc.conditioning.FACTOR): on chaotic LSTM stacks of
correct ports, the largest ratio of the C's distance to exact over the float32 noise Keras sees, and of
Keras' over the noise the C sees, per layer, over all timesteps. A correct port must stay below FACTOR.

Models: those of benchmarks/exact_distance.py (LSTM(24) -> LSTM(24), recurrent weights N(0, s^2 / 24)),
60 timesteps, batch 2, N(0, 1) inputs.

usage (from the repository root, with the project's venv):
    python benchmarks/verdict_margin.py [--seeds N] [--scales 5,6,7]
"""

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402

import kerasc  # noqa: E402
from kerasc import conditioning  # noqa: E402
from exact_distance import F, T, chaotic  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--scales", default="5,6,7")
    args = ap.parse_args()
    from kerasc.keras_bridge import import_keras

    keras = import_keras()
    print(f"FACTOR {conditioning.FACTOR:g}, COPIES {conditioning.COPIES}, WINDOW {conditioning.WINDOW}")
    print(f"{'model':<14} {'layer':>5} {'C/noise':>8} {'Keras/noise':>11} {'verdict':<24}")
    worst = []
    for scale in (float(s) for s in args.scales.split(",")):
        for seed in range(args.seeds):
            m = chaotic(keras, scale, seed)
            x = np.random.default_rng(seed).standard_normal((2, T, F)).astype(np.float32)
            report = kerasc.verify(m, x=x)
            for pos, le in enumerate(report.exact.layers):
                a, b = float(le.ratio_ce_t.max()), float(le.ratio_ke_t.max())
                worst.append(max(a, b))
                print(f"{m.name:<14} {pos:>5} {a:>8.2f} {b:>11.2f} {report.outcome:<24}")
    print(f"largest ratio over {len(worst)} layer runs: {max(worst):.2f} (FACTOR {conditioning.FACTOR:g})")


if __name__ == "__main__":
    main()
