"""Error of float16 and int8 kernels against the float Keras model: the measurement behind the
default tolerances of `kerasc verify --weights` (kerasc.quant.TOLERANCE; docs/quantization.md "How the default tolerances were chosen").

For the demo model and a sweep of random models (LSTM, GRU reset_after True/False, SimpleRNN,
Bidirectional(LSTM), each with a Dense head; 4 to 128 units; weights N(0, gain / sqrt(fan_in)),
saturating but not chaotic, as the parity tests use), it runs the quantized C and Keras on seeded
N(0, 1) inputs and prints, per weight type, the largest |err| over every layer and timestep and the
smallest atol that passes at the default rtol.

    PYTHONPATH=. python benchmarks/quant_error.py [--timesteps 32] [--seeds 3]
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np

DEMO = Path(__file__).resolve().parent.parent / "examples" / "demo" / "activity.keras"
KINDS = {
    "lstm": lambda k, u, **kw: k.layers.LSTM(u, **kw),
    "gru_ra": lambda k, u, **kw: k.layers.GRU(u, reset_after=True, **kw),
    "gru_rb": lambda k, u, **kw: k.layers.GRU(u, reset_after=False, **kw),
    "rnn": lambda k, u, **kw: k.layers.SimpleRNN(u, **kw),
    "bilstm": lambda k, u, **kw: k.layers.Bidirectional(k.layers.LSTM(u, **kw)),
}
UNITS = (4, 16, 64, 128)
FEATURES = 8


def random_models(keras, seeds: int):
    for kind, units, seed in itertools.product(KINDS, UNITS, range(seeds)):
        model = keras.Sequential([keras.Input((None, FEATURES)),
                                  KINDS[kind](keras, units, return_sequences=True),
                                  keras.layers.Dense(4, activation="tanh")])
        # GRU reset_after biases are (2, 3U): give every array of fewer than 3 rows the bias scale
        rng = np.random.default_rng(seed)
        model.set_weights([rng.normal(0, 1.75 / np.sqrt(w.shape[0]), w.shape).astype(np.float32)
                           if w.ndim == 2 and w.shape[0] > 2 else rng.normal(0, 0.5, w.shape).astype(np.float32)
                           for w in model.get_weights()])
        yield f"{kind}-u{units}-s{seed}", model


def needed_atol(report, rtol: float) -> float:
    """The smallest atol with which every compared value passes at this rtol."""
    need = 0.0
    for c, k in report.values:
        k64 = k.astype(np.float64)
        need = max(need, float(np.max(np.abs(c.astype(np.float64) - k64) - rtol * np.abs(k64))))
    return need


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--timesteps", type=int, default=32)
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()

    from kerasc.lower import build
    from kerasc.harness import compile_models
    from kerasc.quant import TOLERANCE, quantize
    from kerasc.keras_bridge import import_keras, load_keras_model
    from kerasc.verify import make_inputs, verify

    keras = import_keras()
    models = [("demo (activity.keras)", load_keras_model(DEMO))] + list(random_models(keras, args.seeds))
    base = [build(m, name=f"q{i}") for i, (_, m) in enumerate(models)]
    print(f"{len(models)} models, {args.timesteps} timesteps, batch 4, inputs N(0, 1)")
    for wtype in ("float32", "float16", "int8"):
        atol, rtol = TOLERANCE[wtype]
        irs = [quantize(ir, wtype) for ir in base]
        cms = compile_models(irs)
        worst_err, worst_need, worst_name = 0.0, 0.0, ""
        print(f"\n{wtype}: default atol {atol:g}, rtol {rtol:g}")
        print(f"  {'model':24} {'max |err|':>10} {'atol needed':>12} {'x margin':>9}")
        for (label, model), ir, cm in zip(models, irs, cms):
            x = make_inputs(ir, args.timesteps, 4, 0)
            rep = verify(model, x=x, atol=atol, rtol=rtol, compiled=cm)
            need = needed_atol(rep, rtol)
            margin = atol / need if need > 0 else float("inf")
            print(f"  {label:24} {rep.max_abs_err:10.2e} {need:12.2e} {margin:9.1f}{'' if rep.ok else '  FAIL'}")
            if need > worst_need:
                worst_need, worst_name = need, label
            worst_err = max(worst_err, rep.max_abs_err)
        print(f"  worst: max |err| {worst_err:.2e}; atol needed at rtol {rtol:g}: {worst_need:.2e} ({worst_name}); "
              f"default atol {atol:g} = {atol / max(worst_need, 1e-30):.1f} x that")


if __name__ == "__main__":
    main()
