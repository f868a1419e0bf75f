"""The layers around RNNs in the combinations real models use (issue 4): token embeddings feeding
convolutions and pooling, normalizations between convolutions and recurrent layers, an LSTM
autoencoder. Each model is checked with kerasc.verify, which compares the C with Keras at every
layer output and every timestep (ground truth: Keras 3 for live models and .keras files, tf_keras,
the Keras 2 that saved them, for .h5 files); causal ones are also streamed step by step."""

import numpy as np
import pytest

import kerasc
from tests.support.models import randomize
from tests.support.parity import assert_close


def _text_cnn_lstm(k):
    """The classic text classifier: tokens -> Embedding -> Conv1D -> MaxPooling1D -> LSTM -> softmax."""
    return k.Sequential([k.Input((None,), dtype="int32"), k.layers.Embedding(50, 8),
                         k.layers.Conv1D(6, 3, padding="same", activation="relu"), k.layers.MaxPooling1D(2),
                         k.layers.LSTM(5), k.layers.Dense(3, activation="softmax")])


def _causal_stream(k):
    """A streaming keyword spotter: tokens -> Embedding -> causal dilated Conv1D -> GRU -> LayerNorm ->
    running max pooling -> Dense."""
    i = k.Input((None,), dtype="int32")
    e = k.layers.Embedding(30, 6)(i)
    c = k.layers.Conv1D(8, 3, padding="causal", dilation_rate=2, activation="relu")(e)
    g = k.layers.GRU(6, return_sequences=True)(c)
    n = k.layers.LayerNormalization()(g)
    return k.Model(i, k.layers.Dense(2)(k.layers.GlobalMaxPooling1D()(n)))


def _sensor_cnn(k):
    """Float sensor frames: Conv1D (valid, strided) -> BatchNormalization -> ReLU -> average pooling."""
    return k.Sequential([k.Input((None, 4)), k.layers.Rescaling(0.5, offset=0.1),
                         k.layers.Conv1D(6, 4, strides=2), k.layers.BatchNormalization(), k.layers.ReLU(),
                         k.layers.GlobalAveragePooling1D(), k.layers.Dense(2, activation="softmax")])


def _autoencoder(k):
    """LSTM autoencoder: encode to a vector, repeat it, decode per timestep."""
    return k.Sequential([k.Input((6, 3)), k.layers.LSTM(8), k.layers.RepeatVector(6),
                         k.layers.LSTM(8, return_sequences=True), k.layers.LayerNormalization(),
                         k.layers.TimeDistributed(k.layers.Dense(3))])


def _masked_bidir(k):
    """Padded token sequences: Embedding(mask_zero) -> Bidirectional(LSTM) -> masked average -> Dense."""
    return k.Sequential([k.Input((None,), dtype="int32"), k.layers.Embedding(40, 6, mask_zero=True),
                         k.layers.Bidirectional(k.layers.LSTM(4, return_sequences=True)),
                         k.layers.GlobalAveragePooling1D(), k.layers.Dense(2)])


MODELS = {"text-cnn-lstm": _text_cnn_lstm, "causal-stream": _causal_stream, "sensor-cnn": _sensor_cnn,
          "autoencoder": _autoencoder, "masked-bidir": _masked_bidir}
STREAMING = {"causal-stream"}


def _model(framework, build, seed):
    model = build(framework)
    randomize(model, seed=seed, gain=1.5)
    for layer in model.layers:  # BatchNormalization: statistics that are not the identity
        if type(layer).__name__ == "BatchNormalization":
            rng = np.random.default_rng(seed)
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 2, gamma.shape), rng.normal(0, 0.5, beta.shape),
                               rng.normal(0, 0.5, mean.shape), rng.uniform(0.2, 3, var.shape)])
    return model


def _tokens(model, seed, T=11, batch=3, pad=True):
    rng = np.random.default_rng(seed)
    dim = next(la for la in model.layers if type(la).__name__ == "Embedding").input_dim
    x = rng.integers(1, dim, (batch, T)).astype(np.int32)
    if pad:
        x[0, -3:] = 0  # padding at the end, for mask_zero models
    return x


def _inputs(model, seed):
    if "int" in str(model.inputs[0].dtype) or any(type(la).__name__ == "Embedding" for la in model.layers):
        return _tokens(model, seed)
    shape = model.inputs[0].shape
    return np.random.default_rng(seed).standard_normal((3, shape[1] or 10, shape[2])).astype(np.float32)


@pytest.mark.parametrize("name", MODELS)
def test_keras3_every_layer_every_timestep(keras, name):
    model = _model(keras, MODELS[name], 11)
    x = _inputs(model, 3)
    report = kerasc.verify(model, x=x)
    assert report.ok, report.table()
    compared = {r.name for r in report.layers}
    layers = {la.name for la in model.layers if type(la).__name__ not in ("InputLayer", "BatchNormalization")}
    assert layers <= compared, compared  # every layer, not only the output
    if name in STREAMING:
        cm = kerasc.compile(model)
        assert cm.ir.causal, cm.ir.stream_note
        want = np.asarray(model(x[:1], training=False))[0]
        cm.reset()
        for t in range(x.shape[1]):
            got = cm.step(x[0, t])
        assert_close(got, want, f"{name} streamed")
    else:
        assert kerasc.compile(model).ir.stream_note  # refused for streaming, with the reason


@pytest.mark.parametrize("name", ["text-cnn-lstm", "sensor-cnn", "masked-bidir"])
def test_keras2_h5_file_matches_keras2(keras, tmp_path, name):
    """The same models saved by Keras 2 (tf_keras .h5): verify's truth is tf_keras on the file."""
    import tf_keras
    model = _model(tf_keras, MODELS[name], 12)
    path = tmp_path / f"{name}.h5"
    model.save(str(path))
    x = _inputs(model, 4)
    report = kerasc.verify(path, x=x)
    assert report.ok, report.table()
    assert "tf_keras" in str(report.environment), report.environment
    want = np.asarray(model(x, training=False))
    assert_close(kerasc.compile(path).predict(x), want, f"{name} Keras 2 predict")


@pytest.mark.parametrize("weights", ["float16", "int8"])
def test_quantized_text_model(keras, weights):
    """Embedding table, Conv1D and LSTM kernels all quantized, within the weight type's tolerance."""
    model = _model(keras, _text_cnn_lstm, 13)
    report = kerasc.verify(model, x=_inputs(model, 5), weights=weights)
    assert report.ok, report.table()
    assert report.output_max_abs_err > 1e-7  # the quantized kernels really are in the C
    ir = kerasc.build_ir(model, "q", weights=weights)
    kinds = {n.kind for n in ir.nodes if any(a.ctype != "float" for a in n.arrays)}
    assert {"embedding", "lstm", "dense"} <= kinds and any("conv" in k for k in kinds), kinds
