"""Folding BatchNormalization into the Dense before it keeps the numeric contract: over random layer sizes,
with and without a Dense bias, and moving statistics from 1e-3 to 1e2 (variance) with means of the size of
the outputs, the folded C agrees with Keras' unfolded Dense + BatchNormalization within atol 1e-5 +
rtol 1e-4 (measured: at most about 0.2 of that tolerance; docs/layers-around.md "Activation layers, normalizations")."""

import numpy as np
import pytest

from tests.support.models import randomize
from tests.support.parity import assert_close, ATOL, compile_all, RTOL

N = 16


@pytest.fixture(scope="module")
def folded(keras):
    L = keras.layers
    rng = np.random.default_rng(0)
    models, xs = [], []
    for i in range(N):
        F, U = int(rng.integers(1, 48)), int(rng.integers(1, 48))
        m = keras.Sequential([keras.Input((None, F)), L.Dense(U, use_bias=bool(i % 2)), L.BatchNormalization()])
        randomize(m, seed=i)
        scale = 10.0 ** rng.uniform(-3, 2)
        ws = m.layers[1].get_weights()
        ws[-2] = rng.normal(0, 3 * np.sqrt(scale), U).astype(np.float32)
        ws[-1] = (scale * rng.uniform(0.2, 5, U)).astype(np.float32)
        m.layers[1].set_weights(ws)
        models.append(m)
        xs.append(rng.standard_normal((3, 12, F)).astype(np.float32))
    return list(zip(models, xs, compile_all(dict(enumerate(models)), prefix="fold").values()))


def test_folded_within_the_float32_contract(folded):
    worst = 0.0
    for i, (m, x, cm) in enumerate(folded):
        assert cm.ir.nodes[0].options["folded"] == m.layers[1].name and len(cm.ir.nodes) == 1
        k = m(x, training=False).numpy()
        c = cm.predict(x)
        assert_close(c, k, f"model {i}")
        worst = max(worst, float((np.abs(c.astype(np.float64) - k) / (ATOL + RTOL * np.abs(k))).max()))
    assert worst < 0.5, f"folding uses {worst:.2f} of the tolerance"
