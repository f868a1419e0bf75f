"""Recurrent graphs beyond a chain, against real Keras at every layer output and timestep:
return_state, initial_state (seq2seq encoder-decoder), several inputs and outputs, stateful layers,
Masking (Sequential and Functional), merges of branches (Concatenate, Add, Multiply, Average,
Subtract, Maximum, Minimum), TimeDistributed(Dense), Dense on sequences, deep mixed stacks; and
streaming (NAME_step / NAME_reset_from) for every causal model."""

import itertools

import pytest

from tests.support.graphs import check_layers, check_predict, check_stream, GCase, pairwise, prepare_graph

KINDS = {
    "lstm": lambda k, **kw: k.layers.LSTM(**kw),
    "gru": lambda k, **kw: k.layers.GRU(reset_after=True, **kw),
    "grurb": lambda k, **kw: k.layers.GRU(reset_after=False, **kw),
    "rnn": lambda k, **kw: k.layers.SimpleRNN(**kw),
}

# ---------------------------------------------------------------- one recurrent layer, every option pair
FACTORS = {
    "kind": list(KINDS), "seq": [True, False], "backwards": [False, True], "mask": ["none", "sequential", "functional"],
    "zero_output": [False, True], "stateful": [False, True], "return_state": [False, True],
    "init": [False, True],
}


def _valid(r):
    # Sequential models have one input and one output
    return not (r["mask"] == "sequential" and (r["return_state"] or r["init"]))


def _rnn_case(i, r):
    T, F, U = (6, 5, 8, 4)[i % 4], (3, 2, 4)[i % 3], (4, 3, 2)[i % 3]
    B = 4 if r["mask"] != "none" else 3

    def build(k):
        L = k.layers
        layer = KINDS[r["kind"]](k, units=U, return_sequences=r["seq"], go_backwards=r["backwards"],
                                 zero_output_for_mask=r["zero_output"], stateful=r["stateful"],
                                 return_state=r["return_state"])
        inp = k.Input((None if i % 2 else T, F), batch_size=B if r["stateful"] else None)
        if r["mask"] == "sequential":
            return k.Sequential([inp, L.Masking(0.0), layer, L.Dense(2)])
        x = L.Masking(0.0)(inp) if r["mask"] == "functional" else inp
        inputs = [inp]
        kw = {}
        if r["init"]:
            states = [k.Input((U,), batch_size=B if r["stateful"] else None)
                      for _ in range(2 if r["kind"] == "lstm" else 1)]
            inputs += states
            kw["initial_state"] = states
        out = layer(x, **kw)
        outs = list(out) if r["return_state"] else [out]
        return k.Model(inputs if len(inputs) > 1 else inp, outs + [L.Dense(2, activation="tanh")(outs[0])])

    flags = [name for name, on in (("back", r["backwards"]), ("zero", r["zero_output"]), ("stateful", r["stateful"]),
                                   ("states", r["return_state"]), ("init", r["init"])) if on]
    cid = "-".join([f"{i:02d}", r["kind"], "seq" if r["seq"] else "last", f"mask_{r['mask']}"] + flags)
    return GCase(cid, build, timesteps=T, batch=B, seed=i, masked=r["mask"] != "none", stateful=r["stateful"],
                 gain=1.3 if r["stateful"] else 1.75, factors=r)


ROWS = pairwise(FACTORS, _valid)
RNN_CASES = [_rnn_case(i, r) for i, r in enumerate(ROWS)]


# ---------------------------------------------------------------- graphs
def seq2seq_lstm(k):
    L = k.layers
    enc, dec = k.Input((None, 3), name="encoder_in"), k.Input((None, 2), name="decoder_in")
    _, h, c = L.LSTM(5, return_state=True)(enc)
    y = L.LSTM(5, return_sequences=True)(dec, initial_state=[h, c])
    return k.Model([enc, dec], L.TimeDistributed(L.Dense(2, activation="softmax"))(y))


def seq2seq_bidirectional_gru(k):
    L = k.layers
    enc, dec = k.Input((None, 3), name="encoder_in"), k.Input((None, 2), name="decoder_in")
    _, fh, bh = L.Bidirectional(L.GRU(3, return_state=True))(enc)
    y, h = L.GRU(6, return_sequences=True, return_state=True)(dec, initial_state=[L.Concatenate()([fh, bh])])
    return k.Model([enc, dec], [L.Dense(2)(y), h])


def branches_merged(k):
    L = k.layers
    x = k.Input((None, 3))
    a = L.LSTM(4, return_sequences=True)(x)
    b = L.GRU(4, return_sequences=True)(x)
    c = L.SimpleRNN(4, return_sequences=True)(x)
    merged = [L.Concatenate()([a, b, c]), L.Add()([a, b, c]), L.Multiply()([a, b]), L.Average()([a, b, c]),
              L.Subtract()([a, c]), L.Maximum()([a, b, c]), L.Minimum()([b, c])]
    return k.Model(x, merged + [L.LSTM(2)(merged[0])])


def two_inputs_one_axis(k):
    L = k.layers
    a, b = k.Input((None, 2)), k.Input((None, 3))
    y = L.GRU(4, return_sequences=True)(L.Concatenate()([a, b]))
    return k.Model([a, b], L.TimeDistributed(L.Dense(3))(L.Add()([y, L.Dense(4)(b)])))


def conditioned_states(k):
    L = k.layers
    x, cond = k.Input((None, 3)), k.Input((2,))
    h0 = L.Dense(4, activation="tanh")(cond)
    y = L.LSTM(4, return_sequences=True)(x, initial_state=[h0, L.Dense(4)(cond)])
    return k.Model([x, cond], [L.Dense(2)(y), L.Dense(1)(h0)])


def deep_mixed_stack(k):
    L = k.layers
    return k.Sequential([k.Input((None, 4)), L.Dense(5, activation="relu"), L.LSTM(4, return_sequences=True),
                         L.GRU(3, return_sequences=True, go_backwards=True), L.TimeDistributed(L.Dense(3)),
                         L.SimpleRNN(4, return_sequences=True), L.GRU(3, reset_after=False), L.Dense(2)])


def deep_causal_stack(k):
    L = k.layers
    return k.Sequential([k.Input((None, 3)), L.SimpleRNN(4, return_sequences=True), L.LSTM(3, return_sequences=True),
                         L.TimeDistributed(L.Dense(4, activation="tanh")), L.GRU(3), L.Dense(2)])


def masked_branches(k):
    L = k.layers
    x = k.Input((None, 3))
    m = L.Masking(0.0)(x)
    a = L.LSTM(3, return_sequences=True)(m)
    b = L.GRU(3, return_sequences=True, zero_output_for_mask=True)(L.TimeDistributed(L.Dense(3))(m))
    s = L.SimpleRNN(2)(L.Add()([a, b]))
    v = L.Average()([L.LSTM(2)(a), L.GRU(2)(L.Concatenate()([a, b]))])
    return k.Model(x, [s, v])


def masked_meets_unmasked(k):
    """Keras 3 merges of a masked and an unmasked sequence: Add gives no mask, Concatenate an all-true one
    (each masks nothing); Keras 2 keeps the Masking's mask."""
    L = k.layers
    x, u = k.Input((None, 3)), k.Input((None, 3))
    m = L.Masking(0.0)(x)
    a = L.LSTM(2)(L.Concatenate()([m, u]))
    b = L.GRU(2)(L.Concatenate()([L.Add()([m, u]), m]))
    return k.Model([x, u], [a, b])


def vector_merge(k):
    L = k.layers
    x = k.Input((6, 2))
    h = L.Concatenate()([L.LSTM(3)(x), L.GRU(2, go_backwards=True)(x)])
    return k.Model(x, L.Dense(2, activation="softmax")(h))


GRAPHS = [
    GCase("seq2seq_lstm", seq2seq_lstm, timesteps={"encoder_in": 7, "decoder_in": 4}),
    GCase("seq2seq_bidirectional_gru", seq2seq_bidirectional_gru, timesteps={"encoder_in": 5, "decoder_in": 6}),
    GCase("branches_merged", branches_merged, timesteps=6),
    GCase("two_inputs_one_axis", two_inputs_one_axis, timesteps=5),
    GCase("conditioned_states", conditioned_states, timesteps=6),
    GCase("deep_mixed_stack", deep_mixed_stack, timesteps=6),
    GCase("deep_causal_stack", deep_causal_stack, timesteps=6),
    GCase("masked_branches", masked_branches, timesteps=6, batch=4, masked=True),
    GCase("vector_merge", vector_merge),
    GCase("masked_meets_unmasked", masked_meets_unmasked, timesteps=6, batch=4, masked=True),
]
CASES = RNN_CASES + GRAPHS
CAUSAL = {"branches_merged", "two_inputs_one_axis", "conditioned_states", "deep_causal_stack", "masked_branches",
          "masked_meets_unmasked"}


PREPARE = prepare_graph  # how conftest's `prepared` fixture builds this module's CASES


@pytest.mark.parametrize("case", CASES, ids=str)
def test_predict_matches_keras(prepared, case):
    check_predict(prepared[case.id], case.id)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_every_layer_every_timestep(prepared, case):
    check_layers(prepared[case.id], case.id)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_streaming(prepared, case):
    """Causal models stream (NAME_step, NAME_reset_from); the others refuse with the reason."""
    from kerasc import ConversionError

    p = prepared[case.id]
    causal = (case.id in CAUSAL) or (case.factors and not case.factors["backwards"])
    assert p.cm.ir.causal == bool(causal), p.cm.ir.stream_note
    if causal:
        check_stream(p, case.id)
    else:
        assert p.cm.ir.stream_note
        with pytest.raises(ConversionError, match="streaming is not possible"):
            p.cm.step([0.0])


def test_seq2seq_api(prepared):
    """Encoder and decoder inputs are separate arguments with their own lengths, in model.inputs order."""
    from kerasc.codegen import render_header

    ir = prepared["seq2seq_lstm"].cm.ir
    text = render_header(ir)
    assert ("int g%d_predict(g%d_state *st, g%d_scratch *scr, const kc_float *x0, int timesteps0, "
            "const kc_float *x1, int timesteps1, kc_float *y)" % ((CASES.index(GRAPHS[0]),) * 3)) in text
    assert "_IN1_SIZE 2" in text and "_OUT0_SIZE 2" in text


def test_matrix_is_pairwise():
    def pairs(r):
        return {((a, r[a]), (b, r[b])) for a, b in itertools.combinations(FACTORS, 2)}

    possible = set().union(*(pairs(dict(zip(FACTORS, c))) for c in itertools.product(*FACTORS.values())
                             if _valid(dict(zip(FACTORS, c)))))
    assert possible <= set().union(*(pairs(r) for r in ROWS))
    assert len(RNN_CASES) <= 40
