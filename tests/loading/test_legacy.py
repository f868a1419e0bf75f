"""Models as users have them: HDF5 files saved by Keras 2 (tf_keras) and Keras 3, tf_keras `.keras`
archives, configs as older Keras 2 versions wrote them, and Keras 2's CuDNNLSTM / CuDNNGRU.

Ground truth is the Keras that saved each file (tf_keras for Keras 2 files), called eagerly on the
live model; kerasc reads only the file. A Keras 2 model must compute what it computed in Keras 2,
e.g. hard_sigmoid = clip(0.2 x + 0.5, 0, 1), not Keras 3's relu6(x + 3) / 6.

CuDNN layers cannot be built any more (they need TF 1.x and a GPU). Their files are written here
with h5py in the Keras 2.2-2.3 layout (model_config JSON + model_weights/<layer>/weight_names), and
the ground truth is a tf_keras LSTM / GRU(reset_after=True) that loads that very file with
load_weights(), i.e. through tf_keras' own CuDNN weight conversion, not through kerasc's.
"""

import json

import h5py
import numpy as np
import pytest

from tests.support.keras2_files import write_cudnn_h5
from tests.support.parity import assert_close, prepare_saved, SavedCase

from kerasc import ConversionError
from kerasc.lower import build

# Every name Keras 2 accepts as an activation, and the activation layers tf_keras accepts in its place.
K2_NAMES = ("linear", "tanh", "sigmoid", "hard_sigmoid", "relu", "relu6", "leaky_relu", "elu", "selu", "softplus",
            "softsign", "swish", "silu", "gelu", "exponential", "mish", "softmax", "log_softmax")
K2_LAYERS = ("LeakyReLU", "ELU", "ThresholdedReLU", "Softmax", "ReLU")


def _rewrite_config(path, edit):
    """Rewrite the model_config attribute of an .h5 file through edit(cfg) -> cfg."""
    with h5py.File(path, "r+") as h5:
        cfg = json.loads(h5.attrs["model_config"])
        h5.attrs["model_config"] = json.dumps(edit(cfg))


def _drop_key(layer_class, key):
    def edit(cfg):
        for lc in cfg["config"]["layers"]:
            if lc["class_name"] == layer_class:
                del lc["config"][key]
        return cfg
    return edit


def _as_keras20_sequential(cfg):
    """Keras 2.0/2.1: a Sequential config is the bare list of layers; GRU had no reset_after."""
    layers = [lc for lc in cfg["config"]["layers"] if lc["class_name"] != "InputLayer"]
    for lc in layers:
        lc["config"].pop("reset_after", None)
        lc["config"].pop("time_major", None)
    return {"class_name": "Sequential", "config": layers}


def _as_model_class(cfg):
    """Keras 2.2/2.3 and tf.keras < 2.4 called a functional model `Model`."""
    cfg["class_name"] = "Model"
    return cfg


def _cudnn_case(cid, cls, units, features, return_sequences, seed):
    def build_reference(tk):
        rnn = (tk.layers.LSTM(units, return_sequences=return_sequences, name="cu_dnnlstm_1") if cls == "CuDNNLSTM"
               else tk.layers.GRU(units, return_sequences=return_sequences, reset_after=True, name="cu_dnngru_1"))
        return tk.Sequential([tk.Input((None, features)), rnn, tk.layers.Dense(2, name="dense_1")])

    def save(model, path):
        write_cudnn_h5(path, cls, units, features, return_sequences, 2, seed)
        model.load_weights(str(path))  # tf_keras converts the CuDNN weights (hdf5_format._convert_rnn_weights)

    return SavedCase(cid, build_reference, save=save, seed=seed, timesteps=9)


# ------------------------------------------------------------------ the sweep

def _dense_act_case(i, act):
    def build(tk):
        a = tk.layers.LeakyReLU() if act == "LeakyReLU()" else act  # a layer object, saved with its config
        return tk.Sequential([tk.Input((4, 3)), tk.layers.Dense(5, activation=a)])

    return SavedCase(f"dense-{act}", build, seed=100 + i)


def _rnn_act_case(i, kind, act, ract=None):
    def build(tk):
        kw = {"activation": act}
        if ract is not None:
            kw["recurrent_activation"] = ract
        layer = getattr(tk.layers, kind)(4, return_sequences=True, **kw)
        return tk.Sequential([tk.Input((None, 3)), layer])

    return SavedCase(f"{kind}-{act}{'-' + ract if ract else ''}", build, seed=200 + i, gain=1.5)


CASES = [
    SavedCase("seq-lstm-hardsig", lambda tk: tk.Sequential([
        tk.layers.LSTM(5, recurrent_activation="hard_sigmoid", return_sequences=True, input_shape=(None, 3)),
        tk.layers.Dense(2, activation="hard_sigmoid")]), seed=1),
    SavedCase("seq-gru-ra", lambda tk: tk.Sequential([
        tk.Input((7, 3)), tk.layers.GRU(4), tk.layers.Dense(3, activation="softmax")]), seed=2),
    SavedCase("seq-gru-rb-back-hardsig", lambda tk: tk.Sequential([
        tk.Input((8, 2)), tk.layers.GRU(4, reset_after=False, recurrent_activation="hard_sigmoid",
                                        go_backwards=True, return_sequences=True)]), seed=3),
    SavedCase("fun-rnn-relu-gelu", lambda tk: tk.Model(*(lambda i: (i, tk.layers.Dense(2, activation="gelu")(
        tk.layers.SimpleRNN(6, activation="relu")(i))))(tk.Input((None, 3)))), seed=4),
    SavedCase("fun-model-class-lstm", lambda tk: tk.Model(*(lambda i: (i, tk.layers.Dense(2)(
        tk.layers.LSTM(3, return_sequences=True)(i))))(tk.Input((5, 2)))), patch=lambda p: _rewrite_config(
        p, _as_model_class), seed=5),
    SavedCase("keras20-list-config-gru", lambda tk: tk.Sequential([
        tk.layers.GRU(3, reset_after=False, recurrent_activation="hard_sigmoid", input_shape=(6, 2)),
        tk.layers.Dense(2)]), patch=lambda p: _rewrite_config(p, _as_keras20_sequential), seed=6),
    SavedCase("gru-ra-no-key", lambda tk: tk.Sequential([tk.Input((None, 3)), tk.layers.GRU(4)]),
              patch=lambda p: _rewrite_config(p, _drop_key("GRU", "reset_after")), seed=7),
    SavedCase("tfkeras-zip-lstm-hardsig", lambda tk: tk.Sequential([
        tk.Input((5, 3)), tk.layers.LSTM(4, recurrent_activation="hard_sigmoid", activation="hard_sigmoid")]),
        ext=".keras", seed=8),
    SavedCase("keras3-h5-gru-hardsig", lambda k: k.Sequential([
        k.Input((6, 3)), k.layers.GRU(4, recurrent_activation="hard_sigmoid", return_sequences=True),
        k.layers.Dense(2, activation="hard_sigmoid")]), framework="keras", seed=9),
    _cudnn_case("cudnn-lstm", "CuDNNLSTM", 5, 3, True, 10),
    _cudnn_case("cudnn-gru", "CuDNNGRU", 4, 3, False, 11),
    _rnn_act_case(0, "SimpleRNN", "hard_sigmoid"),
    _rnn_act_case(1, "SimpleRNN", "LeakyReLU"),
    _rnn_act_case(2, "LSTM", "ThresholdedReLU", "hard_sigmoid"),
    _rnn_act_case(3, "GRU", "softmax", "hard_sigmoid"),
] + [_dense_act_case(i, a) for i, a in enumerate(K2_NAMES + K2_LAYERS + ("LeakyReLU()",))]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    return prepare_saved(CASES, tmp_path_factory.mktemp("legacy"))


@pytest.mark.parametrize("case", CASES, ids=str)
def test_file_matches_the_keras_that_saved_it(prepared, case):
    model, x, y, cm, path = prepared[case.id]
    assert_close(cm.predict(x), y, case.id)
    if cm.ir.causal:  # streaming gives the same sequence
        cm.reset()
        steps = np.stack([cm.step(x[0, t]) for t in range(x.shape[1])])
        want = y[0] if cm.ir.output_seq else y[0][None, :]
        assert_close(steps if cm.ir.output_seq else steps[-1:], want, f"{case.id} streaming")


def test_activations_follow_the_saving_version(prepared):
    """The same name means what the saving Keras meant: Keras 2 and Keras 3 hard_sigmoid differ."""
    import keras
    import tensorflow as tf
    import tf_keras

    assert float(tf_keras.activations.hard_sigmoid(tf.constant(1.0))) == pytest.approx(0.7)
    assert float(keras.activations.hard_sigmoid(tf.constant(1.0))) == pytest.approx(4 / 6)
    k2 = prepared["seq-lstm-hardsig"][3].ir
    assert k2.keras_version.startswith("2.")
    assert k2.nodes[0].options["recurrent_activation"] == "hard_sigmoid_k2"
    assert k2.nodes[1].options["activation"] == "hard_sigmoid_k2"
    k3 = prepared["keras3-h5-gru-hardsig"][3].ir
    assert k3.keras_version.startswith("3.")
    assert k3.nodes[0].options["recurrent_activation"] == "hard_sigmoid"
    assert prepared["tfkeras-zip-lstm-hardsig"][3].ir.nodes[0].options["activation"] == "hard_sigmoid_k2"
    assert prepared["dense-LeakyReLU"][3].ir.nodes[0].options["activation"] == "leaky_relu_k2"
    assert prepared["dense-leaky_relu"][3].ir.nodes[0].options["activation"] == "leaky_relu"


def test_gru_reset_after_follows_the_file(prepared):
    assert prepared["keras20-list-config-gru"][3].ir.nodes[0].options["reset_after"] is False
    assert prepared["gru-ra-no-key"][3].ir.nodes[0].options["reset_after"] is True
    assert prepared["seq-gru-ra"][3].ir.nodes[0].options["reset_after"] is True


def test_cudnn_layers_are_reported_as_such(prepared):
    node = prepared["cudnn-lstm"][3].ir.nodes[0]
    assert node.keras_class == "CuDNNLSTM" and node.kind == "lstm"
    node = prepared["cudnn-gru"][3].ir.nodes[0]
    assert node.keras_class == "CuDNNGRU" and node.options["reset_after"] is True


def test_live_tf_keras_model_is_legacy():
    import tf_keras as tk

    model = tk.Sequential([tk.Input((None, 2)), tk.layers.GRU(3, recurrent_activation="hard_sigmoid")])
    ir = build(model)
    assert ir.keras_version == tk.__version__
    assert ir.nodes[0].options["recurrent_activation"] == "hard_sigmoid_k2"


def test_verify_uses_tf_keras_for_keras2_files(prepared):
    from kerasc.verify import verify

    report = verify(prepared["seq-gru-rb-back-hardsig"][4], compiled=prepared["seq-gru-rb-back-hardsig"][3])
    assert report.ok, report.table()
    assert report.max_abs_err < 1e-5


# ------------------------------------------------------------------ errors name layer, option and what is supported

def _saved(tmp_path, model, name="m.h5"):
    path = tmp_path / name
    model.save(str(path))
    return path


def test_unsupported_activation_layer_option(tmp_path):
    import tf_keras as tk

    path = _saved(tmp_path, tk.Sequential([tk.Input((3,)), tk.layers.Dense(2, activation=tk.layers.LeakyReLU(0.1),
                                                                            name="head")]))
    with pytest.raises(ConversionError, match=r"layer 'head': activation=LeakyReLU\(alpha=0\.1\) is not supported; "
                                              r"supported: linear, .*LeakyReLU\(alpha=0\.3\)"):
        build(path)


def test_activation_keras2_never_had(tmp_path):
    import tf_keras as tk

    path = _saved(tmp_path, tk.Sequential([tk.Input((None, 3)), tk.layers.SimpleRNN(2, name="rnn")]))
    _rewrite_config(path, lambda cfg: (cfg["config"]["layers"][1]["config"].update(activation="hard_silu"), cfg)[1])
    with pytest.raises(ConversionError, match=r"layer 'rnn': activation='hard_silu' is not supported \(Keras 2 has no "
                                              r"activation of that name\); supported in models saved by Keras 2: linear"):
        build(path)


def test_time_major_true_is_refused(tmp_path):
    import tf_keras as tk

    path = _saved(tmp_path, tk.Sequential([tk.Input((None, 3)), tk.layers.LSTM(2, name="lstm")]))
    _rewrite_config(path, lambda cfg: (cfg["config"]["layers"][1]["config"].update(time_major=True), cfg)[1])
    with pytest.raises(ConversionError, match=r"layer 'lstm' \(LSTM\): time_major=True is not supported"):
        build(path)


def test_weights_only_file(tmp_path):
    import tf_keras as tk

    model = tk.Sequential([tk.Input((3,)), tk.layers.Dense(2)])
    path = tmp_path / "w.h5"
    model.save_weights(str(path))
    with pytest.raises(ConversionError, match="no model_config attribute: it is a weights-only file"):
        build(path)


def test_keras1_file_is_refused(tmp_path):
    import tf_keras as tk

    path = _saved(tmp_path, tk.Sequential([tk.Input((3,)), tk.layers.Dense(2)]))
    with h5py.File(path, "r+") as h5:
        h5.attrs["keras_version"] = "1.2.2"
    with pytest.raises(ConversionError, match=r"saved by Keras 1\.2\.2; supported: files saved by Keras 2\.x"):
        build(path)


def test_cudnn_bias_of_wrong_size(tmp_path):
    path = tmp_path / "bad.h5"
    write_cudnn_h5(path, "CuDNNLSTM", 3, 2, False, 2, seed=0)
    with h5py.File(path, "r+") as h5:
        g = h5["model_weights/cu_dnnlstm_1"]
        del g["cu_dnnlstm_1/bias:0"]
        g.create_dataset("cu_dnnlstm_1/bias:0", data=np.zeros(12, np.float32))
    with pytest.raises(ConversionError, match=r"layer 'cu_dnnlstm_1' \(CuDNNLSTM\): weights do not match the config: "
                                              r"expected .*bias \(24,\); found .*\(12,\)"):
        build(path)
