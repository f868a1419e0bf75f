"""Streaming: NAME_step carries state between calls, and each output is what predict gives if the
sequence ended at that step (checked against Keras on every prefix)."""

import numpy as np
import pytest

from tests.support.parity import assert_close, Case

CASES = [
    Case("lstm-seq", lambda k: k.Sequential([k.Input((None, 3)), k.layers.LSTM(6, return_sequences=True)]), seed=1),
    Case("gru-seq-dense", lambda k: k.Sequential([k.Input((None, 2)), k.layers.GRU(5, return_sequences=True),
                                                  k.layers.Dense(3)]), seed=2),
    Case("stack-last-dense", lambda k: k.Sequential([k.Input((None, 4)), k.layers.SimpleRNN(5, return_sequences=True),
                                                     k.layers.GRU(4, reset_after=False),
                                                     k.layers.Dense(2, activation="softmax")]), seed=3),
    Case("lstm-last", lambda k: k.Sequential([k.Input((None, 1)), k.layers.LSTM(1)]), seed=4),
    Case("fixed-T", lambda k: k.Sequential([k.Input((6, 3)), k.layers.GRU(4), k.layers.Dense(2)]), timesteps=6, seed=5),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_step_equals_predict_on_every_prefix(prepared, case):
    model, x, y, cm = prepared[case.id]
    T = x.shape[1]
    for b in range(x.shape[0]):
        cm.reset()
        outs = np.stack([cm.step(x[b, t]) for t in range(T)])
        if cm.ir.output_seq:
            # the t-th streamed output is the t-th row of predict, exactly (same arithmetic)
            np.testing.assert_array_equal(outs, cm.predict(x[b:b + 1])[0])
            assert_close(outs, y[b], f"{case.id} stream b={b}")
        elif cm.ir.timesteps is None:
            for t in range(T):  # Keras on the prefix x[:t+1] is the ground truth for step t
                k_prefix = model(x[b:b + 1, :t + 1], training=False).numpy()[0]
                assert_close(outs[t], k_prefix, f"{case.id} stream b={b} t={t}")
        else:
            assert_close(outs[-1], y[b], f"{case.id} stream b={b} last step")


def test_reset_starts_a_new_stream(prepared):
    model, x, y, cm = prepared["lstm-seq"]
    cm.reset()
    first = [cm.step(x[0, t]) for t in range(3)]
    cm.reset()
    again = [cm.step(x[0, t]) for t in range(3)]
    np.testing.assert_array_equal(np.stack(first), np.stack(again))
    # without reset the state carries over, so the same input gives a different output
    assert not np.array_equal(cm.step(x[0, 0]), first[0])


def test_predict_does_not_disturb_the_stream(prepared):
    model, x, y, cm = prepared["gru-seq-dense"]
    cm.reset()
    a = [cm.step(x[0, t]) for t in range(2)]
    cm.predict(x)  # uses its own state: the stream continues undisturbed
    b = cm.step(x[0, 2])
    cm.reset()
    ref = [cm.step(x[0, t]) for t in range(3)]
    np.testing.assert_array_equal(np.stack(a + [b]), np.stack(ref))


def test_non_causal_models_refuse_streaming(keras):
    import kerasc

    model = keras.Sequential([keras.Input((None, 2)), keras.layers.LSTM(3, go_backwards=True, name="lstm")])
    cm = kerasc.compile(model, name="backwards_only")
    assert not cm.can_stream
    with pytest.raises(kerasc.ConversionError, match="'lstm' \\(LSTM\\) reads the sequence backwards"):
        cm.step(np.zeros(2, np.float32))
