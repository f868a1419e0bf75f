"""Per-timestep layers around RNNs (issue 4): Activation, Softmax, ReLU, LeakyReLU, PReLU, ELU,
LayerNormalization, BatchNormalization (own step, or folded into the Dense before it), Normalization,
Rescaling, GlobalAveragePooling1D and GlobalMaxPooling1D, against real Keras 3.

Every case: predict, every Keras layer output at every timestep (verify, which compares a folded
BatchNormalization at the Dense that computes it), and streaming step by step against Keras called on
each prefix; on sequences and on vectors, masked and not, fixed and variable lengths. The float16/int8
cases check the default tolerance of their weight type. All models of the module in one extension."""

import numpy as np
import pytest

import kerasc
from tests.support.models import draw_inputs, keras_truth, pad_masked, randomize, trained_statistics
from tests.support.parity import assert_close, Case, compile_all


def _seq(k, T, feats, *layers):
    return k.Sequential([k.Input((T, feats)), *layers])


def _acts_seq(k):
    L = k.layers
    return _seq(k, None, 4, L.LSTM(6, return_sequences=True), L.Activation("gelu"),
                L.ReLU(max_value=0.8, negative_slope=0.1, threshold=0.05), L.LeakyReLU(negative_slope=0.25),
                L.PReLU(shared_axes=[1]), L.ELU(alpha=0.6), L.Activation("hard_sigmoid"), L.Dense(3), L.Softmax())


def _acts_vec(k):
    L = k.layers
    return _seq(k, None, 3, L.GRU(5), L.PReLU(), L.ReLU(), L.Dense(4), L.LeakyReLU(), L.ELU(), L.PReLU(shared_axes=[1]),
                L.Activation("log_softmax"), L.Activation("softsign"), L.Softmax(axis=-1))


def _relu_paths(k):
    """ReLU's special cases in Keras (relu6, leaky without threshold, threshold only) and a shared alpha."""
    L = k.layers
    return _seq(k, 5, 3, L.SimpleRNN(6, return_sequences=True), L.Rescaling(4.0), L.ReLU(max_value=6.0),
                L.Rescaling(-1.0, 2.0), L.ReLU(negative_slope=0.2), L.ReLU(threshold=0.5), L.LeakyReLU(),
                L.PReLU(shared_axes=[1, 2]), L.ELU())


def _prelu_axes(k):
    """shared_axes as Keras' PReLU.build reads them, param_shape[i - 1] = 1: -1 names the time axis of a
    sequence (alpha per feature), 0 the feature axis (kerasc expected alpha (1, 1) for [1, -1] and refused)."""
    L = k.layers
    return _seq(k, None, 3, L.PReLU(shared_axes=[1, -1]), L.LSTM(4, return_sequences=True),
                L.PReLU(shared_axes=[-1, 2]), L.PReLU(shared_axes=[1, 0]), L.GRU(3), L.PReLU(shared_axes=[0]))


def _norms_seq(k):
    L = k.layers
    return _seq(k, None, 3, L.Normalization(mean=[0.5, -1.0, 2.0], variance=[4.0, 0.25, 1.0]),
                L.Rescaling([1.0, 0.5, 2.0], [0.1, 0.0, -0.3]), L.LayerNormalization(),
                L.LSTM(6, return_sequences=True), L.LayerNormalization(axis=2, center=False, scale=False, epsilon=1e-5),
                L.BatchNormalization(), L.LayerNormalization(rms_scaling=True), L.GRU(4, return_sequences=True),
                L.BatchNormalization(center=False, epsilon=0.01), L.LayerNormalization(scale=False))


def _norms_vec(k):
    L = k.layers
    return _seq(k, None, 2, L.LSTM(5), L.LayerNormalization(axis=1), L.BatchNormalization(scale=False),
                L.Normalization(axis=-1), L.Rescaling(1 / 255.0, 0.5), L.LayerNormalization(center=False))


def _fold(k):
    """Dense + BatchNormalization folded (with and without bias, on sequences and on the final vector), and
    not folded after a Dense with an activation."""
    L = k.layers
    return _seq(k, None, 3, L.Dense(5), L.BatchNormalization(), L.Dense(4, use_bias=False),
                L.BatchNormalization(scale=False, center=False), L.GRU(6), L.Dense(4, activation="tanh"),
                L.BatchNormalization(), L.Dense(3), L.BatchNormalization(epsilon=1e-5))


def _fold_shared(k):
    """The Dense output is read twice (BatchNormalization and Add): it cannot be folded."""
    L = k.layers
    i = k.Input((None, 3))
    d = L.Dense(4, name="d")(L.LSTM(4, return_sequences=True)(i))
    return k.Model(i, L.Add()([L.BatchNormalization(name="bn")(d), d]))


def _pool_avg(k):
    L = k.layers
    return _seq(k, None, 3, L.LSTM(5, return_sequences=True), L.GlobalAveragePooling1D(), L.Dense(2))


def _pool_max(k):
    L = k.layers
    return _seq(k, 6, 4, L.Dense(5, activation="tanh"), L.GlobalMaxPooling1D(), L.BatchNormalization(),
                L.Softmax())


def _pool_input(k):
    """Both poolings straight on the model input, merged, then a head on the vector."""
    L = k.layers
    i = k.Input((None, 3))
    v = L.Concatenate()([L.GlobalAveragePooling1D()(i), L.GlobalMaxPooling1D()(i)])
    return k.Model(i, L.Dense(2)(L.LayerNormalization()(v)))


def _masked(k):
    """The mask passes through the activation/normalization layers to the LSTM; GlobalAveragePooling1D
    averages over the unmasked steps; GlobalMaxPooling1D ignores the mask, as Keras."""
    L = k.layers
    i = k.Input((None, 3))
    h = L.Masking()(i)
    h = L.LSTM(5, return_sequences=True)(L.PReLU(shared_axes=[1])(L.LayerNormalization()(L.Rescaling(0.5)(h))))
    h = L.BatchNormalization()(L.ReLU(negative_slope=0.1)(h))
    return k.Model(i, L.Concatenate()([L.GlobalAveragePooling1D()(h), L.GlobalMaxPooling1D()(h)]))


def _masked_seq(k):
    L = k.layers
    return _seq(k, None, 2, L.Masking(), L.Activation("tanh"), L.Normalization(mean=0.1, variance=2.0),
                L.ELU(), L.Dense(4), L.BatchNormalization(), L.GRU(3, return_sequences=True), L.LeakyReLU(0.1),
                L.GlobalAveragePooling1D())


def _one_step(k):
    L = k.layers
    return _seq(k, 1, 3, L.LayerNormalization(), L.GRU(4, return_sequences=True), L.GlobalAveragePooling1D(),
                L.ELU(alpha=2.0))


MASKED = {"masked", "masked-seq"}
CASES = [
    Case("acts-seq", _acts_seq, timesteps=8, seed=1), Case("acts-vec", _acts_vec, timesteps=6, seed=2),
    Case("relu-paths", _relu_paths, timesteps=5, seed=3), Case("norms-seq", _norms_seq, timesteps=7, seed=4),
    Case("norms-vec", _norms_vec, timesteps=6, seed=5), Case("fold", _fold, timesteps=6, seed=6),
    Case("fold-shared", _fold_shared, timesteps=5, seed=7), Case("pool-avg", _pool_avg, timesteps=9, seed=8),
    Case("pool-max", _pool_max, timesteps=6, seed=9), Case("pool-input", _pool_input, timesteps=7, seed=10),
    Case("masked", _masked, timesteps=8, seed=11), Case("masked-seq", _masked_seq, timesteps=7, seed=12),
    Case("one-step", _one_step, timesteps=1, seed=13), Case("prelu-axes", _prelu_axes, timesteps=5, seed=14),
]
QUANT_CASES = ("acts-seq", "norms-seq", "fold", "masked")
QUANT = ("float16", "int8")


def PREPARE(cases, keras):
    """helpers.prepare, with trained-looking statistics and padded inputs for the masked cases, and the
    QUANT_CASES also compiled with float16 and int8 weights. {id or (id, weights): (model, x, y, compiled)}"""
    out, sources = {}, {}
    for case in cases:
        model = case.build(keras)
        randomize(model, seed=1000 + case.seed, gain=case.gain, bias_scale=case.bias_scale)
        trained_statistics(model, case.seed)
        x = draw_inputs(model, case)
        if case.id in MASKED:
            x = pad_masked(x)
        out[case.id] = (model, x, keras_truth(model, x))
        sources[case.id] = model
        if case.id in QUANT_CASES:
            for w in QUANT:
                sources[(case.id, w)] = (model, w)
                out[(case.id, w)] = out[case.id]
    return {key: (*out[key], cm) for key, cm in compile_all(sources, prefix="e").items()}


def _outputs(y):
    return list(y) if isinstance(y, (list, tuple)) else [y]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_predict_matches_keras(prepared, case):
    model, x, y, cm = prepared[case.id]
    for c, k in zip(_outputs(cm.predict(x)), _outputs(y)):
        assert_close(c, k, case.id)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_every_layer_every_timestep(prepared, case):
    model, x, y, cm = prepared[case.id]
    report = kerasc.verify(model, x=x, compiled=cm)
    assert report.ok, report.table()
    assert len(report.layers) == len(cm.ir.traced) >= 2


def _close_or_both_nan(c, k, what):
    """assert_close, where NaN in Keras (an average over masked steps only, 0 / 0) must be NaN in the C."""
    nan = np.isnan(k)
    np.testing.assert_array_equal(np.isnan(c), nan, err_msg=f"{what}: NaN where Keras has NaN")
    if not nan.all():
        assert_close(c[~nan], k[~nan], what)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_streaming_gives_the_output_of_every_prefix(prepared, case):
    """NAME_step after step t returns what Keras gives for the sequence cut after t (pooling: over the prefix)."""
    model, x, y, cm = prepared[case.id]
    assert cm.can_stream, case.id
    T = x.shape[1]
    for b in range(x.shape[0]):
        cm.reset()
        for t in range(T):
            c_t = _outputs(cm.step(x[b, t]))
            k_t = _outputs(model(x[b:b + 1, :t + 1], training=False))
            for c, k in zip(c_t, k_t):
                k = np.asarray(k)[0]
                _close_or_both_nan(np.asarray(c), k[-1] if k.ndim == 2 else k, f"{case.id} sample {b} step {t}")


@pytest.mark.parametrize("wtype", QUANT)
@pytest.mark.parametrize("cid", QUANT_CASES)
def test_quantized_weights_within_their_default_tolerance(prepared, cid, wtype):
    """Only Dense and recurrent kernels shrink; these layers keep float32 parameters."""
    model, x, y, cm = prepared[(cid, wtype)]
    assert cm.ir.weight_type == wtype
    report = kerasc.verify(model, x=x, compiled=cm)
    assert report.ok, report.table()
    for n in cm.ir.nodes:
        if n.kind not in ("dense", "lstm", "gru", "simple_rnn"):
            assert all(a.ctype == "float" for a in n.arrays), n.label


def test_folding(prepared):
    """Foldable BatchNormalizations leave no node and are named in the Dense's summary; the others stay."""
    nodes = prepared["fold"][3].ir.nodes
    assert [n.keras_class for n in nodes] == ["Dense", "Dense", "GRU", "Dense", "BatchNormalization", "Dense"]
    folded = [n for n in nodes if n.options.get("folded")]
    assert [n.index for n in folded] == [0, 1, 5]
    assert all("folded into kernel and bias" in n.summary for n in folded)
    assert folded[1].options["use_bias"] and len(folded[1].arrays) == 2  # a bias appears where the Dense had none
    model = prepared["fold"][0]
    traced = [type(model.get_layer(t.keras_layer)).__name__ for t in prepared["fold"][3].ir.traced]
    assert traced == ["BatchNormalization", "BatchNormalization", "GRU", "Dense", "BatchNormalization",
                      "BatchNormalization"]  # a folded Dense is compared where Keras has its BatchNormalization
    shared = prepared["fold-shared"][3].ir.nodes
    assert "BatchNormalization" in [n.keras_class for n in shared] and not any(n.options.get("folded") for n in shared)


def test_inspect_reports_the_fold(prepared):
    from kerasc.describe import from_ir

    rows = from_ir(prepared["fold"][3].ir).layers
    assert [r.keras_class for r in rows] == ["Dense", "BatchNormalization", "Dense", "BatchNormalization", "GRU",
                                             "Dense", "BatchNormalization", "Dense", "BatchNormalization"]
    assert [r.index for r in rows] == list(range(9))
    assert "BatchNormalization" in rows[0].summary and "folded" in rows[0].summary
    bn = rows[1]
    assert bn.options == {"folded_into": rows[0].name} and bn.flash_bytes == 0 and bn.params == 0
    assert bn.input == rows[0].output == bn.output == "(T, 5)"
    assert rows[6].options == {} and rows[6].flash_bytes == 2 * 4 * 4  # not folded: factor and offset


def test_masked_average_over_no_step_is_nan_as_in_keras(prepared):
    """Every step masked: Keras divides 0 by 0; so does the C (no silent 0)."""
    model, x, y, cm = prepared["masked"]
    z = np.zeros_like(x[:1])
    k, c = model(z, training=False).numpy(), cm.predict(z)
    half = k.shape[-1] // 2  # [average, max]
    assert np.all(np.isnan(k[:, :half])) and np.all(np.isnan(c[:, :half]))
    assert_close(c[:, half:], k[:, half:], "max pooling of an all-masked sequence")


def test_hand_computed_2x2(keras):
    """A hand-checkable case: LayerNormalization then GlobalAveragePooling1D of two steps of two features."""
    L = keras.layers
    m = keras.Sequential([keras.Input((2, 2)), L.LayerNormalization(epsilon=0.0), L.GlobalAveragePooling1D(),
                          L.Rescaling(2.0, 1.0)])
    cm = kerasc.compile(m, name="hand2x2")
    x = np.array([[[1.0, 3.0], [4.0, 2.0]]], np.float32)  # steps normalise to [-1, 1] and [1, -1]
    np.testing.assert_allclose(cm.predict(x), [[1.0, 1.0]], atol=1e-6)
    np.testing.assert_allclose(m(x).numpy(), [[1.0, 1.0]], atol=1e-6)


# ------------------------------------------------------------------ refused options

def _refused(keras, layer, match, inputs=(None, 3), before=()):
    from kerasc.lower import lower
    from kerasc.load import load

    m = keras.Sequential([keras.Input(inputs), *before, layer])
    with pytest.raises(kerasc.ConversionError, match=match):
        lower(load(m))


def _patched(keras, layer, key, value, match, inputs=(None, 3)):
    """A config Keras itself may refuse to build (an older or hand-edited file), checked from the record."""
    from kerasc.lower import lower
    from kerasc.load import load

    record = load(keras.Sequential([keras.Input(inputs), layer]))
    record.layers[-1].config[key] = value
    with pytest.raises(kerasc.ConversionError, match=match):
        lower(record)


def test_refused_options(keras):
    L = keras.layers
    _refused(keras, L.Softmax(axis=0, name="sm"), r"'sm' \(Softmax\): axis=0 is not supported; supported: the last "
                                                  r"axis \(-1\)")
    _refused(keras, L.Softmax(name="sm"), r"'sm' \(Softmax\) receives a mask .*supported: Softmax on unmasked",
             before=[L.Masking()])
    _refused(keras, L.Activation("glu", name="act"), r"'act': activation='glu' is not supported \('glu' halves")
    _refused(keras, L.PReLU(name="pr"), r"'pr' \(PReLU\): shared_axes=None on a sequence .*supported: shared_axes "
                                        r"containing 1", inputs=(5, 3))
    _refused(keras, L.PReLU(shared_axes=[2], name="pr"), r"'pr' \(PReLU\): shared_axes=\[2\]", inputs=(5, 3))
    _refused(keras, L.LayerNormalization(axis=1, name="ln"), r"'ln' \(LayerNormalization\): axis=\[1\] is not "
                                                             r"supported; supported: the last axis", inputs=(5, 3))
    _refused(keras, L.LayerNormalization(axis=[1, 2], name="ln"), r"'ln' \(LayerNormalization\): axis=\[1, 2\]",
             inputs=(5, 3))
    _refused(keras, L.BatchNormalization(axis=1, name="bn"), r"'bn' \(BatchNormalization\): axis=1 is not "
                                                             r"supported; supported: the last axis", inputs=(5, 3))
    _refused(keras, L.BatchNormalization(renorm=True, name="bn"), r"'bn' \(BatchNormalization\): renorm=True is not "
                                                                  r"supported; supported: False")
    _refused(keras, L.Normalization(invert=True, mean=0.0, variance=1.0, name="nz"),
             r"'nz' \(Normalization\): invert=True is not supported; supported: False")
    _refused(keras, L.Normalization(axis=1, mean=0.0, variance=1.0, name="nz"), r"'nz' \(Normalization\): axis=\[1\] "
                                                                                 r"is not supported", inputs=(5, 3))
    _refused(keras, L.Normalization(axis=None, mean=0.0, variance=1.0, name="nz"),
             r"'nz' \(Normalization\): axis=\[\] is not supported")
    _refused(keras, L.Rescaling([1.0, 2.0], name="rs"), r"'rs' \(Rescaling\): scale=\[1.0, 2.0\] is not supported; "
                                                        r"supported: a finite number or one per feature \(3\)")
    _refused(keras, L.GlobalAveragePooling1D(keepdims=True, name="gap"), r"'gap' \(GlobalAveragePooling1D\): "
                                                                         r"keepdims=True is not supported; supported: "
                                                                         r"False")
    _refused(keras, L.GlobalMaxPooling1D(data_format="channels_first", name="gmp"),
             r"'gmp' \(GlobalMaxPooling1D\): data_format='channels_first' is not supported; supported: "
             r"'channels_last'")


def test_pooling_a_vector_is_refused(keras):
    """A file whose RNN before the pooling returns a vector (Keras cannot build it; a hand-edited file can say so)."""
    from kerasc.lower import lower
    from kerasc.load import load

    L = keras.layers
    record = load(keras.Sequential([keras.Input((None, 3)), L.LSTM(2, return_sequences=True, name="rnn"),
                                    L.GlobalMaxPooling1D(name="gmp")]))
    next(r for r in record.layers if r.name == "rnn").config["return_sequences"] = False
    with pytest.raises(kerasc.ConversionError, match=r"'gmp' \(GlobalMaxPooling1D\) needs a sequence input "
                                                     r"\(timesteps, features\); it receives a vector of 2"):
        lower(record)


def test_refused_values_in_files(keras):
    L = keras.layers
    _patched(keras, L.ReLU(name="r"), "threshold", -1.0, r"'r' \(ReLU\): threshold=-1.0 is not supported; "
                                                         r"supported: a number >= 0")
    _patched(keras, L.ReLU(name="r"), "max_value", "big", r"'r' \(ReLU\): max_value='big' is not supported; "
                                                          r"supported: a finite number")
    _patched(keras, L.LeakyReLU(name="lr"), "negative_slope", -0.5, r"'lr' \(LeakyReLU\): negative_slope=-0.5")
    _patched(keras, L.ELU(name="e"), "alpha", None, r"'e' \(ELU\): alpha=None is not supported")
    _patched(keras, L.LayerNormalization(name="ln"), "epsilon", -1.0, r"'ln' \(LayerNormalization\): epsilon=-1.0")
    _patched(keras, L.BatchNormalization(name="bn"), "virtual_batch_size", 4,
             r"'bn' \(BatchNormalization\): virtual_batch_size=4 is not supported; supported: None")
    _patched(keras, L.Activation("relu", name="a"), "activation", "no_such", r"'a': activation='no_such' is not "
                                                                             r"supported \(unknown activation")
