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
