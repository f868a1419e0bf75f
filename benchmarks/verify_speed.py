"""What the exact reference costs (issue 16): wall time of `kerasc verify` on the demo model, the default
(the C also built in double precision and run on 8 perturbed copies) against `--strict` (no double build),
as a user runs it: one `python -m kerasc verify` process each (TensorFlow start-up included), in one run.

Cold: a fresh extension cache for each process (every build compiled); warm: a cache both filled before
(the usual case when a model is verified again). The two are run alternately.

usage (from the repository root, with the project's venv):
    python benchmarks/verify_speed.py [--repeat N]
"""

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kerasc.harness import compiler_id  # noqa: E402

DEMO = ROOT / "examples" / "demo" / "activity.keras"


def run(cache: str, *extra: str) -> float:
    env = dict(os.environ, KERASC_CACHE_DIR=cache, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "kerasc", "verify", str(DEMO), "--quiet", *extra], env=env,
                       capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if p.returncode not in (0, 4):
        raise SystemExit(f"verify failed ({p.returncode}): {p.stdout}{p.stderr}")
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs of each (the minimum is printed)")
    args = ap.parse_args()
    cold = {"strict": [], "default": []}
    warm = {"strict": [], "default": []}
    with tempfile.TemporaryDirectory() as shared:
        run(shared, "--strict")
        run(shared)  # fill the warm cache
        for _ in range(args.repeat):
            for kind, extra in (("strict", ("--strict",)), ("default", ())):
                with tempfile.TemporaryDirectory() as fresh:
                    cold[kind].append(run(fresh, *extra))
                warm[kind].append(run(shared, *extra))
    print(f"kerasc verify {DEMO.name}: default (double build + 8 perturbed copies) vs --strict, "
          f"min of {args.repeat} processes each")
    print(f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; compiler: "
          f"{compiler_id().partition('|')[2]}")
    print(f"{'':<34} {'--strict s':>11} {'default s':>10} {'ratio':>7}")
    for what, d in (("cold cache (every build compiled)", cold), ("warm cache", warm)):
        a, b = min(d["strict"]), min(d["default"])
        print(f"{what:<34} {a:>11.2f} {b:>10.2f} {b / a:>6.2f}x")


if __name__ == "__main__":
    main()
