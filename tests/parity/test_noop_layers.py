"""Layers that do nothing at inference (Dropout and friends) are folded away: parity with Keras'
eager call at training=False, streaming kept, and no code or memory spent on them."""

import numpy as np
import pytest

import kerasc
from tests.support.parity import assert_close, Case


def _seq(k):
    return k.Sequential([k.Input((None, 3)), k.layers.GaussianNoise(0.3), k.layers.LSTM(6, return_sequences=True),
                         k.layers.SpatialDropout1D(0.2), k.layers.Dropout(0.5), k.layers.GRU(4),
                         k.layers.AlphaDropout(0.1), k.layers.Dense(2, activation="softmax")])


def _func(k):
    inp = k.Input((None, 2))
    h = k.layers.SimpleRNN(5, return_sequences=True)(inp)
    h = k.layers.GaussianDropout(0.3)(h)
    h = k.layers.ActivityRegularization(l1=0.01, l2=0.01)(h)
    return k.Model(inp, k.layers.TimeDistributed(k.layers.Dense(3))(k.layers.Dropout(0.4, noise_shape=(None, 1, 5))(h)))


def _masked(k):
    return k.Sequential([k.Input((None, 2)), k.layers.Masking(0.0), k.layers.Dropout(0.5),
                         k.layers.LSTM(4, return_sequences=True)])


CASES = [Case("sequential", _seq, seed=1), Case("functional", _func, seed=2), Case("masked", _masked, seed=3)]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_noop_layers_fold_away(prepared, case):
    model, x, y, cm = prepared[case.id]
    if case.id == "masked":
        x = x.copy()
        x[:, -2:] = 0.0  # padded tail: the mask must pass through Dropout to the LSTM
        y = model(x, training=False).numpy()
    assert_close(cm.predict(x), y, case.id)
    assert not any(n.keras_class in ("Dropout", "GaussianNoise", "SpatialDropout1D", "GaussianDropout",
                                     "AlphaDropout", "ActivityRegularization") for n in cm.ir.nodes)
    assert cm.can_stream
    cm.reset()
    outs = np.stack([cm.step(x[0, t]) for t in range(x.shape[1])])
    last = y[0, -1] if y.ndim == 3 else y[0]
    assert_close(outs[-1], last, f"{case.id} streamed")


def test_unknown_option_on_a_noop_is_refused(keras):
    from kerasc.lower import lower
    from kerasc.load import load

    m = keras.Sequential([keras.Input((None, 2)), keras.layers.Dropout(0.1, name="drop"), keras.layers.LSTM(2)])
    record = load(m)
    record.layers[1].config["scale_at_inference"] = True
    with pytest.raises(kerasc.ConversionError, match="'drop' \\(Dropout\\): option scale_at_inference"):
        lower(record)
