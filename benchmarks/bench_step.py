"""The speed benchmark of issue 6, in one run: the generated step and whole sequences against the
straightforward C yardstick (../shared/bench/ref_rnn.c, when present) and Keras.

Models: LSTM(64) F=32, GRU(64) F=32 (reset_after), LSTM(128) F=128 (weights N(0, 0.3), like
../shared/bench/yardstick.py) and the demo model examples/demo/activity.keras.
Builds: -O3 -march=native (the issue's reference), then -O2 and -Os without -march, then
-O3 -march=native and -Os with -DKC_SIMD (kc_runtime.h's optional vector path, bit-identical results).

With --weights float32,float16,int8 every model gets one row per weight type (kerasc.quant; the
error column is against the float Keras model).

usage (from the repository root, with the project's venv):
    python benchmarks/bench_step.py [--quick] [--out FILE.md] [--weights float32,float16,int8] [--only demo,LSTM(128)]
"""

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from kerasc import bench  # noqa: E402

LAYERS = [("LSTM(64) F=32", "lstm", 32, 64), ("GRU(64) F=32", "gru", 32, 64), ("LSTM(128) F=128", "lstm", 128, 128)]
DEMO = ROOT / "examples" / "demo" / "activity.keras"


def layer_models(keras):
    rng = np.random.default_rng(0)
    out = []
    for label, kind, F, H in LAYERS:
        layer = keras.layers.LSTM if kind == "lstm" else keras.layers.GRU
        m = keras.Sequential([keras.Input((None, F)), layer(H, return_sequences=True)])
        m.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in m.get_weights()])
        out.append((label, m))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="few repetitions, no callgrind (a smoke run)")
    ap.add_argument("--out", help="also write the tables to this Markdown file")
    ap.add_argument("--weights", default="float32", help="comma-separated weight types (default float32)")
    ap.add_argument("--only", help="comma-separated substrings of the model labels to run (default: all)")
    ap.add_argument("--builds", help="semicolon-separated compiler flag sets to compare instead of the default "
                    "builds, e.g. \"-O3 -march=native;-O3 -march=native -DKC_NO_FMA\" (callgrind counts only "
                    "the builds without -march=native)")
    args = ap.parse_args()
    import keras

    settings = bench.Settings.quick() if args.quick else bench.Settings()
    if args.builds:
        settings.flag_sets = {b.strip(): b.split() for b in args.builds.split(";") if b.strip()}
    models = layer_models(keras) + [("demo activity.keras", DEMO)]
    if args.only:
        models = [m for m in models if any(s in m[0] for s in args.only.split(","))]
    wtypes = args.weights.split(",")
    if wtypes != ["float32"]:
        models = [(f"{label} [{w}]", m, w) for label, m in models for w in wtypes]
    _, text = bench.run(models, settings)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
