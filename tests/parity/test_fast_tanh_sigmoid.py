"""The fast tanh/sigmoid of kc_runtime.h: measured maximum error over the float32 range (in C,
against a double-precision numpy reference), and parity with Keras of KC_EXACT_MATH builds."""

import subprocess

import numpy as np
import pytest

from tests.support.env import require_tool, ROOT
from tests.support.parity import assert_close, Case, prepare

# The bounds documented in runtime_c/kc_runtime.h (absolute error, every float32 input).
TANH_MAX_ABS_ERR = 3.9e-7
SIGMOID_MAX_ABS_ERR = 2.1e-7

EVAL_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include "kc_runtime.h"
/* usage: eval IN.bin OUT.bin N -> OUT = [tanh(x) for all x][sigmoid(x) for all x] */
int main(int argc, char **argv)
{
    long n = atol(argv[3]), i;
    float *x = malloc((size_t)n * sizeof(float)), *y = malloc((size_t)n * 2 * sizeof(float));
    FILE *f = fopen(argv[1], "rb");
    if (!x || !y || !f || fread(x, sizeof(float), (size_t)n, f) != (size_t)n) return 2;
    fclose(f);
    for (i = 0; i < n; ++i) y[i] = kc_act_tanh(x[i]);
    for (i = 0; i < n; ++i) y[n + i] = kc_act_sigmoid(x[i]);
    f = fopen(argv[2], "wb");
    if (!f || fwrite(y, sizeof(float), (size_t)(2 * n), f) != (size_t)(2 * n)) return 2;
    fclose(f);
    return 0;
}
"""


def _sweep_inputs() -> np.ndarray:
    """Every float32 bit pattern of [4, 16) (where the errors of tanh and sigmoid peak), every 509th pattern of the whole
    positive range up to +inf (all binades, ~4M values), every 4099th denormal and NaN (quiet and signalling
    payloads), the special values, then all their negatives."""
    dense = np.arange(0x40800000, 0x41800000, dtype=np.uint32)
    strided = np.arange(0, 0x7F800001, 509, dtype=np.uint32)
    payloads = np.concatenate([np.arange(1, 0x00800000, 4099), np.arange(0x7F800001, 0x80000000, 4099)])
    # inf, FLT_MAX, a denormal, NaNs
    special = np.array([0x7F800000, 0x7F7FFFFF, 1, 0x7FC00000, 0x7FFFFFFF], dtype=np.uint32)
    pos = np.concatenate([dense, strided, payloads.astype(np.uint32), special]).view(np.float32)
    return np.concatenate([pos, -pos])


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    done = {}

    def run(flags):
        if tuple(flags) not in done:
            done[tuple(flags)] = _evaluate(tmp_path_factory, flags)
        return done[tuple(flags)]

    return run


def _evaluate(tmp_path_factory, flags):
    cc = require_tool("gcc")
    work = tmp_path_factory.mktemp("act")
    (work / "eval.c").write_text(EVAL_C)
    exe = work / "eval"
    subprocess.run([cc, "-std=c99", *flags, f"-I{ROOT / 'runtime_c'}", str(work / "eval.c"), "-o", str(exe),
                    "-lm"], check=True)
    x = _sweep_inputs()
    x.tofile(work / "x.bin")
    subprocess.run([str(exe), str(work / "x.bin"), str(work / "y.bin"), str(len(x))], check=True)
    y = np.fromfile(work / "y.bin", dtype=np.float32).reshape(2, -1)
    return x, y[0], y[1]


def _errors(x, y_tanh, y_sig):
    xd = x.astype(np.float64)
    err_t = np.abs(y_tanh.astype(np.float64) - np.tanh(xd))
    with np.errstate(over="ignore"):
        sig = 0.5 + 0.5 * np.tanh(0.5 * xd)  # exact identity, no overflow for any input
    err_s = np.abs(y_sig.astype(np.float64) - sig)
    return err_t, err_s


FLAG_SETS = {"O2": ["-O2"], "O3-native": ["-O3", "-march=native"], "Os": ["-Os"]}


@pytest.mark.parametrize("flags", list(FLAG_SETS.values()), ids=list(FLAG_SETS))
def test_fast_activations_max_error_over_float32(evaluated, flags):
    x, y_tanh, y_sig = evaluated(flags)
    finite = np.isfinite(x)
    err_t, err_s = _errors(x[finite], y_tanh[finite], y_sig[finite])
    assert err_t.max() <= TANH_MAX_ABS_ERR, f"tanh: max abs error {err_t.max():.3e} at x={x[finite][err_t.argmax()]!r}"
    assert err_s.max() <= SIGMOID_MAX_ABS_ERR, f"sigmoid: max abs error {err_s.max():.3e} at x={x[finite][err_s.argmax()]!r}"
    # odd symmetry of tanh holds exactly; small inputs keep their relative precision (tanh(x) ~ x)
    n = len(x) // 2
    np.testing.assert_array_equal(y_tanh[:n][finite[:n]], -y_tanh[n:][finite[n:]])
    tiny = finite & (np.abs(x) < 1e-3) & (x != 0)
    rel = np.abs(y_tanh[tiny].astype(np.float64) / np.tanh(x[tiny].astype(np.float64)) - 1)
    assert rel.max() < 1e-6, f"tanh relative error near 0: {rel.max():.3e}"
    # infinities saturate, NaN propagates
    inf = np.isposinf(x)
    assert np.all(np.abs(y_tanh[inf] - 1) <= 6e-8) and np.all(np.abs(y_sig[inf] - 1) <= 6e-8)
    nan = np.isnan(x)
    assert nan.any() and np.all(np.isnan(y_tanh[nan])) and np.all(np.isnan(y_sig[nan]))


def test_tanh_clamp_forms_agree_bit_for_bit(evaluated):
    """kc_act_tanh clamps on the float (-Os) or on its bit pattern (other builds, so the loops vectorise):
    the outputs must be the same bits for every swept input, NaN included, in either build."""
    x, t_os, s_os = evaluated(FLAG_SETS["Os"])
    for name in ("O2", "O3-native"):
        _, t, s = evaluated(FLAG_SETS[name])
        np.testing.assert_array_equal(t.view(np.uint32), t_os.view(np.uint32), err_msg=f"tanh {name}")
        np.testing.assert_array_equal(s.view(np.uint32), s_os.view(np.uint32), err_msg=f"sigmoid {name}")


# ---------------------------------------------------------------- KC_EXACT_MATH parity

CASES = [
    Case("lstm", lambda k: k.Sequential([k.Input((None, 5)), k.layers.LSTM(16, return_sequences=True)]),
         timesteps=20, seed=1),
    Case("gru_ra", lambda k: k.Sequential([k.Input((None, 4)), k.layers.GRU(12, reset_after=True),
                                           k.layers.Dense(3, activation="sigmoid")]), timesteps=20, seed=2),
    Case("gru_rb", lambda k: k.Sequential([k.Input((None, 3)), k.layers.GRU(8, reset_after=False,
                                                                             return_sequences=True)]),
         timesteps=20, seed=3),
    Case("rnn_tanh", lambda k: k.Sequential([k.Input((None, 6)), k.layers.SimpleRNN(130, return_sequences=True)]),
         timesteps=9, seed=4),
]


@pytest.fixture(scope="module")
def exact(keras):
    return prepare(CASES, keras, defines=["KC_EXACT_MATH"])


@pytest.fixture(scope="module")
def fast(keras):
    return prepare(CASES, keras)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_exact_math_build_matches_keras(exact, fast, case):
    model, x, y, cm = exact[case.id]
    assert_close(cm.predict(x), y, f"{case.id} (KC_EXACT_MATH)")
    _, _, _, cm_fast = fast[case.id]
    y_fast = cm_fast.predict(x)
    assert_close(y_fast, y, f"{case.id} (fast activations)")
    # the macro really switches the implementation: the two builds differ in the last bits
    assert not np.array_equal(y_fast, cm.predict(x)), "KC_EXACT_MATH made no difference"
