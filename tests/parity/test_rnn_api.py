"""Keras' generic recurrent API: RNN(LSTMCell | GRUCell | SimpleRNNCell) with RNN's options, inside
Bidirectional, StackedRNNCells (states in Keras' order), Keras 2 .h5 files of the same. Every model
is checked against real Keras at every layer and timestep (kerasc.verify), the causal ones also
step by step (streaming)."""

import numpy as np
import pytest

import kerasc
from tests.support.models import randomize
from tests.support.parity import assert_close, ATOL, RTOL


def _models(k):
    L = k.layers
    ms = {}
    ms["lstm_cell"] = k.Sequential([k.Input((None, 3)), L.RNN(L.LSTMCell(5), return_sequences=True, name="rnn"),
                                    L.Dense(2)], name="lstm_cell")
    i = k.Input((None, 3))
    y, h = L.RNN(L.GRUCell(4, reset_after=False), return_state=True, name="gru")(i)
    ms["gru_state"] = k.Model(i, [y, h], name="gru_state")
    ms["gru_back"] = k.Sequential([k.Input((None, 3)), L.RNN(L.GRUCell(4), go_backwards=True, return_sequences=True,
                                                              name="gru")], name="gru_back")
    ms["simple_unroll"] = k.Sequential([k.Input((6, 2)), L.RNN(L.SimpleRNNCell(3, activation="relu"), unroll=True,
                                                               name="s")], name="simple_unroll")
    i = k.Input((None, 3))
    out = L.RNN(L.StackedRNNCells([L.LSTMCell(4), L.GRUCell(3), L.SimpleRNNCell(2)]), return_sequences=True,
                return_state=True, name="stk")(i)
    ms["stacked_state"] = k.Model(i, out, name="stacked_state")  # [y, h0, c0, h1, h2]
    ms["stacked_back"] = k.Sequential([k.Input((None, 3)), L.RNN(L.StackedRNNCells([L.GRUCell(4), L.LSTMCell(3)]),
                                                                  go_backwards=True, return_sequences=True)],
                                      name="stacked_back")
    ms["masked"] = k.Sequential([k.Input((None, 3)), L.Masking(0.0),
                                 L.RNN(L.StackedRNNCells([L.LSTMCell(4), L.GRUCell(3)]), return_sequences=True),
                                 L.RNN(L.LSTMCell(2))], name="masked")
    ms["bidi"] = k.Sequential([k.Input((None, 3)), L.Bidirectional(L.RNN(L.GRUCell(3), return_sequences=True)),
                               L.Dense(2)], name="bidi")
    x, h0, c0, g0 = k.Input((None, 3)), k.Input((4,)), k.Input((4,)), k.Input((3,))
    y = L.RNN(L.StackedRNNCells([L.LSTMCell(4), L.GRUCell(3)]), name="stk")(x, initial_state=[[h0, c0], g0])
    ms["stacked_init"] = k.Model([x, h0, c0, g0], y, name="stacked_init")
    for n, (name, m) in enumerate(sorted(ms.items())):
        randomize(m, seed=31 + n)
    return ms


CAUSAL = ("lstm_cell", "gru_state", "simple_unroll", "stacked_state", "masked")


@pytest.fixture(scope="module")
def models(keras):
    return _models(keras)


def _inputs(model, seed, T=7):
    rng = np.random.default_rng(seed)
    xs = []
    for inp in model.inputs:
        shape = tuple(inp.shape[1:])
        t = shape[0] if len(shape) == 2 and shape[0] is not None else T
        xs.append(rng.normal(0, 1, (3, t, shape[-1]) if len(shape) == 2 else (3,) + shape).astype(np.float32))
    if model.name == "masked":
        xs[0][1, 4:] = 0.0  # a masked tail
        xs[0][2, 2] = 0.0  # and a masked step in the middle
    return xs[0] if len(xs) == 1 else xs


@pytest.mark.parametrize("name", ["lstm_cell", "gru_state", "gru_back", "simple_unroll", "stacked_state",
                                  "stacked_back", "masked", "bidi", "stacked_init"])
def test_rnn_cell_models_match_keras_at_every_layer_and_timestep(models, name):
    m = models[name]
    report = kerasc.verify(m, _inputs(m, 5))
    assert report.ok, report.table() if hasattr(report, "table") else report
    assert report.layers and all(r.ok for r in report.layers)
    compared = {r.name.split("[")[0] for r in report.layers}
    for layer in m.layers:  # every RNN layer is compared as the Keras layer it is, states included
        if type(layer).__name__ in ("RNN", "Bidirectional"):
            assert layer.name in compared, (layer.name, compared)


@pytest.mark.parametrize("name", CAUSAL)
def test_rnn_cell_models_stream(keras, models, name):
    """cm.step on each timestep gives what Keras gives for the sequence ending there."""
    m = models[name]
    x = _inputs(m, 9, T=5)
    cm = kerasc.compile(m)
    for b in range(2):
        cm.reset()
        for t in range(x.shape[1]):
            got = cm.step(x[b, t])
            want = [np.asarray(w)[0] for w in keras.tree.flatten(m(x[b:b + 1, :t + 1], training=False))]
            got = got if isinstance(got, (list, tuple)) else [got]
            for g, w in zip(got, want):
                w = w[-1] if w.ndim == 2 else w  # a sequence output: its last step
                assert_close(np.asarray(g), w, f"{name} batch {b} step {t}", ATOL, RTOL)


def test_stacked_cells_map_their_states_in_keras_order(keras, models):
    """RNN(StackedRNNCells([LSTMCell(4), GRUCell(3), SimpleRNNCell(2)]), return_state=True) outputs
    [y, h0, c0, h1, h2]: the C outputs have those widths, in that order, and match Keras."""
    m = models["stacked_state"]
    cm = kerasc.compile(m)
    x = _inputs(m, 3)
    got, want = cm.predict(x), keras.tree.flatten(m(x, training=False))
    assert [np.asarray(g).shape[-1] for g in got] == [2, 4, 4, 3, 2]
    for k, (g, w) in enumerate(zip(got, want)):
        assert_close(np.asarray(g), np.asarray(w), f"output {k}")


def test_inspect_names_the_rnn_form(models, tmp_path):
    from tests.support.programs import kerasc as cli

    path = tmp_path / "stacked_state.keras"
    models["stacked_state"].save(path)
    r = cli("inspect", path)
    assert r.returncode == 0, r.stderr
    rows = [line.split() for line in r.stdout.splitlines() if line[:1].isdigit()]
    # one row per cell, named inside the Keras layer, with the layer kind it computes as
    assert [(row[1].split("/")[0], row[2]) for row in rows] == [("stk", "LSTM"), ("stk", "GRU"), ("stk", "SimpleRNN")]
    assert "output [(T, 2), (4,), (4,), (3,), (2,)]" in r.stdout, r.stdout


@pytest.mark.parametrize("weights", ["float16", "int8"])
def test_rnn_cell_models_with_quantized_weights(models, weights):
    report = kerasc.verify(models["stacked_state"], _inputs(models["stacked_state"], 4), weights=weights)
    assert report.ok


def test_keras2_h5_rnn_cells(tmp_path):
    """tf_keras (Keras 2) RNN(LSTMCell) and RNN(StackedRNNCells) saved as .h5: kerasc reads the file alone
    and verify compares with tf_keras' own model."""
    import tf_keras as tk

    L = tk.layers
    m = tk.Sequential([L.RNN(L.LSTMCell(4), return_sequences=True, input_shape=(None, 3)),
                       L.RNN(L.StackedRNNCells([L.GRUCell(3, reset_after=True), L.SimpleRNNCell(2)])),
                       L.Dense(2)])
    randomize(m, seed=12)
    path = tmp_path / "k2cells.h5"
    m.save(str(path))
    x = np.random.default_rng(1).normal(0, 1, (2, 6, 3)).astype(np.float32)
    report = kerasc.verify(str(path), x)
    assert report.ok
    y = kerasc.compile(str(path)).predict(x)
    assert_close(np.asarray(y), m.predict(x, verbose=0), "Keras 2 .h5")


def test_unsupported_cells_are_refused_by_name(keras):
    L = keras.layers

    class MinimalCell(L.Layer):
        def __init__(self, units, **kw):
            super().__init__(**kw)
            self.units, self.state_size = units, units

        def build(self, shape):
            self.kernel = self.add_weight(shape=(shape[-1], self.units))

        def call(self, x, states):
            return x @ self.kernel + states[0], [x @ self.kernel]

    m = keras.Sequential([keras.Input((None, 3)), L.RNN(MinimalCell(2), name="mine")])
    with pytest.raises(kerasc.ConversionError, match=r"layer 'mine' \(RNN\): cell 'MinimalCell' is not supported; "
                                                     r"supported cells: LSTMCell, GRUCell, SimpleRNNCell"):
        kerasc.build_ir(m)
    bi = keras.Sequential([keras.Input((None, 3)),
                           L.Bidirectional(L.RNN(L.StackedRNNCells([L.GRUCell(2), L.GRUCell(2)])), name="bs")])
    with pytest.raises(kerasc.ConversionError, match=r"'bs' \(Bidirectional\) wraps RNN\(StackedRNNCells\)"):
        kerasc.build_ir(bi)
