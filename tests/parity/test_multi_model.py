"""Several models in one binary, and two independent instances of one model: a C program holds
an LSTM model and a GRU model, plus two states of the LSTM model fed different inputs with their
steps interleaved. Every stream must equal Keras' output on its own input, and the two instances
must not disturb each other (bit-identical to a run of each alone). Host gcc and ARM under qemu-arm."""

import numpy as np
import pytest

from tests.support.env import require_tool
from tests.support.flags import STRICT
from tests.support.models import keras_truth, make_model
from tests.support.parity import assert_close
from tests.support.programs import run

T = 11

PROGRAM = r"""
#include <stdio.h>
#include "lstm_seq.h"
#include "gru_last.h"

#define T NUM_STEPS

static const float xa[T][LSTM_SEQ_INPUT_SIZE] = { XA };
static const float xb[T][LSTM_SEQ_INPUT_SIZE] = { XB };
static const float xg[T][GRU_LAST_INPUT_SIZE] = { XG };

static void print(const char *tag, const float *v, int n)
{
    int j;
    printf("%s", tag);
    for (j = 0; j < n; ++j) {
        printf(" %.9g", (double)v[j]);
    }
    printf("\n");
}

int main(void)
{
    lstm_seq_state one, two, alone; /* two instances of one model, and a third run on its own */
    lstm_seq_scratch shared;        /* one scratch for all three: it holds nothing between calls */
    gru_last_state g; gru_last_scratch g_scr;
    float ya[LSTM_SEQ_OUTPUT_SIZE], yb[LSTM_SEQ_OUTPUT_SIZE], yg[GRU_LAST_OUTPUT_SIZE];
    float seq[T][LSTM_SEQ_OUTPUT_SIZE];
    int t;
    lstm_seq_reset(&one);
    lstm_seq_reset(&two);
    gru_last_reset(&g);
    for (t = 0; t < T; ++t) { /* interleaved: one, the other model, the second instance */
        lstm_seq_step(&one, &shared, xa[t], ya);
        gru_last_step(&g, &g_scr, xg[t], yg);
        lstm_seq_step(&two, &shared, xb[t], yb);
        print("a", ya, LSTM_SEQ_OUTPUT_SIZE);
        print("b", yb, LSTM_SEQ_OUTPUT_SIZE);
    }
    print("g", yg, GRU_LAST_OUTPUT_SIZE);
    lstm_seq_predict(&alone, &shared, &xb[0][0], T, &seq[0][0]);
    for (t = 0; t < T; ++t) {
        print("alone", seq[t], LSTM_SEQ_OUTPUT_SIZE);
    }
    return 0;
}
"""


def _c_rows(x):
    return ", ".join("{ " + ", ".join(f"{float(v):.9g}f" for v in row) + " }" for row in x)


@pytest.fixture(scope="module")
def program(tmp_path_factory, keras):
    import kerasc

    d = tmp_path_factory.mktemp("multi")
    lstm, gru = make_model(keras, "lstm_seq", seed=0), make_model(keras, "gru_last", seed=1)
    kerasc.convert(lstm, d)
    kerasc.convert(gru, d)
    rng = np.random.default_rng(7)
    xa, xb = rng.standard_normal((2, T, 3)).astype(np.float32)
    xg = rng.standard_normal((T, 4)).astype(np.float32)
    src = PROGRAM.replace("XA", _c_rows(xa)).replace("XB", _c_rows(xb)).replace("XG", _c_rows(xg))
    (d / "multi.c").write_text(src.replace("NUM_STEPS", str(T)))
    truth = {"a": keras_truth(lstm, np.stack([xa, xb]))[0], "b": keras_truth(lstm, np.stack([xa, xb]))[1],
             "g": keras_truth(gru, xg[None])[0]}
    return d, truth


def _parse(out):
    rows = {}
    for line in out.splitlines():
        tag, *vals = line.split()
        rows.setdefault(tag, []).append([float(v) for v in vals])
    return {k: np.array(v, dtype=np.float32) for k, v in rows.items()}


@pytest.mark.parametrize("target", ["host-gcc", "arm-qemu"])
def test_models_and_instances_are_independent(program, target, tmp_path):
    d, truth = program
    exe = tmp_path / "multi"
    if target == "host-gcc":
        run(["gcc", *STRICT, "-O2", f"-I{d}", d / "multi.c", "-o", exe, "-lm"])
        out = run([exe]).stdout
    else:
        cc, qemu = require_tool("arm-linux-gnueabihf-gcc"), require_tool("qemu-arm")
        run([cc, *STRICT, "-O2", "-static", f"-I{d}", d / "multi.c", "-o", exe, "-lm"])
        out = run([qemu, exe]).stdout
    rows = _parse(out)
    assert_close(rows["a"], truth["a"], "instance one vs Keras")
    assert_close(rows["b"], truth["b"], "instance two vs Keras")
    assert_close(rows["g"][0], truth["g"], "second model vs Keras")
    np.testing.assert_array_equal(rows["b"], rows["alone"])  # interleaving changed nothing
