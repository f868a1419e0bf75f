"""Generated C is product code: strict warnings on gcc and clang, C++ with g++, Cortex-M with
arm-none-eabi-gcc; several models in one translation unit; a standalone program matches Keras."""

import re
import subprocess

import numpy as np
import pytest

from tests.support.env import require_tool
from tests.support.flags import CXX, STRICT
from tests.support.models import keras_truth, randomize
from tests.support.parity import assert_close



def _models(k):
    return {
        "causal_stack": k.Sequential([k.Input((None, 3)), k.layers.LSTM(5, return_sequences=True),
                                      k.layers.GRU(4, return_sequences=True, reset_after=False),
                                      k.layers.SimpleRNN(3), k.layers.Dense(2, activation="softmax")]),
        "backwards": k.Sequential([k.Input((None, 2)), k.layers.GRU(4, return_sequences=True, go_backwards=True),
                                   k.layers.Dense(3, use_bias=False)]),
        "vector_only": k.Sequential([k.Input((4,)), k.layers.Dense(3, activation="sparsemax")]),
    }


@pytest.fixture(scope="module")
def generated(keras, tmp_path_factory):
    import kerasc

    out = tmp_path_factory.mktemp("gen")
    models = _models(keras)
    for i, (name, m) in enumerate(models.items()):
        randomize(m, seed=i)
        kerasc.convert(m, out, name=name)
    main = out / "main.c"
    main.write_text(MAIN_C)
    return out, models


MAIN_C = r"""
#include <stdio.h>
#include "causal_stack.h"
#include "backwards.h"
#include "vector_only.h"

/* reads x for causal_stack (T=5) and backwards (T=5) and vector_only from stdin, prints outputs */
int main(void);
int main(void)
{
    static float xa[5][CAUSAL_STACK_INPUT_SIZE], xb[5][BACKWARDS_INPUT_SIZE], xc[VECTOR_ONLY_INPUT_SIZE];
    static float ya[CAUSAL_STACK_OUTPUT_SIZE], yb[5][BACKWARDS_OUTPUT_SIZE], yc[VECTOR_ONLY_OUTPUT_SIZE];
    static float work[BACKWARDS_WORK_FLOATS(5)];
    causal_stack_state sa; causal_stack_scratch sa_scr;
    backwards_state sb; backwards_scratch sb_scr;
    vector_only_state sc; vector_only_scratch sc_scr;
    float *all[3];
    int sizes[3], i, j;
    all[0] = &xa[0][0]; sizes[0] = 5 * CAUSAL_STACK_INPUT_SIZE;
    all[1] = &xb[0][0]; sizes[1] = 5 * BACKWARDS_INPUT_SIZE;
    all[2] = xc; sizes[2] = VECTOR_ONLY_INPUT_SIZE;
    for (i = 0; i < 3; ++i) {
        for (j = 0; j < sizes[i]; ++j) {
            if (scanf("%f", &all[i][j]) != 1) {
                return 2;
            }
        }
    }
    if (causal_stack_predict(&sa, &sa_scr, &xa[0][0], 5, ya) != 0 || backwards_predict(&sb, &sb_scr, &xb[0][0], 5, &yb[0][0], work) != 0
        || vector_only_predict(&sc, &sc_scr, xc, yc) != 0) {
        return 3;
    }
    for (j = 0; j < CAUSAL_STACK_OUTPUT_SIZE; ++j) printf("%.9g ", (double)ya[j]);
    for (j = 0; j < 5 * BACKWARDS_OUTPUT_SIZE; ++j) printf("%.9g ", (double)(&yb[0][0])[j]);
    for (j = 0; j < VECTOR_ONLY_OUTPUT_SIZE; ++j) printf("%.9g ", (double)yc[j]);
    printf("\n");
    return causal_stack_predict(&sa, &sa_scr, &xa[0][0], 0, ya) == -1 ? 0 : 4; /* T < 1 is refused */
}
"""


@pytest.mark.parametrize("compiler,extra", [
    ("gcc", []), ("gcc", ["-O3", "-march=native"]), ("clang", ["-O2"]), ("clang", ["-Os"]),
])
def test_strict_c99_and_runs_like_keras(generated, compiler, extra, tmp_path):
    cc = require_tool(compiler)
    out, models = generated
    exe = tmp_path / "main"
    subprocess.run([cc, *STRICT, *extra, f"-I{out}", str(out / "main.c"), "-o", str(exe), "-lm"], check=True)
    rng = np.random.default_rng(7)
    xs = [rng.standard_normal((1, 5, 3)), rng.standard_normal((1, 5, 2)), rng.standard_normal((1, 4))]
    xs = [x.astype(np.float32) for x in xs]
    stdin = " ".join("%.9g" % v for x in xs for v in x.ravel())
    res = subprocess.run([str(exe)], input=stdin, capture_output=True, text=True, check=True)
    got = np.array([float(v) for v in res.stdout.split()], dtype=np.float32)
    want = [keras_truth(m, x).ravel() for m, x in zip(models.values(), xs)]
    assert_close(got, np.concatenate(want), f"standalone C ({compiler} {' '.join(extra)})")


def test_compiles_as_cpp(generated, tmp_path):
    cxx = require_tool("g++")
    out, _ = generated
    subprocess.run([cxx, *CXX, f"-I{out}", str(out / "main.c"), "-o", str(tmp_path / "main_cpp")], check=True)


@pytest.mark.parametrize("cpu", [
    ["-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"],
    ["-mcpu=cortex-m0", "-mthumb", "-mfloat-abi=soft"],
])
def test_cortex_m_compile(generated, cpu, tmp_path):
    cc = require_tool("arm-none-eabi-gcc")
    out, _ = generated
    src = tmp_path / "fw.c"
    src.write_text('#include "causal_stack.h"\n#include "backwards.h"\n#include "vector_only.h"\n'
                   "float fw_run(const float *x, float *y);\n"
                   "float fw_run(const float *x, float *y) { causal_stack_state st; causal_stack_scratch st_scr; "
                   "causal_stack_predict(&st, &st_scr, x, 4, y); return y[0]; }\n")
    obj = tmp_path / "fw.o"
    subprocess.run([cc, *STRICT, "-Os", *cpu, f"-I{out}", "-c", str(src), "-o", str(obj)], check=True)
    nm = subprocess.run([cc.replace("gcc", "nm"), str(obj)], capture_output=True, text=True, check=True).stdout
    if "float-abi=hard" in " ".join(cpu):  # no double-precision helpers on a single-precision FPU
        assert not re.search(r"__aeabi_d(add|sub|mul|div|2f|f2d)|__aeabi_f2d", nm), nm


def test_no_double_heap_or_mutable_globals(generated):
    out, _ = generated
    for path in out.glob("*.h"):
        code = re.sub(r"/\*.*?\*/", "", path.read_text(), flags=re.S)
        # the one exception: the KC_FLOAT=double build (verify's exact reference), off by default
        code = re.sub(r"#if KC__IS\(KC_FLOAT\) == 2\n.*?\n#else\n", "", code, flags=re.S)
        code = re.sub(r'"[^"\n]*"', '""', code)  # and strings (the #error naming the two types)
        assert not re.search(r"\bdouble\b", code), f"{path.name} uses double"
        assert not re.search(r"\b(malloc|calloc|realloc|free)\s*\(", code), f"{path.name} uses the heap"
        for line in code.splitlines():  # every file-scope variable is `static const`
            if re.match(r"^static\s+(?!inline|const)\w", line):
                raise AssertionError(f"{path.name}: mutable static: {line}")
