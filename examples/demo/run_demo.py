"""`make demo`: convert the bundled model, build the C, prove it matches Keras, show the sizes.

1. kerasc.convert(activity.keras) -> build/demo/activity.h (+ kc_runtime.h)
2. build main.c (a streaming C program) with -std=c99 -Wall -Wextra -Wpedantic -Werror and run it
   on a held-out recording, next to Keras' prediction for the same recording
3. kerasc.verify on the held inputs: every layer, every timestep, C vs Keras
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402

import kerasc  # noqa: E402
from kerasc.verify import load_keras_model  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
MODEL = HERE / "activity.keras"
OUT = ROOT / "build" / "demo"


def main() -> int:
    x = np.load(HERE / "held_inputs.npy")
    paths = kerasc.convert(MODEL, OUT, force=True)
    header = paths[0]
    ir = kerasc.build_ir(MODEL)
    print(f"[1/3] converted {MODEL.relative_to(ROOT)} -> {header.relative_to(ROOT)}")

    cc = shutil.which("cc") or shutil.which("gcc")
    exe = OUT / "activity_stream"
    subprocess.run([cc, "-std=c99", "-O2", "-Wall", "-Wextra", "-Wpedantic", "-Werror", f"-I{OUT}",
                    str(HERE / "main.c"), "-o", str(exe), "-lm"], check=True)
    samples = "\n".join(" ".join(f"{v:.9g}" for v in row) for row in x[0]) + "\n"
    out = subprocess.run([str(exe)], input=samples, capture_output=True, text=True, check=True).stdout.strip()
    keras_probs = load_keras_model(MODEL)(x[:1], training=False).numpy()[0]
    c_probs = np.array([float(v) for v in out.split()[4:]])
    print(f"[2/3] built {exe.relative_to(ROOT)} with -Werror; streaming {x.shape[1]} samples of a held recording:")
    print(f"      C:     {out}")
    print(f"      Keras: {' '.join(f'{v:.9g}' for v in keras_probs)}  (max |diff| {np.abs(c_probs - keras_probs).max():.1e})")

    report = kerasc.verify(MODEL, x=x)
    print(f"[3/3] parity on {x.shape[0]} held recordings of {x.shape[1]} timesteps, every layer and timestep:\n")
    print(report.table())
    print(f"\nheader: {header}")
    print(f"flash (const weights): {ir.weight_bytes} bytes; RAM: {ir.ram_bytes} bytes ({ir.name}_state "
          f"{ir.state_bytes} + {ir.name}_scratch {ir.scratch_bytes}); "
          f"streaming: {'yes' if ir.causal else 'no'}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
