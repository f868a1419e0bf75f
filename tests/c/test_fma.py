"""Fused multiply-add in kc_runtime.h's gate products (docs/speed.md): KC_FMA is 1 exactly where the target
has a fast single-precision FMA (x86-64 with -mfma, Cortex-M4F hard float) and 0 elsewhere (x86-64 without
-mfma, Cortex-M0) or with -DKC_NO_FMA; the fused build really uses the FMA instruction; -DKC_NO_FMA gives
the machine code and the floats of the build without FMA; the fused results agree with real Keras within
each weight type's default tolerance. (tests/c/test_simd.py checks that -DKC_SIMD fuses alike: bit-identical
outputs with gcc and clang -mfma.)"""

import subprocess

import numpy as np
import pytest

from tests.support.env import cpu_flags, require_tool, ROOT
from tests.support.flags import M0, M4F, WARN
from tests.support.models import keras_truth, randomize
from tests.support.programs import run

RUNTIME = ROOT / "runtime_c"
T = 9

# (compiler, flags, expected KC_FMA)
TARGETS = [
    ("gcc", ["-O2"], 0),
    ("gcc", ["-O2", "-mfma"], 1),
    ("gcc", ["-O2", "-mfma", "-DKC_NO_FMA"], 0),
    ("gcc", ["-Os", "-mfma"], 0),  # x86 at -Os: measured slower fused (docs/speed.md)
    ("clang", ["-O2", "-mfma"], 1),
    ("clang", ["-O2"], 0),
    ("arm-none-eabi-gcc", M0, 0),
    ("arm-none-eabi-gcc", M4F, 1),
    ("arm-none-eabi-gcc", [*M4F, "-DKC_NO_FMA"], 0),
]


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: f"{t[0]}{''.join(t[1])}")
def test_kc_fma_is_set_where_the_target_has_fast_fma(target, tmp_path):
    cc, flags, expected = target
    require_tool(cc)
    tu = tmp_path / "t.c"
    tu.write_text('#include "kc_runtime.h"\n'
                  f"#if KC_FMA != {expected}\n#error KC_FMA is not {expected}\n#endif\n"
                  "int kc_fma_tu_is_not_empty;\n")
    run([cc, "-std=c99", *flags, *WARN, f"-I{RUNTIME}", "-c", tu, "-o", tmp_path / "t.o"])


@pytest.fixture(scope="module")
def model_and_truth(keras, tmp_path_factory):
    k = keras
    model = k.Sequential([k.Input((None, 6)), k.layers.LSTM(20, return_sequences=True), k.layers.GRU(13),
                          k.layers.Dense(7)])
    randomize(model, seed=21)
    x = np.random.default_rng(22).standard_normal((1, T, 6)).astype(np.float32)
    work = tmp_path_factory.mktemp("fma")
    x.ravel().tofile(work / "x.bin")
    return model, keras_truth(model, x)[0], work


def _build(model, wtype, work, flags, tag):
    from kerasc import bench
    from kerasc.lower import build
    from kerasc.quant import quantize

    ir = quantize(build(model, f"f_{wtype}"), wtype)
    exe = bench.build_timer(ir, work, tag, [*flags, *WARN], cc="gcc")
    _, y = bench.run_timer(exe, "step", work / "x.bin", T, 1, 1)
    dis = subprocess.run(["objdump", "-d", str(exe)], capture_output=True, text=True).stdout
    return y, dis


@pytest.mark.parametrize("wtype", ("float32", "float16", "int8"))
def test_fused_build_uses_fma_and_kc_no_fma_restores_the_plain_build(model_and_truth, wtype):
    from kerasc.quant import TOLERANCE

    require_tool("gcc")
    require_tool("objdump")
    missing = {"avx2", "fma"} - cpu_flags()
    if missing:
        pytest.skip(f"this CPU lacks {sorted(missing)} (needed to run the -mavx2 -mfma builds)")
    model, y_keras, work = model_and_truth
    base = ["-O2", "-mavx2"]
    plain, plain_dis = _build(model, wtype, work, base, f"{wtype}_plain")
    fused, fused_dis = _build(model, wtype, work, [*base, "-mfma"], f"{wtype}_fused")
    off, off_dis = _build(model, wtype, work, [*base, "-mfma", "-DKC_NO_FMA"], f"{wtype}_off")
    assert "vfmadd" not in plain_dis
    assert "vfmadd" in fused_dis, "-mfma build does not use the FMA instruction"
    assert "vfmadd" not in off_dis, "-DKC_NO_FMA build still fuses"
    assert np.array_equal(off.astype(np.float32).view(np.uint32), plain.astype(np.float32).view(np.uint32))
    atol, rtol = TOLERANCE[wtype]
    for y in (plain, fused):
        err = np.abs(y - y_keras)
        assert np.all(err <= atol + rtol * np.abs(y_keras)), f"max error {err.max():.3e} vs Keras"
