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
