"""Whole sequences against the streaming step (issue 21), in one run: NAME_predict (blocks of input
projections, kc_project) and NAME_step_block per timestep against T calls of NAME_step, beside the floor.

Floor of a sequence step: a bare read of the layer's recurrent kernels (what every step must read: h @ U
cannot be blocked) plus its input projections x @ W at the machine's FMA peak, both measured here in the
same program (the peak with 12 independent vector accumulators). Ratios, not times, are the result: each
figure is the best of R interleaved repetitions in one process.

Models: LSTM(64) F=32, GRU(64) F=32, LSTM(128) F=128 (weights N(0, 0.3), as bench_step.py), T=100.
Builds: -O3 -march=native and -O3 -march=native -DKC_SIMD (gcc).

usage (from the repository root, with the project's venv):
    python benchmarks/bench_sequence.py [--reps R] [--out FILE.md]
"""

import argparse
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

LAYERS = [("LSTM(64) F=32", "lstm", 32, 64), ("GRU(64) F=32", "gru", 32, 64), ("LSTM(128) F=128", "lstm", 128, 128)]
BUILDS = {"-O3 -march=native": ["-O3", "-march=native"],
          "-O3 -march=native -DKC_SIMD": ["-O3", "-march=native", "-DKC_SIMD"]}
T = 100

DRIVER = r"""
#include <stdio.h>
#include <time.h>
#include "%(p)s.h"

#define T %(T)d
static float x[T * %(F)d], y[T * %(H)d];
static %(p)s_state st;
static %(p)s_scratch scr;
volatile float sink;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef float v8 __attribute__((vector_size(32)));

#if defined(__FMA__)
#include <immintrin.h>
#define MAC(a, w, c) ((a) = (v8)_mm256_fmadd_ps((__m256)(a), (__m256)(w), (__m256)(c)))
#else
#define MAC(a, w, c) ((a) = (a) * (w) + (c))
#endif

/* FMA peak: 16 independent accumulators of 8 lanes, 128 multiply-adds a pass */
static double fma_peak(void)
{
    v8 a[16], w = {1.0001f, 1.0002f, 1.0003f, 1.0004f, 1.0005f, 1.0006f, 1.0007f, 1.0008f}, c = w * 0.5f;
    int i, k;
    double t0, t1, best = 1e9;
    float s = 0.0f;
    for (k = 0; k < 16; ++k) {
        a[k] = c * (float)k;
    }
    for (int r = 0; r < 5; ++r) {
        t0 = now();
        for (i = 0; i < 400000; ++i) {
            MAC(a[0], w, c); MAC(a[1], w, c); MAC(a[2], w, c); MAC(a[3], w, c);
            MAC(a[4], w, c); MAC(a[5], w, c); MAC(a[6], w, c); MAC(a[7], w, c);
            MAC(a[8], w, c); MAC(a[9], w, c); MAC(a[10], w, c); MAC(a[11], w, c);
            MAC(a[12], w, c); MAC(a[13], w, c); MAC(a[14], w, c); MAC(a[15], w, c);
        }
        t1 = now();
        if (t1 - t0 < best) best = t1 - t0;
    }
    for (k = 0; k < 16; ++k) {
        s += a[k][0];
    }
    sink = s;
    return 400000.0 * 128.0 / best; /* multiply-adds per second */
}

/* a bare read of the recurrent kernels, the bytes every step reads: 8-lane adds into 8 accumulators */
static double read_kernels(void)
{
    double best = 1e9;
    int r, i;
    for (r = 0; r < 200; ++r) {
        double t0 = now();
        v8 s[8] = {{0}}, v;
        int q;
%(reads)s
        {
            double t1 = now();
            for (q = 1; q < 8; ++q) s[0] += s[q];
            sink = s[0][0] + s[0][7];
            if (t1 - t0 < best) {
                best = t1 - t0;
            }
        }
    }
    return best;
}

int main(void)
{
    double bp = 1e9, bs = 1e9, bb = 1e9;
    int r, t;
    for (t = 0; t < T * %(F)d; ++t) {
        x[t] = (float)((t * 7919) %% 1000) / 1000.0f - 0.5f;
    }
    for (r = 0; r < %(R)d; ++r) {
        double t0 = now(), t1;
        %(p)s_predict(&st, &scr, x, T, y);
        t1 = now();
        if (t1 - t0 < bp) bp = t1 - t0;
        t0 = now();
        %(p)s_reset(&st);
        for (t = 0; t < T; ++t) {
            %(p)s_step(&st, &scr, x + t * %(F)d, y + t * %(H)d);
        }
        t1 = now();
        if (t1 - t0 < bs) bs = t1 - t0;
        t0 = now();
        %(p)s_reset(&st);
        %(p)s_step_block(&st, &scr, x, T, y);
        t1 = now();
        if (t1 - t0 < bb) bb = t1 - t0;
    }
    printf("%%.9g %%.9g %%.9g %%.9g %%.9g\n", bs / T, bp / T, bb / T, read_kernels(), fma_peak());
    return 0;
}
"""


def _models(keras):
    rng = np.random.default_rng(0)
    out = []
    for label, kind, F, H in LAYERS:
        layer = keras.layers.LSTM if kind == "lstm" else keras.layers.GRU
        m = keras.Sequential([keras.Input((None, F)), layer(H, return_sequences=True)])
        m.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in m.get_weights()])
        out.append((label, F, H, m))
    return out


def _reads(ir) -> str:
    lines = []
    for n in ir.nodes:
        for g in n.gates:
            size = int(np.prod(g.U.shape))
            lines.append(f"        for (i = 0; i + 64 <= {size}; i += 64) {{ for (q = 0; q < 8; ++q) {{ "
                         f"__builtin_memcpy(&v, {g.U.first} + i + 8 * q, sizeof v); s[q] += v; }} }}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=60, help="interleaved repetitions (best of; default 60)")
    ap.add_argument("--out", help="also write the table to this Markdown file")
    ap.add_argument("--block", type=int, help="predict_block for every model (default: kerasc's choice)")
    args = ap.parse_args()
    import keras

    import kerasc

    cc = "gcc"
    version = subprocess.run([cc, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for label, F, H, m in _models(keras):
            p = "seq" + "".join(ch for ch in label.lower() if ch.isalnum())
            kerasc.convert(m, d, name=p, force=True, predict_block=args.block)
            ir = kerasc.build_ir(m, p, predict_block=args.block)
            proj_fma = sum(len(n.gates) * int(n.options["units"]) * n.in_width for n in ir.nodes if n.recurrent)
            (d / f"{p}.c").write_text(DRIVER % {"p": p, "T": T, "F": F, "H": H, "R": args.reps, "reads": _reads(ir)})
            for bname, flags in BUILDS.items():
                exe = d / f"{p}_{len(rows)}"
                subprocess.run([cc, "-std=gnu99", *flags, f"-I{d}", str(d / f"{p}.c"), "-o", str(exe), "-lm"],
                               check=True)
                step, pred, block, read, peak = (float(v) for v in
                                                 subprocess.run([str(exe)], capture_output=True, text=True,
                                                                check=True).stdout.split())
                floor = read + proj_fma / peak
                rows.append((label, bname, ir.block_steps, step, pred, block, floor, peak))
    lines = [f"CPU: {cpu}; compiler: {version}; T={T}; best of {args.reps} interleaved repetitions", "",
             "| model | build | block | step us/t | predict us/t | step_block us/t | floor us/t | "
             "predict vs step | step_block vs step | predict vs floor | FMA peak GMAC/s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for label, bname, blk, step, pred, block, floor, peak in rows:
        lines.append(f"| {label} | {bname} | {blk} | {step * 1e6:.2f} | {pred * 1e6:.2f} | {block * 1e6:.2f} | "
                     f"{floor * 1e6:.2f} | {step / pred:.2f}x | {step / block:.2f}x | {pred / floor:.2f}x | "
                     f"{peak / 1e9:.1f} |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
