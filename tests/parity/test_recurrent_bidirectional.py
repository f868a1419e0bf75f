"""Bidirectional parity against real Keras, every layer output at every timestep.

A pairwise matrix: wrapped kind (LSTM, GRU reset_after True/False, SimpleRNN) x merge_mode (concat,
sum, mul, ave, None) x return_sequences x stacked under another Bidirectional x Masking x Sequential
or Functional x custom backward_layer x stateful x fixed or variable length: every pair of values
occurs in some case."""

import itertools

import pytest

from tests.support.graphs import check_layers, check_predict, GCase, pairwise, prepare_graph

KINDS = {
    "lstm": lambda k, **kw: k.layers.LSTM(**kw),
    "gru": lambda k, **kw: k.layers.GRU(reset_after=True, **kw),
    "grurb": lambda k, **kw: k.layers.GRU(reset_after=False, **kw),
    "rnn": lambda k, **kw: k.layers.SimpleRNN(**kw),
}
OTHER = {"lstm": "gru", "gru": "rnn", "grurb": "lstm", "rnn": "grurb"}
FACTORS = {
    "kind": list(KINDS), "merge": ["concat", "sum", "mul", "ave", None], "seq": [True, False],
    "stacked": [False, True], "mask": [False, True], "api": ["functional", "sequential"],
    "backward": ["auto", "custom"], "stateful": [False, True], "fixed": [False, True],
}


def _valid(r):
    return not (r["merge"] is None and r["api"] == "sequential")  # two outputs need a Functional model


def _case(i, r):
    T, F, U, B = (5, 6, 4, 7)[i % 4], (3, 2, 4)[i % 3], (3, 2, 4)[i % 3], 4 if r["mask"] else 3

    def build(k):
        L = k.layers
        rnn = dict(units=U, return_sequences=r["seq"], stateful=r["stateful"])
        backward = None
        if r["backward"] == "custom":
            backward = KINDS[OTHER[r["kind"]]](k, go_backwards=True, **rnn)
        layers = []
        if r["mask"]:
            layers.append(L.Masking(0.0))
        if r["stacked"]:
            layers.append(L.Bidirectional(KINDS[OTHER[r["kind"]]](k, units=2, return_sequences=True,
                                                                  stateful=r["stateful"]), merge_mode="concat"))
        bi = L.Bidirectional(KINDS[r["kind"]](k, **rnn), merge_mode=r["merge"], backward_layer=backward)
        inp = k.Input((T if r["fixed"] else None, F), batch_size=B if r["stateful"] else None)
        if r["api"] == "sequential":
            head = L.TimeDistributed(L.Dense(2)) if r["seq"] else L.Dense(2, activation="tanh")
            return k.Sequential([inp] + layers + [bi, head])
        x = inp
        for layer in layers:
            x = layer(x)
        y = bi(x)
        if r["merge"] is None:  # the two directions as two outputs, plus a head on both
            return k.Model(inp, [y[0], y[1], L.Dense(2)(L.Concatenate()(list(y)))])
        return k.Model(inp, [y, L.Dense(2)(y)])

    cid = "-".join([r["kind"], str(r["merge"]).lower(), "seq" if r["seq"] else "last"]
                   + [name for name, on in (("stacked", r["stacked"]), ("masked", r["mask"]),
                                            ("custombwd", r["backward"] == "custom"), ("stateful", r["stateful"]),
                                            ("fixed", r["fixed"])) if on] + [r["api"][:3], f"T{T}"])
    return GCase(f"{i:02d}-{cid}", build, timesteps=T, batch=B, seed=i, masked=r["mask"], stateful=r["stateful"],
                 gain=1.3 if r["stateful"] else 1.75, factors=r)


ROWS = pairwise(FACTORS, _valid)
CASES = [_case(i, r) for i, r in enumerate(ROWS)]


PREPARE = prepare_graph  # how conftest's `prepared` fixture builds this module's CASES


@pytest.mark.parametrize("case", CASES, ids=str)
def test_predict_matches_keras(prepared, case):
    check_predict(prepared[case.id], case.id)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_every_layer_every_timestep(prepared, case):
    check_layers(prepared[case.id], case.id)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_streaming_refused(prepared, case):
    """Bidirectional reads the sequence backwards: no NAME_step, and step() says why."""
    from kerasc import ConversionError

    cm = prepared[case.id].cm
    assert not cm.ir.causal and "the sequence backwards" in cm.ir.stream_note
    with pytest.raises(ConversionError, match="Bidirectional.*backwards"):
        cm.step(*([0] * 1))


def test_matrix_is_pairwise():
    """Every pair of factor values that a valid model can have occurs in some case."""
    def pairs(r):
        return {((a, r[a]), (b, r[b])) for a, b in itertools.combinations(FACTORS, 2)}

    possible = set().union(*(pairs(dict(zip(FACTORS, combo))) for combo in itertools.product(*FACTORS.values())
                             if _valid(dict(zip(FACTORS, combo)))))
    covered = set().union(*(pairs(r) for r in ROWS))
    assert possible <= covered, sorted(possible - covered)[:5]
    assert len(CASES) <= 40
