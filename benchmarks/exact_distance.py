"""Accuracy goal of issue 16: how far kerasc's float32 C is from exact arithmetic, against how far Keras is.

Models: chaotic LSTM(24) -> LSTM(24) stacks (recurrent weights N(0, s^2 / 24), the construction of
tests/tools/test_conditioning.py) for several scales s and seeds, 60 timesteps, 32 sequences of N(0, 1)
inputs per model.
Exact: the same generated C built with -DKC_FLOAT=double. For each model, the distance to exact of the
mean over time of the last layer's output (the issue's "mean-pooled output"), largest over batch and units,
of: Keras (float32, TensorFlow CPU), kerasc's default build (fast tanh/sigmoid), kerasc -DKC_EXACT_MATH
(libm's tanhf/expf); the ratios to Keras' distance (each sequence's distance is one draw of rounding noise, so a model's figure
is the geometric mean over its 32 sequences); the share of sequences where the default build is closer; and
the geometric mean and the worst of each ratio over all models.
All builds are the harness's (-std=c99 -O2, no FMA contraction).

usage (from the repository root, with the project's venv):
    python benchmarks/exact_distance.py [--seeds N] [--scales 5,6,7]
"""

import argparse
import os
import platform
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

import kerasc  # noqa: E402
from kerasc.harness import DOUBLE_DEFINE, compiler_id, compile_models  # noqa: E402

T, U, F = 60, 24, 4


def chaotic(keras, scale: float, seed: int):
    L = keras.layers
    m = keras.Sequential([keras.Input((None, F)), L.LSTM(U, return_sequences=True), L.LSTM(U, return_sequences=True)],
                         name=f"chaos_{int(scale * 10)}_{seed}")
    rng = np.random.default_rng(seed)
    ws = []
    for w in m.get_weights():
        if w.ndim == 2 and w.shape[0] == U:
            ws.append((rng.standard_normal(w.shape) * scale / np.sqrt(U)).astype(np.float32))
        elif w.ndim == 2:
            ws.append((rng.standard_normal(w.shape) / np.sqrt(w.shape[0])).astype(np.float32))
        else:
            ws.append((rng.standard_normal(w.shape) * 0.5).astype(np.float32))
    m.set_weights(ws)
    return m


def gmean(v) -> float:
    return float(np.exp(np.mean(np.log(np.maximum(np.asarray(v, np.float64), 1e-300)))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--scales", default="5,6,7")
    ap.add_argument("--batch", type=int, default=32, help="sequences per model (default 32)")
    args = ap.parse_args()
    from kerasc.keras_bridge import import_keras

    keras = import_keras()
    print(f"CPU: {platform.processor() or platform.machine()}; compiler: {compiler_id().partition('|')[2]}; "
          f"Keras {keras.__version__}; {args.batch} sequences of {T} steps per model")
    print("distance: per sequence, the largest |mean over time of the output - exact| over units; per model, the "
          "geometric mean over its sequences")
    print(f"{'model':<14} {'Keras':>9} {'default':>9} {'exact-math':>10} {'default/K':>10} {'exact-math/K':>12} "
          f"{'default closer':>15}")
    ratios = {"default": [], "exact": []}
    for scale in (float(s) for s in args.scales.split(",")):
        for seed in range(args.seeds):
            m = chaotic(keras, scale, seed)
            ir = kerasc.build_ir(m)
            exact = compile_models([ir], defines=[DOUBLE_DEFINE])[0]
            default = compile_models([ir])[0]
            libm = compile_models([ir], defines=["KC_EXACT_MATH"])[0]
            x = np.random.default_rng(100 + seed).standard_normal((args.batch, T, F)).astype(np.float32)
            e = exact.predict(x).mean(axis=1)
            outs = (("keras", np.asarray(m(x, training=False))), ("default", default.predict(x)),
                    ("exact", libm.predict(x)))
            d = {name: np.abs(np.asarray(y, dtype=np.float64).mean(axis=1) - e).max(axis=1) for name, y in outs}
            g = {name: gmean(v) for name, v in d.items()}
            rd, re_ = g["default"] / g["keras"], g["exact"] / g["keras"]
            ratios["default"].append(rd)
            ratios["exact"].append(re_)
            closer = float(np.mean(d["default"] <= d["keras"]))
            print(f"{m.name:<14} {g['keras']:>9.2e} {g['default']:>9.2e} {g['exact']:>10.2e} {rd:>10.2f} {re_:>12.2f} "
                  f"{closer:>14.0%}")
    n = len(ratios["default"])
    print(f"over {n} models: default/K geometric mean {gmean(ratios['default']):.2f}, worst {max(ratios['default']):.2f}; "
          f"exact-math/K geometric mean {gmean(ratios['exact']):.2f}, worst {max(ratios['exact']):.2f} "
          f"(goal: default <= 1.0)")


if __name__ == "__main__":
    main()
