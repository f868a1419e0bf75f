"""Masks through Concatenate in Keras 3 Functional models: Keras 3's Concatenate ORs the feature masks
of its inputs (all True for an unmasked input) and its other merges OR the input masks, so a masked
sequence concatenated with an unmasked one gives the layers downstream a mask that is True everywhere:
they run unmasked. Before the fix kerasc carried the Embedding/Masking mask on and skipped timesteps
Keras computes; and Keras 3's Add of a masked and an unmasked input has no mask at all. Real Keras
output is the truth; the models share one extension."""

import numpy as np
import pytest

from tests.support.models import randomize
from tests.support.parity import assert_close, compile_all


@pytest.fixture(scope="module")
def compiled(keras):
    K, L = keras, keras.layers
    rng = np.random.default_rng(3)
    tok = rng.integers(1, 10, (3, 7)).astype(np.int32)
    tok[0, :] = 0
    tok[1, 3:] = 0
    tok[2, :2] = 0
    other = rng.integers(0, 7, (3, 7)).astype(np.int32)

    a, b = K.Input((None,), dtype="int32"), K.Input((None,), dtype="int32")
    h = L.Concatenate()([L.Embedding(10, 3, mask_zero=True)(a), L.Embedding(7, 2)(b)])
    emb = randomize(K.Model([a, b], L.LSTM(3)(h)), seed=1)

    xf = rng.standard_normal((3, 7, 2)).astype(np.float32)
    xf[0] = 0.0
    xf[1, 3:] = 0.0
    c, d = K.Input((None, 2)), K.Input((None, 2))
    m = L.Masking()(c)
    g = L.Add()([L.Dense(4)(m), L.Concatenate()([m, d])])
    add = randomize(K.Model([c, d], [L.GRU(3)(g), L.GlobalAveragePooling1D()(g)]), seed=2)

    e, f = K.Input((None, 2)), K.Input((None, 2))
    m2 = L.Masking()(e)
    cat = L.Concatenate()([L.Add()([m2, f]), m2])  # Keras 3: Add(masked, unmasked) has no mask
    nomask = randomize(K.Model([e, f], L.LSTM(3)(cat)), seed=3)

    xo = rng.standard_normal((3, 7, 2)).astype(np.float32)
    cases = [(emb, [tok, other]), (add, [xf, xo]), (nomask, [xf, xo])]
    cms = compile_all({i: mdl for i, (mdl, _) in enumerate(cases)}, prefix="mcat")
    return [(mdl, x, cm) for (mdl, x), cm in zip(cases, cms.values())]


def _outputs(y):
    return [np.asarray(v) for v in (y if isinstance(y, (list, tuple)) else [y])]


def test_embedding_mask_concatenated_with_unmasked_runs_unmasked(compiled):
    model, x, cm = compiled[0]
    for c, k in zip(_outputs(cm.predict(x)), _outputs(model(x, training=False))):
        assert_close(c, k, "Concatenate(Embedding(mask_zero), Embedding) -> LSTM")


def test_all_true_mask_survives_add_and_pooling(compiled):
    model, x, cm = compiled[1]
    cs, ks = _outputs(cm.predict(x)), _outputs(model(x, training=False))
    assert len(cs) == len(ks) == 2
    for c, k, what in zip(cs, ks, ("GRU", "GlobalAveragePooling1D")):
        assert_close(c, k, f"Add(Dense(masked), Concatenate(masked, unmasked)) -> {what}")



def test_add_of_masked_and_unmasked_drops_the_mask(compiled):
    model, x, cm = compiled[2]
    assert_close(np.asarray(cm.predict(x)), np.asarray(model(x, training=False)),
                 "Concatenate(Add(masked, unmasked), masked) -> LSTM")
