"""The custom-layer example end to end: a model with a layer class of its own, converted, verified and
self-tested by kerasc through a plugin (python examples/custom_layer/run.py [OUT_DIR]).

1. train.py's model: Masking -> LSTM(16, return_sequences) -> AttentionAverage (attention_average.py, the
   custom class) -> Dense(3, softmax), trained for a few seconds on variable-length sequences; saved as
   OUT/pulses.keras
2. kerasc inspect OUT/pulses.keras --plugin kerasc_attention_average.py
3. kerasc verify ... --plugin ...: the C against Keras at every layer and timestep (exit 0 = PASS)
4. kerasc convert ... --plugin ... --self-test, then the self-test built with -std=c99 -Wall -Wextra
   -Wpedantic -Werror and run: it returns 0 only when the C agrees with Keras' outputs it embeds
Without --plugin, kerasc refuses the model, naming the class and this extension point.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

HERE = Path(__file__).resolve().parent
PLUGIN = HERE / "kerasc_attention_average.py"


def kerasc(*args: object) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "kerasc", *map(str, args)]
    print("$ kerasc " + " ".join(str(a) for a in args), flush=True)
    return subprocess.run(cmd, text=True, capture_output=True)


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else HERE.parent.parent / "build" / "custom_layer"
    out.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(HERE))
    from train import train

    model_path, inputs_path = train(out)

    refused = kerasc("inspect", model_path)
    print(refused.stdout.splitlines()[-2] if refused.stdout else refused.stderr.strip())
    print(f"(exit {refused.returncode}: without the plugin kerasc does not know the class)\n")
    if refused.returncode == 0:
        return 1

    steps = [("inspect", model_path, "--plugin", PLUGIN),
             ("verify", model_path, "--plugin", PLUGIN, "--inputs", inputs_path, "-q"),
             ("convert", model_path, "--plugin", PLUGIN, "--self-test", "--force", "-o", out)]
    for args in steps:
        p = kerasc(*args)
        print(p.stdout + p.stderr)
        if p.returncode != 0:
            print(f"kerasc {args[0]} exited {p.returncode}")
            return 1
    cc = shutil.which(os.environ.get("CC", "cc")) or "gcc"
    exe = out / "pulses_selftest"
    build = [cc, "-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-O2", f"-I{out}",
             str(out / "pulses_selftest.c"), "-o", str(exe), "-lm"]
    print("$ " + " ".join(build))
    subprocess.run(build, check=True)
    p = subprocess.run([str(exe)], text=True, capture_output=True)
    print(p.stdout + p.stderr)
    print(f"self-test exit {p.returncode} ({'the C agrees with Keras' if p.returncode == 0 else 'MISMATCH'})")
    return p.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
