"""Attention models saved by Keras 2 (tf_keras `.h5`), converted from the file and compared with tf_keras'
own eager output (the truth for Keras 2 files): attention pooling (Dense(1) scores, Flatten, softmax,
RepeatVector, Permute, a broadcasting Multiply, Softmax over time, Dot over time) and tf_keras' Attention and
AdditiveAttention in an encoder-decoder whose decoder LSTM starts from the encoder's states, with Masking
masks and use_causal_mask; every layer and timestep through `verify` (which loads the file with tf_keras)."""

import numpy as np
import pytest

import kerasc
from tests.support.models import randomize
from tests.support.parity import assert_close, compile_all


def _pool(k):
    L = k.layers
    x = k.Input((5, 2))
    h = L.LSTM(4, return_sequences=True)(x)
    a = L.Permute((2, 1))(L.RepeatVector(4)(L.Activation("softmax")(L.Flatten()(L.Dense(1, activation="tanh")(h)))))
    w = L.Softmax(axis=1)(L.Dense(1)(h))
    pooled = L.GlobalAveragePooling1D()(L.Add()([L.Multiply()([h, a]), L.Multiply()([w, h])]))
    return k.Model(x, [L.Dense(2)(pooled), L.Flatten()(L.Dot(axes=1)([w, h]))])


def _seq2seq(k, make, masked=False, causal=False):
    L = k.layers
    xe, xd = k.Input((None, 3), name="enc"), k.Input((None, 2), name="dec")
    ee, ed = (L.Masking()(xe), L.Masking()(xd)) if masked else (xe, xd)
    enc, h, c = L.LSTM(4, return_sequences=True, return_state=True)(ee)
    dec = L.LSTM(4, return_sequences=True)(ed, initial_state=[h, c])
    att = make(L)([dec, enc], use_causal_mask=True) if causal else make(L)([dec, enc])
    return k.Model([xe, xd], L.Dense(3)(L.Concatenate()([dec, att])))


CASES = {
    "k2_pool": (_pool, False),
    "k2_luong": (lambda k: _seq2seq(k, lambda L: L.Attention(use_scale=True)), False),
    "k2_luong_concat_masked": (lambda k: _seq2seq(k, lambda L: L.Attention(score_mode="concat"), masked=True), True),
    "k2_bahdanau_causal": (lambda k: _seq2seq(k, lambda L: L.AdditiveAttention(), causal=True), False),
    "k2_bahdanau_masked_causal": (lambda k: _seq2seq(k, lambda L: L.AdditiveAttention(use_scale=False), masked=True,
                                                     causal=True), True),
}


def _inputs(model, masked, seed):
    rng = np.random.default_rng(seed)
    xs = []
    for inp, T in zip(model.inputs, (7, 5)):
        shape = tuple(inp.shape)
        x = rng.standard_normal((3, shape[1] or T, shape[2])).astype(np.float32)
        if masked:
            x[0, -2:] = 0.0
            x[1, :2] = 0.0
            x[2, 1::3] = 0.0
        xs.append(x)
    return xs[0] if len(xs) == 1 else xs


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    tf_keras = pytest.importorskip("tf_keras", reason="tf_keras (Keras 2) is not installed")
    out = tmp_path_factory.mktemp("attention_h5")
    cases = {}
    for i, (cid, (build, masked)) in enumerate(CASES.items()):
        model = randomize(build(tf_keras), seed=40 + i)
        path = out / f"{cid}.h5"
        model.save(str(path))
        x = _inputs(model, masked, i)
        y = model(x, training=False)
        cases[cid] = (path, x, [np.asarray(v) for v in (y if isinstance(y, (list, tuple)) else [y])])
    cms = compile_all({cid: c[0] for cid, c in cases.items()}, prefix="k2att")
    return {cid: (*cases[cid], cms[cid]) for cid in cases}


@pytest.mark.parametrize("cid", list(CASES))
def test_h5_matches_tf_keras(saved, cid):
    path, x, ys, cm = saved[cid]
    assert cm.ir.keras_version.startswith("2."), cm.ir.keras_version
    got = cm.predict(x)
    for k, (c, y) in enumerate(zip(got if isinstance(got, (list, tuple)) else [got], ys)):
        assert_close(c, y, f"{cid} output {k}")


@pytest.mark.parametrize("cid", list(CASES))
def test_h5_every_layer(saved, cid):
    path, x, _, cm = saved[cid]
    report = kerasc.verify(str(path), x, compiled=cm, strict=True)
    assert report.passed, str(report)
