"""Every built-in Keras activation, with Keras 3's own definition, in every position Keras accepts
it: LSTM/GRU/SimpleRNN `activation`, LSTM/GRU `recurrent_activation`, Dense `activation`
(per timestep and on vectors). `threshold` (needs arguments) and `glu` in RNNs are refused."""

import pytest

from tests.support.parity import assert_close, Case
from kerasc.activations import ALIASES, ELEMENTWISE, VECTOR, WIDTH_HALVING

RNN_ACTS = sorted(set(ELEMENTWISE + VECTOR) | {"swish", "hard_swish"})
DENSE_ACTS = sorted(set(RNN_ACTS) | set(WIDTH_HALVING))


def _rnn(kind, option, act, i):
    def build(k):
        layer = {"lstm": k.layers.LSTM, "gru": k.layers.GRU, "rnn": k.layers.SimpleRNN}[kind]
        kw = {option: act}
        if kind == "gru":
            kw["reset_after"] = i % 2 == 0
        return k.Sequential([k.Input((None, 3)), layer(4, return_sequences=True, **kw)])

    # exp(exp(...)) overflows float32 with ordinary weights: keep exponential cells mild (Keras too gives inf)
    mild = act == "exponential"
    return Case(f"{kind}-{option}-{act}", build, timesteps=6, seed=i, gain=0.4 if mild else 1.25,
                bias_scale=0.1 if mild else 0.5)


def _dense(act, i, on_seq):
    def build(k):
        if on_seq:
            return k.Sequential([k.Input((None, 3)), k.layers.SimpleRNN(5, return_sequences=True),
                                 k.layers.Dense(6, activation=act)])
        return k.Sequential([k.Input((None, 3)), k.layers.GRU(5), k.layers.Dense(6, activation=act)])

    return Case(f"dense-{'seq' if on_seq else 'vec'}-{act}", build, timesteps=5, seed=i, gain=1.25)


CASES = []
for i, act in enumerate(RNN_ACTS):
    CASES += [_rnn("lstm", "activation", act, i), _rnn("gru", "activation", act, i), _rnn("rnn", "activation", act, i),
              _rnn("lstm", "recurrent_activation", act, i), _rnn("gru", "recurrent_activation", act, i)]
for i, act in enumerate(DENSE_ACTS):
    CASES += [_dense(act, i, True), _dense(act, i, False)]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_activation_matches_keras(prepared, case):
    model, x, y, cm = prepared[case.id]
    assert_close(cm.predict(x), y, case.id)


def test_every_keras_activation_is_covered(keras):
    """If a Keras upgrade adds an activation, this fails until kerasc supports (or refuses) it."""
    from keras.src.activations import ALL_OBJECTS_DICT

    known = set(RNN_ACTS) | set(WIDTH_HALVING) | {"threshold"} | {a for a in ALIASES if a}
    assert set(ALL_OBJECTS_DICT) <= known, set(ALL_OBJECTS_DICT) - known


@pytest.mark.parametrize("layer,act,why", [
    ("LSTM", "threshold", "threshold/default_value"),
    ("GRU", "glu", "halves the width"),
    ("Dense", "threshold", "threshold/default_value"),
])
def test_activations_keras_cannot_run_are_refused(keras, layer, act, why):
    import kerasc

    cls = getattr(keras.layers, layer)
    model = keras.Sequential([keras.Input((None, 3)), cls(4, activation=act)])
    with pytest.raises(kerasc.ConversionError) as exc:
        kerasc.build_ir(model)
    msg = str(exc.value)
    assert f"activation='{act}'" in msg and why in msg and "supported:" in msg and model.layers[-1].name in msg
