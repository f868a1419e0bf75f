"""Keras timed as a user would call it: the eager step of a stateful copy, a tf.function step, predict.
Keras is reached through kerasc.keras_bridge only."""

from __future__ import annotations

import time
from typing import Any, Callable, Optional

import numpy as np

from .settings import Row, Settings


def stateful_step_model(keras: Any, model: Any, features: Optional[int]) -> Any:
    """A copy of `model` that takes one timestep per call (batch 1) and keeps its recurrent state
    (features None: a model of token ids, one int32 per timestep)."""
    from ..layers import traits

    def clone(layer: Any) -> Any:
        cfg = layer.get_config()
        if traits(type(layer).__name__).recurrent:
            cfg["stateful"] = True
        return type(layer).from_config(cfg)

    one_step = keras.Input(batch_shape=(1, 1), dtype="int32") if features is None else \
        keras.Input(batch_shape=(1, 1, features))
    step_model = keras.models.clone_model(model, input_tensors=one_step, clone_function=clone)
    step_model.set_weights(model.get_weights())
    return step_model


def best_of(fn: Callable[[], Any], n: int) -> float:
    fn()
    ts = []
    for _ in range(max(1, n)):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.min(ts))


def keras_timings(keras: Any, model: Any, x: np.ndarray, s: Settings, row: Row, tokens: bool = False) -> None:
    from ..keras_bridge import tf_function

    x1 = x[:, :1]
    try:
        sm = stateful_step_model(keras, model, None if tokens else x.shape[-1])
        row.keras["eager step"] = best_of(lambda: sm(x1, training=False), s.keras_reps)
        fn = tf_function(lambda a: sm(a, training=False))
        row.keras["tf.function step"] = best_of(lambda: fn(x1), s.keras_reps)
        row.keras["predict 1 step"] = best_of(lambda: sm.predict(x1, verbose=0), max(1, s.keras_reps // 4))
    except Exception as exc:  # a model Keras cannot make stateful: say so in the table
        row.notes.append(f"Keras step timings skipped: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}")
    row.keras[f"predict T={x.shape[1]}"] = best_of(lambda: model.predict(x, verbose=0), max(1, s.keras_reps // 5))


def throughput(cm: Any, model: Any, xb: np.ndarray, s: Settings, row: Row) -> None:
    n = max(1, s.keras_reps // 10)
    row.throughput["kerasc"] = len(xb) / best_of(lambda: cm.predict(xb), n)
    if model is not None:
        try:
            row.throughput["keras"] = len(xb) / best_of(lambda: model.predict(xb, batch_size=len(xb), verbose=0), n)
        except Exception as exc:  # e.g. a stateful model built for batch 1: say so in the table
            row.notes.append(f"Keras throughput skipped: {type(exc).__name__}: "
                             f"{str(exc).strip().splitlines()[0][:120]}")
