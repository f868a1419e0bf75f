"""Bad input gets a clear ConversionError naming the culprit, never a silently wrong header."""

import json
import zipfile

import numpy as np
import pytest

import kerasc
from kerasc import ConversionError


def _err(model, **kw) -> str:
    with pytest.raises(ConversionError) as exc:
        kerasc.build_ir(model, **kw)
    return str(exc.value)


def test_unsupported_layer_names_layer_class_and_supported(keras):
    m = keras.Sequential([keras.Input((None, 3)), keras.layers.LSTM(4, return_sequences=True),
                          keras.layers.Lambda(lambda t: t * 2, name="double_it")])
    msg = _err(m)
    assert "'double_it' (Lambda) is not supported" in msg and "supported layers:" in msg and "LSTM" in msg


def test_custom_activation_function_is_refused(keras):
    def my_act(t):
        return t * 0.5

    m = keras.Sequential([keras.Input((None, 3)), keras.layers.SimpleRNN(4, activation=my_act, name="rnn")])
    msg = _err(m)
    assert "layer 'rnn'" in msg and "activation" in msg and "tanh" in msg


@pytest.mark.parametrize("policy", ["mixed_float16", "float64"])
def test_dtype_policies_other_than_float32_are_refused(keras, policy):
    m = keras.Sequential([keras.Input((None, 3)), keras.layers.GRU(4, dtype=policy, name="g")])
    msg = _err(m)
    assert "layer 'g' (GRU)" in msg and policy in msg and "float32" in msg


def test_shared_layer_is_refused(keras):
    inp = keras.Input((None, 3))
    shared = keras.layers.LSTM(4, return_sequences=True, name="shared")
    out = keras.layers.Add(name="sum")([shared(inp), shared(inp)])
    msg = _err(keras.Model(inp, out))
    assert "'shared' (LSTM)" in msg and "called 2 times" in msg


def test_functional_chain_is_accepted(keras):
    inp = keras.Input((None, 3), name="x")
    h = keras.layers.GRU(4, return_sequences=True, name="g")(inp)
    out = keras.layers.Dense(2, name="d")(h)
    ir = kerasc.build_ir(keras.Model(inp, out, name="func"))
    assert [n.keras_name for n in ir.nodes] == ["g", "d"] and ir.name == "func"


def test_rnn_on_a_vector_is_refused(keras):
    m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Reshape((2, 2)),
                          keras.layers.UpSampling1D(2), keras.layers.LSTM(2)])
    msg = _err(m)
    assert "UpSampling1D" in msg  # the first unsupported layer is named


def test_weights_not_matching_the_config(keras, tmp_path):
    m = keras.Sequential([keras.Input((None, 3)), keras.layers.LSTM(4, name="l")])
    path = tmp_path / "m.keras"
    m.save(path)
    # rewrite config.json so the config claims 5 units while the weights have 4
    broken = tmp_path / "broken.keras"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(broken, "w") as dst:
        for item in src.namelist():
            data = src.read(item)
            if item == "config.json":
                cfg = json.loads(data)
                cfg["config"]["layers"][1]["config"]["units"] = 5
                data = json.dumps(cfg).encode()
            dst.writestr(item, data)
    msg = _err(broken)
    assert "layer 'l' (LSTM): weights do not match the config" in msg and "(3, 20)" in msg


def test_nan_weights_are_refused(keras):
    m = keras.Sequential([keras.Input((None, 2)), keras.layers.SimpleRNN(3, name="r")])
    w = m.get_weights()
    w[1][0, 0] = np.nan
    m.set_weights(w)
    msg = _err(m)
    assert "layer 'r'" in msg and "recurrent_kernel" in msg and "NaN" in msg


@pytest.mark.parametrize("content,needle", [
    (b"PK\x03\x04 truncated zip", "cannot read the .keras archive"),
    (b"hello world", "not a Keras model file"),
])
def test_broken_files(tmp_path, content, needle):
    path = tmp_path / "bad.keras"
    path.write_bytes(content)
    assert needle in _err(path)


def test_zip_without_weights(tmp_path):
    path = tmp_path / "empty.keras"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", "{}")
    assert "model.weights.h5 is missing" in _err(path)


@pytest.mark.parametrize("bad", ["int", "2fast", "my-model", "Model", "kc_thing", "a__b", ""])
def test_bad_names(keras, bad):
    m = keras.Sequential([keras.Input((None, 2)), keras.layers.SimpleRNN(3)])
    assert "--name" in _err(m, name=bad)


@pytest.mark.parametrize("raw,expected", [
    ("My Model-v2", "my_model_v2"), ("1st", "m_1st"), ("int", "int_model"), ("modèle/ünï", "modele_uni"),
    ("   ", "model"), ("kc_x", "kc_x_model"),
])
def test_sanitised_default_names(raw, expected):
    from kerasc.names import sanitize

    assert sanitize(raw) == expected


def _with_bad(model, index, where, value=np.nan):
    w = model.get_weights()
    w[index][where] = value
    model.set_weights(w)
    return model


@pytest.mark.parametrize("make,index,where,value,needles", [
    # LSTM kernel (F, 4U), gates i, f, c, o: column 6 of U=4 is gate f, unit 2
    (lambda k: k.layers.LSTM(4, name="l"), 0, (1, 6), np.nan,
     ["layer 'l' (LSTM): kernel (3, 16) has 1 NaN value(s) of 48", "row 1 (input feature 1), column 6",
      "gate f (forget), unit 2"]),
    # recurrent kernel (U, 4U): column 15 is gate o, unit 3; an Inf counted as such
    (lambda k: k.layers.LSTM(4, name="l"), 1, (2, 15), np.inf,
     ["recurrent_kernel (4, 16) has 1 Inf value(s)", "row 2 (unit of h_tm1 2), column 15", "gate o (output), unit 3"]),
    # GRU reset_after bias (2, 3U): row 1 is the recurrent bias; column 4 of U=3 is gate r, unit 1
    (lambda k: k.layers.GRU(3, name="g"), 2, (1, 4), np.nan,
     ["layer 'g' (GRU): bias (2, 9)", "row 1 (recurrent bias), column 4", "gate r (reset), unit 1"]),
    # GRU Keras 2 style bias (3U,): index 8 is gate h, unit 2
    (lambda k: k.layers.GRU(3, reset_after=False, name="g"), 2, (8,), -np.inf,
     ["bias (9,) has 1 Inf value(s)", "index 8", "gate h (candidate), unit 2"]),
    # Bidirectional: the backward layer's weights come after the forward layer's three
    (lambda k: k.layers.Bidirectional(k.layers.GRU(2, name="gg"), name="bi"), 4, (0, 1), np.nan,
     ["the backward direction of 'bi'", "recurrent_kernel (2, 6)", "gate z (update), unit 1"]),
    # Dense: no gates, row and column
    (lambda k: k.layers.Dense(2, name="d"), 0, (2, 1), np.nan,
     ["layer 'd' (Dense): kernel (3, 2) has 1 NaN value(s) of 6", "row 2 (input feature 2), column 1"]),
])
def test_nan_or_inf_weights_are_located(keras, make, index, where, value, needles):
    """A NaN or Inf weight is refused with where it is: gate, kernel or recurrent kernel, direction,
    the first row and column, and how many values."""
    m = keras.Sequential([keras.Input((None, 3)), make(keras)])
    msg = _err(_with_bad(m, index, where, value))
    for needle in needles:
        assert needle in msg, msg
    assert "\n" not in msg


def test_every_bad_value_is_counted(keras):
    m = keras.Sequential([keras.Input((None, 3)), keras.layers.SimpleRNN(2, name="r")])
    w = m.get_weights()
    w[0][:, 1] = np.nan
    w[0][0, 0] = np.inf
    m.set_weights(w)
    msg = _err(m)
    assert "kernel (3, 2) has 3 NaN, 1 Inf value(s) of 6; the first at row 0 (input feature 0), column 0" in msg, msg
