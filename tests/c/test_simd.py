"""The optional vector path of kc_runtime.h (-DKC_SIMD, issues 6 and 7): for every weight type it gives
the same floats, bit for bit, as the portable loop built with the same compiler and flags, and agrees
with real Keras within the weight type's default tolerance; it compiles with -Werror as C (gcc, clang),
C++ (g++) and for Cortex-M (arm-none-eabi-gcc, where it is not meant to be used but must not break); on
AArch64 (aarch64-linux-gnu-gcc, NEON vectors, run under qemu-aarch64) it is bit-identical too.
The hardware half -> float conversion (clang + F16C, ARM -mfp16-format=ieee) equals numpy's on all
65536 half patterns.

One stacked model exercises every block size of the vector path and its scalar tail: LSTM(36) (with 8
lanes: a block of 4 vectors, 4 outputs in the tail; with 4 lanes: 8 vectors + 1), GRU(22,
reset_after=False) (2 single vectors + 6), SimpleRNN(9) and Dense(67) (8 vectors + 3). The C is the benchmark's timing program (kerasc.bench), which prints the last output with
%.9g, exact for float32."""


import numpy as np
import pytest

from tests.support.env import cpu_flags, require_tool
from tests.support.flags import M0, M4F, WARN
from tests.support.models import keras_truth, randomize
from tests.support.programs import run

WTYPES = ("float32", "float16", "int8")
T = 12


# (compiler, flags, host CPU flags needed, runner) builds compared with and without -DKC_SIMD; x86
# ISA-specific ones need the host CPU; AArch64 ones (NEON vectors, FMA, __fp16 half conversion: all
# on by default there) run under qemu-aarch64.
A64 = ("aarch64-linux-gnu-gcc", "qemu-aarch64")
BUILDS = [
    ("gcc", ["-O2"], set(), None),
    ("gcc", ["-Os"], set(), None),
    ("gcc", ["-O2", "-msse4.1"], {"sse4_1"}, None),
    ("gcc", ["-O2", "-mavx2", "-mf16c"], {"avx2", "f16c"}, None),
    ("gcc", ["-O2", "-msse4.1", "-mfma"], {"sse4_1", "fma"}, None),  # fused (KC_FMA): 4-lane vector FMA
    ("gcc", ["-O2", "-mavx2", "-mf16c", "-mfma"], {"avx2", "f16c", "fma"}, None),  # fused: 8-lane vector FMA
    ("clang", ["-O2", "-mavx2", "-mf16c", "-mfma"], {"avx2", "f16c", "fma"}, None),
    (A64[0], ["-O2", "-static"], set(), A64[1]),
    (A64[0], ["-O3", "-static"], set(), A64[1]),
]


@pytest.fixture(scope="module")
def stacked(keras, tmp_path_factory):
    """(model, x, Keras' last output, work dir)."""
    k = keras
    model = k.Sequential([k.Input((None, 5)), k.layers.LSTM(36, return_sequences=True),
                          k.layers.GRU(22, reset_after=False, return_sequences=True), k.layers.SimpleRNN(9),
                          k.layers.Dense(67)])
    randomize(model, seed=11)
    x = np.random.default_rng(12).standard_normal((2, T, 5)).astype(np.float32)
    y = keras_truth(model, x)[0]
    work = tmp_path_factory.mktemp("speed")
    x[:1].ravel().tofile(work / "x.bin")
    return model, x, y, work


def _build_and_run(model, wtype, work, cc, flags, tag, runner=None):
    from kerasc import bench
    from kerasc.lower import build
    from kerasc.quant import quantize

    ir = quantize(build(model, f"s_{wtype}"), wtype)
    exe = bench.build_timer(ir, work, tag, [*flags, *WARN], cc=cc)
    _, y = bench.run_timer(exe, "step", work / "x.bin", T, 1, 1, wrapper=[runner] if runner else None)
    return y, exe


def _a64_vector_counts(exe) -> tuple[int, int]:
    """(NEON 4-lane fused multiply-adds, moves into single vector lanes) in an AArch64 program."""
    import re

    text = run([require_tool("aarch64-linux-gnu-objdump"), "-d", exe]).stdout
    return len(re.findall(r"\bfmla\s+v\d+\.4s", text)), len(re.findall(r"\b(?:mov|ins)\s+v\d+\.s\[\d\],", text))


@pytest.mark.parametrize("wtype", WTYPES)
@pytest.mark.parametrize("build", BUILDS, ids=lambda b: f"{b[0].split('-')[0]}{''.join(b[1])}")
def test_vector_path_bit_identical_and_within_tolerance(stacked, wtype, build):
    from kerasc.quant import TOLERANCE

    cc, flags, needs, runner = build
    require_tool(cc)
    if runner:
        runner = require_tool(runner)
    missing = needs - cpu_flags()
    if missing:
        pytest.skip(f"this CPU lacks {sorted(missing)} (needed to run the {' '.join(flags)} build)")
    model, _, y_keras, work = stacked
    tag = f"{cc}{''.join(flags)}_{wtype}".replace("-", "")
    plain, plain_exe = _build_and_run(model, wtype, work, cc, flags, tag + "_plain", runner)
    simd, simd_exe = _build_and_run(model, wtype, work, cc, [*flags, "-DKC_SIMD"], tag + "_simd", runner)
    if "-mavx2" in flags or (cc == A64[0] and wtype != "float16"):
        # the vector path takes these weight types here: the machine code must differ
        assert simd_exe.read_bytes() != plain_exe.read_bytes(), "-DKC_SIMD did not change the program"
    if cc == A64[0] and wtype != "float16":
        # a different program is not enough (KC_SIMD also changes what is inlined): the vector blocks must
        # be NEON multiply-adds on whole vectors, not vectors assembled lane by lane (what GCC 12 made of
        # the fmaf lanes and of the int8 widening at -O3)
        (fmla, lanes), (_, plain_lanes) = _a64_vector_counts(simd_exe), _a64_vector_counts(plain_exe)
        assert fmla > 0 and lanes <= plain_lanes, \
            f"-DKC_SIMD: {fmla} NEON FMLA, {lanes} single-lane moves (the portable loop: {plain_lanes})"
    assert plain.shape == y_keras.shape
    assert np.array_equal(simd.astype(np.float32).view(np.uint32), plain.astype(np.float32).view(np.uint32)), \
        f"-DKC_SIMD changed the output: {simd} vs {plain}"
    atol, rtol = TOLERANCE[wtype]
    err = np.abs(simd - y_keras)
    assert np.all(err <= atol + rtol * np.abs(y_keras)), f"max error {err.max():.3e} vs Keras"


def test_vector_path_compiles_as_cpp_and_for_cortex_m(stacked):
    from kerasc.codegen import write_files
    from kerasc.lower import build
    from kerasc.quant import quantize

    model, _, _, work = stacked
    out = work / "cm"
    headers = []
    for wtype in WTYPES:
        ir = quantize(build(model, f"c_{wtype}"), wtype)
        write_files(ir, out, force=True)
        headers.append(out / f"c_{wtype}.h")
    tu = out / "all.c"
    tu.write_text("".join(f'#include "{h.name}"\n' for h in headers) + "int kc_speed_tu_is_not_empty;\n")
    gxx = require_tool("g++")
    run([gxx, "-x", "c++", "-std=c++11", "-O2", "-msse4.1", "-DKC_SIMD", *WARN, "-c", str(tu), "-o",
         str(out / "cpp.o")])
    arm = require_tool("arm-none-eabi-gcc")
    for cpu in (M4F, M0):
        run([arm, "-std=c99", "-O2", *cpu, "-DKC_SIMD", *WARN, "-c", str(tu), "-o", str(out / "arm.o")])


HALF_PROGRAM = r"""#include <stdio.h>
#include "kc_runtime.h"
int main(void)
{
    uint32_t i;
#ifndef KC_NATIVE_HALF
    return 3; /* the build was meant to take the native conversion */
#endif
    for (i = 0; i < 65536u; ++i) {
        float f = kc_half_to_float((uint16_t)i);
        uint32_t b;
        memcpy(&b, &f, sizeof b);
        fwrite(&b, sizeof b, 1, stdout);
    }
    return 0;
}
"""


@pytest.mark.parametrize("target", ["clang-f16c", "arm-fp16", "aarch64"])
def test_native_half_conversion_matches_numpy_on_every_pattern(tmp_path, target):
    """The hardware half -> float path (clang with F16C; ARM with -mfp16-format=ieee, under qemu-arm;
    AArch64, under qemu-aarch64)
    gives numpy's float16 -> float32 on all 65536 patterns (NaNs: NaN, same payload but the quiet bit)."""
    import subprocess

    from tests.support.env import ROOT
    from tests.support.flags import STRICT

    src = tmp_path / "h.c"
    src.write_text(HALF_PROGRAM)
    exe = tmp_path / "h"
    inc = f"-I{ROOT / 'runtime_c'}"
    if target == "clang-f16c":
        if "f16c" not in cpu_flags():
            pytest.skip("this CPU lacks F16C")
        run([require_tool("clang"), *STRICT, "-O2", "-mf16c", inc, str(src), "-o", str(exe)])
        cmd = [str(exe)]
    elif target == "arm-fp16":
        cc, qemu = require_tool("arm-linux-gnueabihf-gcc"), require_tool("qemu-arm")
        run([cc, *STRICT, "-O2", "-mfp16-format=ieee", "-mfpu=vfpv4", "-mfloat-abi=hard", "-static", inc, str(src),
             "-o", str(exe)])
        cmd = [qemu, str(exe)]
    else:  # AArch64: __fp16 is IEEE half by default
        cc, qemu = require_tool(A64[0]), require_tool(A64[1])
        run([cc, *STRICT, "-O2", "-static", inc, str(src), "-o", str(exe)])
        cmd = [qemu, str(exe)]
    got = np.frombuffer(subprocess.run(cmd, capture_output=True, check=True).stdout, dtype=np.uint32)
    want = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(np.float32).view(np.uint32)
    assert got.shape == (65536,)
    nan = np.isnan(want.view(np.float32))
    assert np.array_equal(got[~nan], want[~nan])
    assert np.all(np.isnan(got[nan].view(np.float32)))
    payload = np.uint32(0x807FFFFF) & ~np.uint32(0x400000)
    assert np.array_equal(got[nan] & payload, want[nan] & payload)
