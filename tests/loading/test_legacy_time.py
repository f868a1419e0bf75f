"""Conv1D, pooling and time-axis layers in files saved by Keras 2 (tf_keras .h5, Sequential and
Functional) and by Keras 3 (.keras): kerasc reads only the file; ground truth is the Keras that saved
it, called eagerly on the live model (Keras 2's own predictions for Keras 2 files)."""

import numpy as np
import pytest

from tests.support.parity import assert_close, prepare_saved, SavedCase


def _functional_conv_pool(tk):
    i = tk.Input((None, 3))
    a = tk.layers.Conv1D(4, 3, padding="same", activation="relu")(i)
    b = tk.layers.MaxPooling1D(2, padding="same")(a)
    c = tk.layers.Conv1D(4, 2, strides=2)(b)
    d = tk.layers.AveragePooling1D(2, strides=1)(c)
    return tk.Model(i, tk.layers.Dense(2)(tk.layers.GRU(3)(d)))


CASES = [
    SavedCase("k2-seq-causal-lstm", lambda tk: tk.Sequential([
        tk.Input((None, 3)), tk.layers.Conv1D(4, 3, padding="causal", dilation_rate=2, activation="tanh"),
        tk.layers.Conv1D(4, 2, padding="causal", groups=2), tk.layers.LSTM(4, return_sequences=True),
        tk.layers.Dense(2)]), timesteps=9, seed=1),
    SavedCase("k2-fun-conv-pool-gru", _functional_conv_pool, timesteps=12, seed=2),
    SavedCase("k2-seq-flatten", lambda tk: tk.Sequential([
        tk.Input((8, 2)), tk.layers.ZeroPadding1D((1, 2)), tk.layers.Conv1D(3, 3, activation="relu"),
        tk.layers.Cropping1D((1, 0)), tk.layers.MaxPooling1D(2), tk.layers.Flatten(),
        tk.layers.Dense(2, activation="softmax")]), seed=3),
    SavedCase("k2-autoencoder", lambda tk: tk.Sequential([
        tk.Input((None, 3)), tk.layers.LSTM(5), tk.layers.RepeatVector(4), tk.layers.LSTM(5, return_sequences=True),
        tk.layers.TimeDistributed(tk.layers.Dense(3))]), seed=4),
    SavedCase("k2-reshape-permute", lambda tk: tk.Sequential([
        tk.Input((6,)), tk.layers.Dense(8), tk.layers.Reshape((4, 2)), tk.layers.Permute((2, 1)),
        tk.layers.SimpleRNN(3)]), seed=5),
    SavedCase("k3-keras-causal-same", lambda k: k.Sequential([
        k.Input((None, 2)), k.layers.Conv1D(3, 2, padding="causal"), k.layers.Conv1D(3, 4, padding="same", strides=2),
        k.layers.GRU(3, return_sequences=True)]), framework="keras", ext=".keras", timesteps=9, seed=6),
]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    return prepare_saved(CASES, tmp_path_factory.mktemp("legacy_time"))


@pytest.mark.parametrize("case", CASES, ids=str)
def test_file_matches_the_keras_that_saved_it(prepared, case):
    model, x, y, cm, path = prepared[case.id]
    assert cm.ir.keras_version.startswith("2.") == (case.framework == "tf_keras")
    assert_close(cm.predict(x), y, case.id)
    if cm.ir.causal:  # streaming gives the same sequence
        cm.reset()
        steps = np.stack([cm.step(x[0, t]) for t in range(x.shape[1])])
        assert_close(steps, y[0], f"{case.id} streaming")
    else:
        assert cm.ir.stream_note


def test_causal_keras2_file_streams(prepared):
    assert prepared["k2-seq-causal-lstm"][3].ir.causal
