"""Integer inference (--quantize int8 and int16x8) of the layers around the recurrent ones: Conv1D (padding causal and
valid, strides 1, dilation), Activation, ReLU, BatchNormalization (per-feature and folded into a Dense), Normalization,
Rescaling, TimeDistributed(Dense) and the inference no-ops (Dropout, GaussianNoise). Every layer at every timestep
against the float Keras model within the default tolerance, in both modes; streaming through a padding='valid' Conv1D
(its warm-up); the DSP path bit-identical to the portable one; -Werror on every compiler; refusals that name the
layer, the option and what is supported."""

from __future__ import annotations

import numpy as np
import pytest

import kerasc
from kerasc import qint
from tests.support.models import randomize, trained_statistics
from tests.support.qint import compile_everywhere, dsp_portable_host_outputs

MODES = list(qint.QUANTIZE_TYPES)
PREFIX = {"int8": "ql", "int16x8": "ql16"}
NOOPS = ("Dropout", "GaussianNoise")


def _model(keras, key: str, seed: int):
    L = keras.layers
    inp = keras.Input((None, 5), name="x")
    if key == "conv_causal":  # two causal convolutions (the second dilated: its taps gathered) before a GRU
        h = L.Conv1D(8, 3, padding="causal", activation="relu", name="conv")(inp)
        h = L.Dropout(0.3, name="drop")(h)
        h = L.Conv1D(6, 2, padding="causal", dilation_rate=2, activation="tanh", name="dilated")(h)
        h = L.GRU(10, name="rnn")(h)
        y = L.Dense(3, activation="softmax", name="out")(h)
    elif key == "conv_valid":  # two valid convolutions (a warm-up of 2 + 4 steps), a sequence output
        h = L.Conv1D(8, 3, padding="valid", name="conv")(inp)
        h = L.BatchNormalization(name="bn")(h)
        h = L.Activation("relu", name="relu")(h)
        h = L.Conv1D(6, 3, padding="valid", dilation_rate=2, activation="sigmoid", name="dilated")(h)
        h = L.LSTM(8, return_sequences=True, name="rnn")(h)
        y = L.TimeDistributed(L.Dense(2), name="td")(h)
    elif key == "per_step":  # the per-feature layers between recurrent ones; a float softmax Activation at the end
        h = L.Rescaling(0.5, offset=0.1, name="rescale")(inp)
        h = L.Activation("softsign", name="softsign")(h)
        h = L.Dense(8, name="dense")(h)
        h = L.BatchNormalization(name="bn_folded")(h)  # folded into 'dense' (kerasc.lower)
        h = L.Activation("tanh", name="tanh")(h)
        h = L.GaussianNoise(0.1, name="noise")(h)
        h = L.SimpleRNN(10, return_sequences=True, name="rnn")(h)
        h = L.BatchNormalization(name="bn")(h)
        h = L.ReLU(max_value=0.8, name="relu6")(h)
        h = L.LSTM(6, name="summary")(h)
        h = L.Dense(4, name="logits")(h)
        y = L.Activation("softmax", name="out")(h)
    elif key == "conv_last":  # a Conv1D and a BatchNormalization as the output layers (dequantized to float)
        h = L.Normalization(mean=[0.3, -0.2, 0.0, 1.0, 0.5], variance=[2.0, 0.5, 1.0, 4.0, 1.5], name="norm")(inp)
        h = L.LSTM(8, return_sequences=True, name="rnn")(h)
        h = L.Conv1D(3, 2, padding="causal", name="conv")(h)
        y = L.BatchNormalization(name="bn")(h)
    else:
        raise KeyError(key)
    m = randomize(keras.Model(inp, y, name=f"ql_{key}"), seed=seed, gain=1.0, bias_scale=0.3)
    trained_statistics(m, seed)
    return m


def _data(seed: int, n: int = 6, T: int = 24) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, T, 5)).astype(np.float32)


def _calibration() -> np.ndarray:
    """More recordings than the test inputs (N(0, 1) both): Conv1D and Dense outputs on the raw input are
    unbounded, and a test value beyond the calibrated range saturates (docs/integer.md)."""
    return _data(7, n=64)


KEYS = ["conv_causal", "conv_valid", "per_step", "conv_last"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("key", KEYS)
def test_every_layer_every_timestep_within_the_default_tolerance(keras, key, mode):
    m = _model(keras, key, seed=KEYS.index(key))
    x = _data(100)
    report = kerasc.verify(m, x=x, quantize=mode, calibration=_calibration())
    assert report.ok, report.table()
    assert 0 < report.max_abs_err < qint.TOLERANCE[mode][0], report.table()
    compared = [r.name for r in report.layers]
    expect = [layer.name for layer in m.layers[1:] if type(layer).__name__ not in NOOPS and layer.name != "dense"]
    assert compared == expect, (compared, expect)  # 'dense' is compared as 'bn_folded', which it computes now
    # every timestep of Keras' own output is compared: (batch, T - the valid convolutions' spans + 1, width)
    km = keras.Model(m.inputs, m.output)
    assert report.values[-1][1].shape == tuple(km(x, training=False).numpy().shape)
    if report.agreement is not None:
        assert report.agreement >= 5 / 6, report.table()


def test_the_valid_convolutions_warm_up(keras):
    """padding='valid' shortens the time axis by span - 1: predict gives T - 6 steps (two convolutions of spans 3
    and 5), equal to Keras' and to streaming; step's output stays zero for the first 6 steps; fewer than 7 steps
    are refused (the C returns -1)."""
    m = _model(keras, "conv_valid", seed=1)
    cm = kerasc.compile(m, quantize="int8", calibration=_calibration())
    assert cm.qm.warmup == 6
    x = _data(3, n=1, T=12)
    y = cm.predict(x)
    ref = m(x, training=False).numpy()
    assert y.shape == ref.shape == (1, 6, 2)
    np.testing.assert_allclose(y, ref, atol=qint.TOLERANCE["int8"][0], rtol=qint.TOLERANCE["int8"][1])
    cm.reset()
    steps = np.stack([cm.step(x[0, t]) for t in range(12)])
    assert not steps[:6].any()
    np.testing.assert_array_equal(steps[6:], y[0])  # step t: the last output of predict(x[:t + 1]), the same integers
    with pytest.raises(ValueError, match="at least 7"):
        cm.predict(x[:, :6])
    assert cm.lib.ql_conv_valid_predict(cm._st, cm._f32(np.ascontiguousarray(x[0, :6])), 6,
                                        cm._f32(np.zeros(16, np.float32))) == -1


def test_streaming_through_causal_convolutions(keras):
    m = _model(keras, "conv_causal", seed=0)
    cm = kerasc.compile(m, quantize="int16x8", calibration=_calibration())
    x = _data(3, n=1, T=10)
    cm.reset()
    steps = [cm.step(x[0, t]) for t in range(10)]
    for t in (0, 3, 9):
        np.testing.assert_array_equal(steps[t], cm.predict(x[:, :t + 1])[0])
        np.testing.assert_allclose(steps[t], m(x[:, :t + 1], training=False).numpy()[0], atol=5e-2)


def test_short_calibration_is_refused(keras):
    m = _model(keras, "conv_valid", seed=1)
    with pytest.raises(kerasc.ConversionError, match="too short .* at least 7"):
        kerasc.compile(m, quantize="int8", calibration=_data(7, n=4, T=6))


@pytest.fixture(scope="module")
def headers(keras, tmp_path_factory):
    d = tmp_path_factory.mktemp("qint_layers")
    for k, key in enumerate(KEYS):
        for mode in MODES:
            kerasc.convert(_model(keras, key, seed=k), d, name=f"{PREFIX[mode]}_{key}", quantize=mode,
                           calibration=_calibration(), force=True)
    return d


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("key", KEYS)
def test_dsp_path_is_bit_identical_to_the_portable_one(headers, key, mode, tmp_path):
    """The convolutions' delay lines and gathered taps keep the widened copies the SMLAD product reads: the DSP
    build, the portable one (-DKC_Q_PORTABLE) under qemu-arm and the host's print the same bits."""
    outs = dsp_portable_host_outputs(headers, f"{PREFIX[mode]}_{key}", _data(9, n=1, T=12)[0], tmp_path)
    assert outs[0] == outs[1] == outs[2] and len(outs[0].split()) >= 6


def test_headers_are_clean_on_every_compiler(headers, tmp_path):
    names = [f"{PREFIX[mode]}_{k}" for mode in MODES for k in KEYS]
    src = tmp_path / "all.c"
    src.write_text("".join(f'#include "{n}.h"\n' for n in names) + "int kc_use(void);\nint kc_use(void)\n{\n"
                   + "".join(f"    static {n}_state s{i};\n" for i, n in enumerate(names))
                   + "    static float x[5 * 8], y[8 * 8];\n"
                   + "".join(f"    {n}_step(&s{i}, x, y);\n    (void){n}_predict(&s{i}, x, 8, y);\n"
                             for i, n in enumerate(names))
                   + "    return (int)y[0];\n}\n")
    compile_everywhere(src, headers, tmp_path)
    text = (headers / "ql_conv_valid.h").read_text()
    assert "QL_CONV_VALID_WARMUP_STEPS 6" in text and "Keras Conv1D.call (valid)" in text
    assert "has no output before input step 2" in text and "has no output before input step 6" in text


def _refused(keras, layers, shape=(None, 3)):
    return keras.Sequential([keras.Input(shape), *layers], name="qr")


@pytest.mark.parametrize("mode", MODES)
def test_unsupported_layers_and_options_are_named(keras, mode):
    L = keras.layers
    cases = [
        ([L.Conv1D(4, 3, padding="same", name="c_same"), L.LSTM(4)], "layer 'c_same' (Conv1D): padding='same'"),
        ([L.Conv1D(4, 3, strides=2, name="c_stride"), L.LSTM(4)], "layer 'c_stride' (Conv1D): padding='valid' with "
                                                                  "strides=2"),
        ([L.Conv1D(6, 3, groups=3, padding="causal", name="c_groups"), L.LSTM(4)], "groups=3"),
        ([L.Conv1D(4, 3, padding="causal", activation="gelu", name="c_gelu"), L.LSTM(4)], "activation 'gelu'"),
        ([L.LayerNormalization(name="ln"), L.LSTM(4)], "layer 'ln' (LayerNormalization): LayerNormalization is not "
                                                       "supported"),
        ([L.LeakyReLU(name="leaky"), L.LSTM(4)], "negative_slope=0.3"),
        ([L.ReLU(threshold=0.5, name="thr"), L.LSTM(4)], "threshold=0.5"),
        ([L.Activation("elu", name="a_elu"), L.LSTM(4)], "activation 'elu' is not supported with --quantize"),
        ([L.Softmax(name="sm"), L.LSTM(4)], "activation 'softmax' is not supported with --quantize " + mode
                                            + " before another layer"),
        ([L.ELU(name="elu_layer"), L.LSTM(4)], "layer 'elu_layer' (ELU) is not supported"),
        ([L.LSTM(4, return_sequences=True), L.MaxPooling1D(name="pool"), L.LSTM(4)], "layer 'pool' (MaxPooling1D) "
                                                                                      "is not supported"),
        ([L.LSTM(4, return_sequences=True), L.Activation("gelu", name="a_last")], "activation 'gelu' is not "
                                                                                  "supported with --quantize " + mode
                                                                                  + " as the last layer"),
    ]
    for layers, needle in cases:
        with pytest.raises(kerasc.ConversionError, match=f"--quantize {mode}") as e:
            kerasc.compile(_refused(keras, layers), quantize=mode, calibration=np.zeros((1, 8, 3), np.float32) + 0.5)
        assert needle in str(e.value) and "supported" in str(e.value).split(needle)[-1], str(e.value)


def test_int16x8_refuses_a_convolution_window_beyond_512_terms(keras):
    """kernel_size x padded input features int16 x int8 terms: 5 x 104 = 520 > 512 could leave int32."""
    L = keras.layers
    m = keras.Sequential([keras.Input((None, 3)), L.Dense(104, name="wide"),
                          L.Conv1D(4, 5, padding="causal", name="conv"), L.LSTM(4)], name="qw")
    calib = np.random.default_rng(0).standard_normal((1, 8, 3)).astype(np.float32)
    from kerasc.lower import build

    with pytest.raises(kerasc.ConversionError, match="layer 'conv' \\(Conv1D\\): 520 window terms"):
        qint.quantize_model(build(m), calib, "int16x8")
    qint.quantize_model(build(m), calib, "int8")
