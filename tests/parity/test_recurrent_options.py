"""Parity sweep over every recurrent option of issue 2, against real Keras, every timestep.

kinds (LSTM, GRU reset_after True/False, SimpleRNN) x return_sequences x go_backwards x use_bias,
with units, features and sequence lengths (1 included, fixed and variable) varied across cases,
half of them with a Dense head (per timestep on sequences, or on the final vector)."""

import itertools

import numpy as np
import pytest

from tests.support.parity import assert_close, Case

KINDS = {
    "lstm": lambda k, **kw: k.layers.LSTM(**kw),
    "gru_ra": lambda k, **kw: k.layers.GRU(reset_after=True, **kw),
    "gru_rb": lambda k, **kw: k.layers.GRU(reset_after=False, **kw),
    "rnn": lambda k, **kw: k.layers.SimpleRNN(**kw),
}
UNITS, FEATURES, LENGTHS = (1, 3, 8, 5), (1, 4, 2, 3), (1, 7, 12, 4)


def _case(i, kind, ret_seq, backwards, bias):
    units, feats, T = UNITS[i % 4], FEATURES[(i // 4) % 4], LENGTHS[(i // 2) % 4]
    fixed = i % 3 == 0
    head = i % 2 == 1

    def build(k):
        layers = [k.Input((T if fixed else None, feats)),
                  KINDS[kind](k, units=units, return_sequences=ret_seq, go_backwards=backwards, use_bias=bias)]
        if head:
            layers.append(k.layers.Dense(3, activation="tanh", use_bias=bias))
        return k.Sequential(layers)

    cid = (f"{kind}-u{units}-f{feats}-T{T}{'fixed' if fixed else 'var'}-{'seq' if ret_seq else 'last'}"
           f"{'-back' if backwards else ''}{'' if bias else '-nobias'}{'-dense' if head else ''}")
    return Case(cid, build, timesteps=T, seed=i)


CASES = [_case(i, *combo) for i, combo in
         enumerate(itertools.product(KINDS, (True, False), (False, True), (True, False)))]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_predict_matches_keras(prepared, case):
    model, x, y, cm = prepared[case.id]
    assert_close(cm.predict(x), y, case.id)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_every_layer_every_timestep(prepared, case, keras):
    """The trace (what verify uses) agrees with Keras sub-model outputs layer by layer."""
    from kerasc.keras_bridge import keras_layer_outputs

    model, x, y, cm = prepared[case.id]
    c_y, c_layers = cm.trace(x)
    np.testing.assert_array_equal(c_y, cm.predict(x))  # tracing changes no arithmetic
    k_layers = keras_layer_outputs(model, [n.keras_name for n in cm.ir.nodes], x)
    for node, c, k in zip(cm.ir.nodes, c_layers, k_layers):
        assert_close(c, k, f"{case.id} layer {node.index} {node.keras_name}")


def test_sweep_covers_each_option():
    ids = [c.id for c in CASES]
    for token in ("-back", "-nobias", "-dense", "T1", "var", "fixed", "u1", "f1", "-seq", "-last"):
        assert any(token in i for i in ids), token
