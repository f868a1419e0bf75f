"""Attention over time (issue 17, items 2 and 3), against real Keras 3 at every layer output and timestep:
attention pooling as Keras 3 saves it without Lambda layers (Dense(1) scores, Softmax over the time axis
or Flatten + softmax + RepeatVector + Permute, a Multiply that broadcasts (T, 1) weights over (T, F)
features, Dot over the time axis, GlobalAveragePooling1D), and Keras' Attention (dot, use_scale, concat)
and AdditiveAttention (with and without scale) in encoder-decoders whose decoder LSTM starts from the
encoder's states, with query and value masks (Masking, Embedding mask_zero) and use_causal_mask, on
encoder and decoder sequences of different lengths. The clear refusals of what kerasc does not do
(return_attention_scores, a masked Softmax over time, Dot axes that need a fixed length it lacks)."""

import numpy as np
import pytest

import kerasc
from kerasc.errors import ConversionError
from tests.support.graphs import check_layers, check_predict, GCase, prepare_graph
from tests.support.models import randomize
from tests.support.parity import assert_close, compile_all


def _pool_softmax_time(k, T=6, F=3, units=5, tail="gap"):
    """LSTM(return_sequences) -> Dense(1, tanh) -> Softmax(axis=1) -> Multiply (broadcast) -> pooling -> Dense."""
    L = k.layers
    x = k.Input((T, F))
    h = L.LSTM(units, return_sequences=True)(x)
    e = L.Dense(1, activation="tanh")(h)
    a = L.Softmax(axis=1)(e)
    ctx = L.Multiply()([h, a])
    pooled = L.GlobalAveragePooling1D()(ctx) if tail == "gap" else L.Flatten()(ctx)
    return k.Model(x, L.Dense(2)(pooled))


def _pool_classic(k, T=5, F=2, units=4):
    """The classic Keras 2 recipe: Dense(1, tanh) -> Flatten -> softmax -> RepeatVector -> Permute -> Multiply."""
    L = k.layers
    x = k.Input((T, F))
    h = L.LSTM(units, return_sequences=True)(x)
    e = L.Flatten()(L.Dense(1, activation="tanh")(h))
    a = L.Permute((2, 1))(L.RepeatVector(units)(L.Activation("softmax")(e)))
    ctx = L.Multiply()([h, a])
    return k.Model(x, L.Dense(3)(L.GlobalAveragePooling1D()(ctx)))


def _pool_dot(k, T=None, F=3, units=4):
    """Weights (T, 1) Dot(axes=1) features (T, F): (1, F), flattened; also Softmax(axis=-2)."""
    L = k.layers
    x = k.Input((T, F))
    h = L.GRU(units, return_sequences=True)(x)
    a = L.Softmax(axis=-2)(L.Dense(1)(h))
    ctx = L.Flatten()(L.Dot(axes=1)([a, h])) if T is not None else L.Reshape((units,))(L.Dot(axes=1)([a, h]))
    return k.Model(x, L.Dense(2, activation="softmax")(ctx))


def _pool_dot_vec(k, T=4, F=2, units=3):
    """Softmax over time on several features, Dot on vectors, and Add broadcasting (T, 1) over (T, F)."""
    L = k.layers
    x = k.Input((T, F))
    h = L.LSTM(units, return_sequences=True)(x)
    a = L.Softmax(axis=1)(L.Dense(units)(h))
    s = L.Add()([L.Dense(1)(h), L.Multiply()([a, h])])
    v = L.GlobalAveragePooling1D()(s)
    return k.Model(x, [L.Dot(axes=1)([v, L.Dense(units)(v)]), v])


def _dot_axes(k, T=4, F=3):
    """Luong attention by hand: Dot(axes=2) scores (T, T), Softmax per step, Dot(axes=(2, 1)) with the
    values; and Dot(axes=(1, 2)) (the time axis against features, a new axis of F steps)."""
    L = k.layers
    x = k.Input((T, F))
    h = L.Dense(F)(x)
    s = L.Dot(axes=2)([x, h])
    ctx = L.Dot(axes=(2, 1))([L.Softmax()(s), h])
    other = L.Dot(axes=(1, 2))([h, L.Dense(T)(x)])
    return k.Model(x, [L.LSTM(2, return_sequences=True)(ctx), L.Flatten()(other)])


def _self_attention(k, causal=True):
    """Self-attention over a GRU's outputs (causal), and attention whose query is the model input itself."""
    L = k.layers
    x = k.Input((None, 3))
    h = L.GRU(3, return_sequences=True)(x)
    sa = L.Attention(use_scale=True)([h, h], use_causal_mask=causal)
    qa = L.AdditiveAttention()([x, L.Dense(3)(x)])
    return k.Model(x, L.Dense(2)(L.GlobalAveragePooling1D()(L.Add()([sa, qa]))))


def _seq2seq(k, layer, Te=None, Td=None, Fe=3, Fd=2, units=4, mask=None, causal=False, key=False):
    """Encoder LSTM(return_sequences, return_state) -> decoder LSTM(initial_state) over its own inputs ->
    attention([decoder, encoder]) -> Concatenate -> Dense."""
    L = k.layers
    if mask == "embedding":
        xe, xd = k.Input((Te,), dtype="int32", name="enc"), k.Input((Td,), dtype="int32", name="dec")
        ee, ed = L.Embedding(9, Fe, mask_zero=True)(xe), L.Embedding(7, Fd, mask_zero=True)(xd)
    elif mask == "masking":
        xe, xd = k.Input((Te, Fe), name="enc"), k.Input((Td, Fd), name="dec")
        ee, ed = L.Masking()(xe), L.Masking()(xd)
    else:
        xe, xd = k.Input((Te, Fe), name="enc"), k.Input((Td, Fd), name="dec")
        ee, ed = xe, xd
    enc, h, c = L.LSTM(units, return_sequences=True, return_state=True)(ee)
    dec = L.LSTM(units, return_sequences=True)(ed, initial_state=[h, c])
    ins = [dec, enc, L.Dense(units)(enc)] if key else [dec, enc]
    att = layer(L)(ins, use_causal_mask=True) if causal else layer(L)(ins)
    out = L.Dense(3)(L.Concatenate()([dec, att]))
    return k.Model([xe, xd], out)


LENGTHS = {"enc": 7, "dec": 5}  # encoder and decoder sequences of different lengths
ATT = {
    "dot": lambda L: L.Attention(),
    "dot-scale": lambda L: L.Attention(use_scale=True),
    "concat": lambda L: L.Attention(score_mode="concat"),
    "concat-scale": lambda L: L.Attention(use_scale=True, score_mode="concat"),
    "additive": lambda L: L.AdditiveAttention(),
    "additive-noscale": lambda L: L.AdditiveAttention(use_scale=False),
}

CASES = [
    GCase("pool-softmax-time", lambda k: _pool_softmax_time(k), seed=1),
    GCase("pool-softmax-time-flatten", lambda k: _pool_softmax_time(k, T=4, tail="flatten"), seed=2),
    GCase("pool-classic", lambda k: _pool_classic(k), seed=3),
    GCase("pool-dot-fixed", lambda k: _pool_dot(k, T=6), seed=4),
    GCase("pool-dot-variable", lambda k: _pool_dot(k, T=None), seed=5),
    GCase("pool-dot-vectors", lambda k: _pool_dot_vec(k), seed=6),
    GCase("dot-axes", lambda k: _dot_axes(k), seed=7),
    GCase("self-attention", lambda k: _self_attention(k), seed=8),
] + [
    GCase(f"s2s-{name}", (lambda layer: lambda k: _seq2seq(k, layer))(layer), seed=10 + i,
          timesteps=LENGTHS)
    for i, (name, layer) in enumerate(ATT.items())
] + [
    GCase("s2s-dot-causal", lambda k: _seq2seq(k, ATT["dot-scale"], causal=True), seed=20, timesteps=LENGTHS),
    GCase("s2s-additive-causal-key", lambda k: _seq2seq(k, ATT["additive"], causal=True, key=True), seed=21,
          timesteps=LENGTHS),
    GCase("s2s-dot-masking", lambda k: _seq2seq(k, ATT["dot"], mask="masking"), seed=22, masked=True,
          timesteps=LENGTHS),
    GCase("s2s-additive-masking-causal", lambda k: _seq2seq(k, ATT["additive"], mask="masking", causal=True),
          seed=23, masked=True, timesteps=LENGTHS),
    GCase("s2s-fixed-lengths", lambda k: _seq2seq(k, ATT["concat-scale"], Te=7, Td=4), seed=24),
]
PREPARE = prepare_graph


@pytest.mark.parametrize("case", CASES, ids=str)
def test_predict_matches_keras(prepared, case):
    check_predict(prepared[case.id], case.id)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_every_layer_every_timestep(prepared, case):
    assert check_layers(prepared[case.id], case.id) >= 3


@pytest.mark.parametrize("weights", ["float16", "int8"])
@pytest.mark.parametrize("cid", ["pool-classic", "pool-dot-fixed", "s2s-additive-masking-causal", "s2s-concat-scale"])
def test_quantized_weights_within_tolerance(prepared, cid, weights):
    p = prepared[cid]
    report = kerasc.verify(p.model, p.x, weights=weights, strict=True)
    assert report.passed, str(report)


def test_not_streamed_and_why(prepared):
    assert "reads the whole value sequence" in prepared["s2s-dot"].cm.ir.stream_note
    assert "Softmax over time" in prepared["pool-softmax-time"].cm.ir.stream_note


def test_fixed_length_is_checked(prepared):
    """The Permute's constant axis met the input's fixed 5 steps: another length is refused in C."""
    cm = prepared["pool-classic"].cm
    with pytest.raises(ValueError):
        cm.predict(np.zeros((1, 6, 2), np.float32))


@pytest.fixture(scope="module")
def embedded(keras):
    """Embedding(mask_zero=True) on both token inputs: the query mask zeroes padded decoder steps, the value
    mask leaves padded encoder steps out of the softmax (a row of the encoder entirely padded but one step)."""
    rng = np.random.default_rng(7)
    te = rng.integers(1, 9, (4, 6)).astype(np.int32)
    te[0, 4:] = 0
    te[1, :2] = 0
    te[2, 1::2] = 0
    te[3, 1:] = 0
    td = rng.integers(1, 7, (4, 5)).astype(np.int32)
    td[0, 3:] = 0
    td[2, :1] = 0
    models = {name: randomize(_seq2seq(keras, ATT[name], mask="embedding", causal=causal), seed=30 + i)
              for i, (name, causal) in enumerate((("dot-scale", False), ("additive", True), ("concat", False)))}
    cms = compile_all(models, prefix="attemb")
    return {name: (models[name], [te, td], cms[name]) for name in models}


@pytest.mark.parametrize("name", ["dot-scale", "additive", "concat"])
def test_embedding_masks(embedded, name):
    model, x, cm = embedded[name]
    assert_close(cm.predict(x), np.asarray(model(x, training=False)), f"{name} with Embedding(mask_zero) masks")
    report = kerasc.verify(model, x, compiled=cm, strict=True)
    assert report.passed, str(report)


def _refused(model, match):
    with pytest.raises(ConversionError, match=match):
        kerasc.lower.build(model)


def test_refusals(keras):
    K, L = keras, keras.layers
    q, v = K.Input((None, 3)), K.Input((None, 3))
    att, scores = L.Attention()([q, v], return_attention_scores=True)
    _refused(K.Model([q, v], [att, scores]), r"'attention.*' \(Attention\) is called with return_attention_scores=True; "
                                             r"supported: return_attention_scores=False")
    x = K.Input((None, 2))
    _refused(K.Model(x, L.Dot(axes=2)([x, L.Dense(2)(x)])),
             r"\(Dot\): axes=2 makes features of the time axis of the second input; supported: that input with fixed "
             r"timesteps")
    _refused(K.Model(x, L.Dot(axes=1, normalize=True)([x, x])), r"\(Dot\): normalize=True is not supported")
    m = L.Masking()(x)
    _refused(K.Sequential([K.Input((None, 2)), L.Masking(), L.Dense(1), L.Softmax(axis=1)]),
             r"\(Softmax\) over the time axis receives a mask")
    _refused(K.Model(x, L.Softmax(axis=0)(x)), r"\(Softmax\): axis=0 is not supported")
    del m


def test_keras_file(prepared, tmp_path):
    """The same encoder-decoder read from a Keras 3 `.keras` archive (its config records no attention masks)."""
    p = prepared["s2s-additive-masking-causal"]
    path = tmp_path / "s2s.keras"
    p.model.save(path)
    cm = compile_all({"file": path}, prefix="attfile")["file"]
    assert_close(cm.predict(p.x), p.y[0], "s2s-additive-masking-causal from .keras")
