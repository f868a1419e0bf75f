"""Per-timestep layers in files saved by Keras 2 (tf_keras .h5): each computes what it computed in Keras 2.

Keras 2 names LeakyReLU's slope `alpha` (default 0.3, like Keras 3's negative_slope), saves ReLU's
negative_slope and threshold as numbers, layer-normalization and batch-normalization axes as the index
([2] on a sequence), and propagates masks in Functional models without recording them. Ground truth is
tf_keras' eager call on the live model, every layer compared by verify (which loads the file with tf_keras)."""

import pytest

import kerasc
from tests.support.models import draw_inputs, keras_truth, pad_masked, randomize, trained_statistics
from tests.support.parity import assert_close, compile_all, SavedCase


def _k2_acts(tk):
    L = tk.layers
    return tk.Sequential([tk.Input((None, 4)), L.Masking(), L.LSTM(5, return_sequences=True), L.LeakyReLU(alpha=0.2),
                          L.LeakyReLU(), L.PReLU(shared_axes=[1]), L.ELU(alpha=0.5),
                          L.ReLU(max_value=1.0, negative_slope=0.05, threshold=0.1), L.Activation("hard_sigmoid"),
                          L.GlobalAveragePooling1D(), L.Dense(3), L.Softmax()])


def _k2_norms(tk):
    L = tk.layers
    return tk.Sequential([tk.Input((None, 3)), L.Normalization(mean=[1.0, 0.0, -1.0], variance=[1.0, 4.0, 0.25]),
                          L.Rescaling(0.5, -0.2), L.LayerNormalization(), L.Dense(4), L.BatchNormalization(),
                          L.GRU(4, return_sequences=True), L.BatchNormalization(center=False),
                          L.LayerNormalization(scale=False, epsilon=1e-4), L.GlobalMaxPooling1D(),
                          L.LayerNormalization(), L.PReLU()])


def _k2_functional(tk):
    """A Functional Keras 2 model: the mask reaches the GRU and the average pooling without being recorded."""
    L = tk.layers
    i = tk.Input((None, 3))
    h = L.GRU(4, return_sequences=True)(L.ReLU()(L.Masking()(i)))
    h = L.LayerNormalization()(h)
    return tk.Model(i, L.Concatenate()([L.GlobalAveragePooling1D()(h), L.GlobalMaxPooling1D()(h)]))


CASES = [SavedCase("k2-acts", _k2_acts, seed=1, timesteps=7), SavedCase("k2-norms", _k2_norms, seed=2, timesteps=6),
         SavedCase("k2-functional", _k2_functional, seed=3, timesteps=7)]
MASKED = {"k2-acts", "k2-functional"}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """{id: (model, x, y, compiled, path)}: saved by tf_keras with trained-looking statistics, read by kerasc."""
    import tf_keras

    out_dir = tmp_path_factory.mktemp("elem_legacy")
    out, paths = {}, {}
    for case in CASES:
        model = case.build(tf_keras)
        randomize(model, seed=1000 + case.seed, gain=case.gain)
        trained_statistics(model, case.seed)
        path = out_dir / f"{case.id}.h5"
        model.save(str(path))
        x = draw_inputs(model, case)
        if case.id in MASKED:
            x = pad_masked(x)
        out[case.id] = (model, x, keras_truth(model, x))
        paths[case.id] = path
    return {cid: (*out[cid], cm, paths[cid]) for cid, cm in compile_all(paths, prefix="k2e").items()}


@pytest.mark.parametrize("case", CASES, ids=str)
def test_file_matches_tf_keras_every_layer(prepared, case):
    model, x, y, cm, path = prepared[case.id]
    assert cm.ir.keras_version.startswith("2.")
    assert_close(cm.predict(x), y, case.id)
    report = kerasc.verify(path, x=x, compiled=cm)
    assert report.ok, report.table()


@pytest.mark.parametrize("case", CASES, ids=str)
def test_streaming_matches_the_last_step(prepared, case):
    model, x, y, cm, path = prepared[case.id]
    assert cm.can_stream
    for b in range(x.shape[0]):
        cm.reset()
        for t in range(x.shape[1]):
            c = cm.step(x[b, t])
        assert_close(c, y[b], f"{case.id} sample {b} streamed")


def test_keras2_definitions_are_read(prepared):
    nodes = prepared["k2-acts"][3].ir.nodes
    by_class = {n.keras_class: n for n in nodes}
    slopes = [n.options["c_slope"] for n in nodes if n.keras_class == "LeakyReLU"]
    assert slopes == ["0.200000003f", "0.300000012f"]  # alpha=0.2, and Keras 2's default 0.3
    assert by_class["Activation"].options["activation"] == "hard_sigmoid_k2"  # clip(0.2 x + 0.5, 0, 1)
    assert by_class["GlobalAveragePooling1D"].options["mask_arg"]
    assert any(n.options.get("folded") for n in prepared["k2-norms"][3].ir.nodes)
    functional = prepared["k2-functional"][3].ir.nodes
    assert [n.mask is not None for n in functional if n.kind in ("gru", "pooling_global")] == [True, True, False]
