"""The double-precision build (-DKC_FLOAT=double, kc_runtime.h "scalar type"): the same generated C
with kc_float = double agrees with an independent float64 numpy implementation of LSTM, GRU (both
reset_after forms), SimpleRNN and Dense to 1e-12 on well-conditioned models; the default float build
of the same header still agrees with Keras (its arithmetic is unchanged: kc_float is float)."""

import numpy as np
import pytest

import kerasc
from tests.support.models import keras_truth, randomize
from tests.support.parity import assert_close
from tests.support.reference import np_gru, np_lstm, np_simple_rnn

T, B = 12, 2


def _w(layer):
    return [w.astype(np.float64) for w in layer.get_weights()]  # the float32 values, exactly


def _cases(keras):
    L = keras.layers
    cases = {}
    m = keras.Sequential([keras.Input((None, 3)), L.LSTM(7, return_sequences=True, name="l"),
                          L.Dense(4, activation="tanh", name="d")], name="dbl_lstm")
    cases["lstm"] = (m, lambda x: np.tanh(np_lstm(x, *_w(m.layers[0])) @ _w(m.layers[1])[0] + _w(m.layers[1])[1]))
    for ra in (True, False):
        g = keras.Sequential([keras.Input((None, 3)), L.GRU(6, return_sequences=True, reset_after=ra, name="g")],
                             name=f"dbl_gru{int(ra)}")
        cases[f"gru{int(ra)}"] = (g, lambda x, g=g, ra=ra: np_gru(x, *_w(g.layers[0]), reset_after=ra))
    s = keras.Sequential([keras.Input((None, 3)), L.SimpleRNN(5, return_sequences=True, name="s"),
                          L.Dense(2, name="d")], name="dbl_rnn")
    cases["rnn"] = (s, lambda x: np_simple_rnn(x, *_w(s.layers[0])) @ _w(s.layers[1])[0] + _w(s.layers[1])[1])
    for k, (model, _) in enumerate(cases.values()):
        randomize(model, seed=40 + k, gain=1.0)
    return cases


@pytest.fixture(scope="module")
def built(keras):
    from kerasc.harness import DOUBLE_DEFINE, compile_models

    cases = _cases(keras)
    irs = [kerasc.build_ir(m) for m, _ in cases.values()]
    doubles = compile_models(irs, defines=[DOUBLE_DEFINE])
    floats = compile_models(irs)
    x = np.random.default_rng(3).standard_normal((B, T, 3)).astype(np.float32)
    return cases, doubles, floats, x


@pytest.mark.parametrize("case", ["lstm", "gru1", "gru0", "rnn"])
def test_double_build_matches_float64_numpy(built, case):
    cases, doubles, _, x = built
    model, ref = cases[case]
    cm = doubles[list(cases).index(case)]
    assert cm.scalar == "double"
    y = cm.predict(x)
    assert y.dtype == np.float64
    want = ref(x.astype(np.float64))
    assert np.abs(y - want).max() <= 1e-12, f"{case}: double build vs float64 numpy {np.abs(y - want).max():.2e}"
    # and it is a different computation from the float32 one (else the test would prove nothing)
    assert np.abs(y - keras_truth(model, x)).max() > 1e-12


@pytest.mark.parametrize("case", ["lstm", "gru1", "gru0", "rnn"])
def test_float_build_still_matches_keras(built, case):
    cases, _, floats, x = built
    model, _ = cases[case]
    cm = floats[list(cases).index(case)]
    assert cm.scalar == "float" and cm.predict(x).dtype == np.float32
    assert_close(cm.predict(x), keras_truth(model, x), case)


def test_double_build_streams_and_traces(built):
    """step() and trace() of the double build give what predict gives, in float64."""
    cases, doubles, _, x = built
    cm = doubles[0]
    y = cm.predict(x)
    _, layers = cm.trace(x)
    assert layers[-1].dtype == np.float64 and np.array_equal(layers[-1], y)
    cm.reset()
    steps = np.stack([cm.step(x[0, t]) for t in range(T)])
    assert np.array_equal(steps, y[0])


def test_kc_float_other_than_float_or_double_is_an_error(tmp_path):
    """-DKC_FLOAT=half must not compile silently as float."""
    import subprocess

    from tests.support.env import require_tool
    from kerasc.codegen import RUNTIME_HEADER, runtime_source

    cc = require_tool("gcc")
    (tmp_path / RUNTIME_HEADER).write_text(runtime_source())
    (tmp_path / "t.c").write_text('#include "kc_runtime.h"\nint main(void) { return 0; }\n')
    bad = subprocess.run([cc, "-std=c99", "-DKC_FLOAT=half", "-c", "t.c"], cwd=tmp_path, capture_output=True, text=True)
    assert bad.returncode != 0 and "KC_FLOAT must be float or double" in bad.stderr
    ok = subprocess.run([cc, "-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-DKC_FLOAT=double", "-c",
                         "t.c"], cwd=tmp_path, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
