"""Conv1D and pooling on sequences (issue 4), against real Keras at every layer output and timestep.

- causal Conv1D with strides 1 (any kernel_size, dilation_rate, groups, activation, use_bias) runs in the
  timestep loop with a delay line in the state: predict, every layer, and streaming (NAME_step) agree with
  Keras, alone, stacked, before LSTM/GRU, after Masking (Keras 3 Conv1D drops the mask: so does kerasc);
- every other padding and stride, and MaxPooling1D/AveragePooling1D, make a time axis of another length
  (T' from the input's T in C): predict and every layer agree with Keras for several T, fixed and variable,
  and streaming is refused naming the layer;
- Conv1D kernels in float16 and int8 (`--weights`) within the default tolerance of the float Keras model;
- the generated C compiles with -Werror (gcc, clang, g++, arm-none-eabi-gcc) and runs standalone."""

import subprocess

import numpy as np
import pytest

from tests.support.env import require_tool
from tests.support.flags import CXX, M4F, STRICT
from tests.support.graphs import check_layers, check_predict, check_stream, GCase, prepare_graph
from tests.support.parity import assert_close
from kerasc.errors import ConversionError


def _seq(k, T, F, *layers):
    return k.Sequential([k.Input((T, F)), *layers])


def _c(k, filters, size, **kw):
    return k.layers.Conv1D(filters, size, **kw)


CAUSAL = [
    GCase("causal-k3-d2-relu-lstm", lambda k: _seq(k, None, 3, _c(k, 4, 3, padding="causal", dilation_rate=2,
                                                                   activation="relu"),
                                                   k.layers.LSTM(5, return_sequences=True), k.layers.Dense(2)),
          timesteps=9, seed=1),
    GCase("causal-stack-groups-nobias", lambda k: _seq(k, None, 6, _c(k, 6, 2, padding="causal", groups=3,
                                                                       activation="tanh"),
                                                       _c(k, 4, 3, padding="causal", dilation_rate=3, groups=2,
                                                          use_bias=False),
                                                       _c(k, 3, 1, padding="causal")), timesteps=11, seed=2),
    GCase("causal-k5-fixed-gru-last", lambda k: _seq(k, 8, 2, _c(k, 3, 5, padding="causal", activation="softmax"),
                                                     k.layers.GRU(4)), seed=3),
    GCase("causal-silu-functional", lambda k: (lambda i: k.Model(i, k.layers.SimpleRNN(3, return_sequences=True)(
        _c(k, 6, 2, padding="causal", activation="silu")(i))))(k.Input((None, 4))), timesteps=6, seed=4),
    GCase("masking-causal-lstm", lambda k: _seq(k, None, 3, k.layers.Masking(0.0),
                                                _c(k, 4, 3, padding="causal", activation="tanh"),
                                                k.layers.LSTM(4, return_sequences=True)),
          timesteps=8, batch=4, masked=True, seed=5),
    GCase("causal-T1", lambda k: _seq(k, 1, 2, _c(k, 3, 4, padding="causal", dilation_rate=2)), seed=6),
    # Keras 3 Conv1D drops the mask; Concatenate of a masked and an unmasked sequence then gives an
    # all-true mask (Keras 2: the AND of the masks), so the LSTM runs every step in Keras 3
    GCase("masking-concat-causal-lstm", lambda k: (lambda i: (lambda m: k.Model(i, k.layers.LSTM(3)(
        k.layers.Concatenate()([k.layers.Dense(4)(m), _c(k, 4, 3, padding="causal")(m)]))))(
        k.layers.Masking(0.0)(i)))(k.Input((None, 3))), timesteps=6, batch=4, masked=True, seed=8),
    # Keras pads every call with zeros (Conv1D has no state) while the stateful LSTM carries on: predict
    # clears the delay line but keeps the LSTM state
    GCase("causal-then-stateful-lstm", lambda k: k.Sequential([
        k.Input((None, 3), batch_size=3), _c(k, 4, 3, padding="causal", activation="tanh"),
        k.layers.LSTM(4, stateful=True, return_sequences=True)]), timesteps=6, stateful=True, gain=1.0, seed=7),
]

LENGTHS = (7, 8, 11)  # variable-length models are checked at each
WINDOW = [
    GCase("valid-k3-lstm-last", lambda k: _seq(k, None, 3, _c(k, 4, 3), k.layers.LSTM(3)), seed=10),
    GCase("same-k4-s2-gru", lambda k: _seq(k, None, 3, _c(k, 4, 4, padding="same", strides=2, activation="relu"),
                                            k.layers.GRU(3, return_sequences=True)), seed=11),
    GCase("same-k4-s1-even", lambda k: _seq(k, None, 2, _c(k, 3, 4, padding="same")), seed=12),
    GCase("same-k3-d2", lambda k: _seq(k, None, 2, _c(k, 3, 3, padding="same", dilation_rate=2)), seed=13),
    GCase("causal-s3", lambda k: _seq(k, None, 4, _c(k, 4, 3, padding="causal", strides=3, groups=2)), seed=14),
    GCase("valid-s2-fixed-then-same", lambda k: _seq(k, 9, 2, _c(k, 2, 2, strides=2),
                                                     _c(k, 3, 3, padding="same")), seed=15),
    GCase("valid-d2-after-lstm", lambda k: _seq(k, None, 2, k.layers.LSTM(4, return_sequences=True),
                                                _c(k, 3, 2, dilation_rate=2), k.layers.Dense(2)), seed=16),
    GCase("maxpool-valid", lambda k: _seq(k, None, 3, k.layers.MaxPooling1D(2), k.layers.LSTM(3)), seed=20),
    GCase("maxpool-same-s2-p3", lambda k: _seq(k, None, 3, k.layers.MaxPooling1D(3, strides=2, padding="same"))),
    GCase("avgpool-same-p3-s1", lambda k: _seq(k, None, 2, k.layers.AveragePooling1D(3, strides=1,
                                                                                      padding="same")), seed=21),
    GCase("avgpool-valid-p2-s3", lambda k: _seq(k, None, 2, _c(k, 3, 2, padding="causal"),
                                                k.layers.AveragePooling1D(2, strides=3),
                                                k.layers.GRU(2, return_sequences=True)), seed=22),
    GCase("conv-pool-conv-pool-lstm", lambda k: _seq(k, None, 3, _c(k, 4, 3, padding="same", activation="relu"),
                                                     k.layers.MaxPooling1D(2), _c(k, 4, 2, activation="relu"),
                                                     k.layers.AveragePooling1D(2, padding="same"),
                                                     k.layers.LSTM(3)), timesteps=11, seed=23),
    GCase("branches-same-axis", lambda k: (lambda i: k.Model(i, k.layers.Add()([
        _c(k, 3, 3, strides=2, name="ca")(i), _c(k, 3, 3, strides=2, name="cb")(i)])))(k.Input((None, 2))),
        seed=24),
]
CASES = CAUSAL + WINDOW
PREPARE = prepare_graph


def _variable(p):
    shape = p.model.inputs[0].shape
    return shape[1] is None


@pytest.mark.parametrize("case", CASES, ids=str)
def test_predict_matches_keras(prepared, case):
    check_predict(prepared[case.id], case.id)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_every_layer_every_timestep(prepared, case):
    assert check_layers(prepared[case.id], case.id) >= 1


@pytest.mark.parametrize("case", [c for c in WINDOW], ids=str)
def test_other_lengths(prepared, case):
    """T' is computed in C from T: other input lengths give Keras' output lengths and values."""
    p = prepared[case.id]
    if not _variable(p):
        assert p.cm.ir.fixed_length(p.cm.ir.tensors[p.cm.ir.outputs[0]].domain) is not None or \
            not p.cm.ir.output_seq
        return
    rng = np.random.default_rng(case.seed)
    for T in LENGTHS:
        x = rng.standard_normal((2, T, p.model.inputs[0].shape[2])).astype(np.float32)
        want = np.asarray(p.model(x, training=False))
        assert_close(p.cm.predict(x), want, f"{case.id} T={T}")


@pytest.mark.parametrize("case", CAUSAL, ids=str)
def test_causal_streams(prepared, case):
    p = prepared[case.id]
    assert p.cm.ir.causal, p.cm.ir.stream_note
    check_stream(p, case.id)


@pytest.mark.parametrize("case", WINDOW, ids=str)
def test_window_refuses_streaming(prepared, case):
    ir = prepared[case.id].cm.ir
    assert not ir.causal
    layer = next(n for n in ir.nodes if n.window)
    assert ir.stream_note.startswith(f"'{layer.keras_name}' ({layer.keras_class})"), ir.stream_note
    assert "NAME_step" not in ir.stream_note
    with pytest.raises(ConversionError, match=layer.keras_name):
        prepared[case.id].cm.step(np.zeros(ir.input_width, np.float32))


def test_stream_notes_name_the_reason(prepared):
    notes = {c.id: prepared[c.id].cm.ir.stream_note for c in WINDOW}
    assert "padding='same' reads future timesteps" in notes["same-k4-s1-even"]
    assert "padding='valid' reads future timesteps" in notes["valid-k3-lstm-last"]
    assert "strides > 1" in notes["causal-s3"]


def test_too_short_sequence_is_refused(prepared, tmp_path):
    """A valid convolution needs at least its span of timesteps: the harness and verify say so, naming the
    layer (the C returns -1: test_strict_c99_standalone)."""
    from tests.support.programs import kerasc

    p = prepared["valid-k3-lstm-last"]
    name = p.model.layers[0].name
    with pytest.raises(ValueError, match=rf"2 timesteps are too few for '{name}' \(Conv1D\), which leaves no"):
        p.cm.predict(np.zeros((1, 2, 3), np.float32))
    assert p.cm.predict(np.zeros((1, 3, 3), np.float32)).shape == (1, 3)
    path = tmp_path / "short.keras"
    p.model.save(path)
    r = kerasc("verify", path, "--timesteps", "2")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "2 timesteps are too few for model" in r.stderr and f"'{name}' (Conv1D) leaves no timestep" in r.stderr
    assert "Traceback" not in r.stderr


def test_masking_upstream_is_dropped_like_keras(prepared):
    """Keras 3 Conv1D does not support masking: the LSTM after it runs unmasked (masked steps are zeros)."""
    ir = prepared["masking-causal-lstm"].cm.ir
    lstm = next(n for n in ir.nodes if n.kind == "lstm")
    assert lstm.mask is None


# ---------------------------------------------------------------- float16 / int8 kernels
QUANT_MODELS = {
    "q_causal": lambda k: _seq(k, None, 4, _c(k, 6, 3, padding="causal", groups=2, activation="tanh"),
                               k.layers.LSTM(5, return_sequences=True)),
    "q_same": lambda k: _seq(k, None, 3, _c(k, 5, 3, padding="same", strides=2), k.layers.GRU(4)),
}


@pytest.mark.parametrize("wtype", ("float16", "int8"))
@pytest.mark.parametrize("name", QUANT_MODELS)
def test_quantized_conv_kernels(keras, name, wtype):
    import kerasc
    from tests.support.models import randomize

    model = QUANT_MODELS[name](keras)
    randomize(model, 77, 1.5)
    x = np.random.default_rng(3).standard_normal((3, 9, model.inputs[0].shape[2])).astype(np.float32)
    report = kerasc.verify(model, x=x, weights=wtype)
    assert report.ok, report.table()
    assert report.max_abs_err > 1e-6, "quantized kernels should change the outputs measurably"
    ir = kerasc.build_ir(model, "q", weights=wtype)
    conv = ir.nodes[0]
    assert {a.ctype for a in conv.arrays[:-1]} == {"uint16_t" if wtype == "float16" else "int8_t"}


# ---------------------------------------------------------------- compilers
MAIN_C = r"""
#include <stdio.h>
#include "tc_causal.h"
#include "tc_window.h"

int main(void);
int main(void)
{
    static float x[9][TC_CAUSAL_INPUT_SIZE], ya[9][TC_CAUSAL_OUTPUT_SIZE], yb[TC_WINDOW_OUTPUT_SIZE];
    static float work[TC_WINDOW_WORK_FLOATS(9)];
    tc_causal_state sa; tc_causal_scratch sa_scr;
    tc_window_state sb; tc_window_scratch sb_scr;
    int i, j;
    for (i = 0; i < 9; ++i) {
        for (j = 0; j < TC_CAUSAL_INPUT_SIZE; ++j) {
            if (scanf("%f", &x[i][j]) != 1) {
                return 2;
            }
        }
    }
    if (tc_causal_predict(&sa, &sa_scr, &x[0][0], 9, &ya[0][0]) != 0 || tc_window_predict(&sb, &sb_scr, &x[0][0], 9, yb, work) != 0) {
        return 3;
    }
    for (i = 0; i < 9 * TC_CAUSAL_OUTPUT_SIZE; ++i) printf("%.9g ", (double)(&ya[0][0])[i]);
    for (j = 0; j < TC_WINDOW_OUTPUT_SIZE; ++j) printf("%.9g ", (double)yb[j]);
    printf("\n");
    return tc_window_predict(&sb, &sb_scr, &x[0][0], 2, yb, work) == -1 ? 0 : 4; /* too short for the valid conv */
}
"""


@pytest.fixture(scope="module")
def generated(keras, tmp_path_factory):
    import kerasc
    from tests.support.models import randomize

    out = tmp_path_factory.mktemp("conv_gen")
    models = {
        "tc_causal": _seq(keras, None, 3, _c(keras, 4, 3, padding="causal", dilation_rate=2, groups=1),
                          _c(keras, 4, 2, padding="causal", groups=2), keras.layers.LSTM(3, return_sequences=True)),
        "tc_window": _seq(keras, None, 3, _c(keras, 4, 3, padding="same", strides=2),
                          keras.layers.MaxPooling1D(2, padding="same"), _c(keras, 3, 2),
                          keras.layers.AveragePooling1D(2, strides=1), keras.layers.GRU(3)),
    }
    for i, (name, m) in enumerate(models.items()):
        randomize(m, 50 + i, 1.5)
        kerasc.convert(m, out, name=name)
    (out / "main.c").write_text(MAIN_C)
    return out, models


@pytest.mark.parametrize("compiler", ["gcc", "clang"])
def test_strict_c99_standalone(generated, compiler, tmp_path):
    from tests.support.flags import STRICT

    cc = require_tool(compiler)
    out, models = generated
    exe = tmp_path / "main"
    subprocess.run([cc, *STRICT, "-O2", f"-I{out}", str(out / "main.c"), "-o", str(exe), "-lm"], check=True)
    x = np.random.default_rng(9).standard_normal((1, 9, 3)).astype(np.float32)
    res = subprocess.run([str(exe)], input=" ".join("%.9g" % v for v in x.ravel()), capture_output=True, text=True)
    assert res.returncode == 0, res
    got = np.array(res.stdout.split(), dtype=np.float32)
    want = np.concatenate([np.asarray(m(x, training=False)).ravel() for m in models.values()])
    assert_close(got, want, f"standalone ({compiler})")


def test_cpp_and_cortex_m(generated, tmp_path):
    out, _ = generated
    cxx = require_tool("g++")
    subprocess.run([cxx, *CXX, f"-I{out}", str(out / "main.c"), "-o", str(tmp_path / "main_cpp")], check=True)
    cc = require_tool("arm-none-eabi-gcc")
    src = tmp_path / "fw.c"
    src.write_text('#include "tc_causal.h"\n#include "tc_window.h"\n'
                   "float fw_run(const float *x, float *y, float *w);\n"
                   "float fw_run(const float *x, float *y, float *w) { tc_causal_state a; tc_causal_scratch a_scr; tc_window_state b; tc_window_scratch b_scr; "
                   "tc_causal_step(&a, &a_scr, x, y); tc_window_predict(&b, &b_scr, x, 9, y, w); return y[0]; }\n")
    subprocess.run([cc, *STRICT, "-Os", *M4F, f"-I{out}", "-c", str(src), "-o", str(tmp_path / "fw.o")], check=True)


def test_inspect_shows_derived_lengths_and_surveys_around_a_gap(keras, tmp_path):
    """inspect: T' for axes a layer made; a Conv1D after an unsupported layer is lowered on its own, its input
    width read from its kernel (kernel_size, in / groups, filters)."""
    from tests.support.programs import kerasc

    L = keras.layers
    m = keras.Sequential([keras.Input((None, 3)), L.Conv1D(4, 3, strides=2, name="c0"),
                          L.Conv1DTranspose(4, 3, name="gap"),
                          L.Conv1D(6, 2, padding="same", groups=2, name="c1"), L.LSTM(3, name="l")], name="survey")
    path = tmp_path / "survey.keras"
    m.save(path)
    r = kerasc("inspect", path, no_tf=True)
    assert r.returncode == 2, r.stdout + r.stderr
    rows = {line.split()[1]: line for line in r.stdout.splitlines() if line[:1].isdigit()}
    assert "(T, 3)" in rows["c0"] and "(T', 4)" in rows["c0"] and " ok " in rows["c0"]
    assert "NO [1]" in rows["gap"]
    assert " ok " in rows["c1"] and "(T', 6)" in rows["c1"] and "groups=2" in rows["c1"], rows["c1"]
    assert "cannot convert: 1 problem" in r.stdout
