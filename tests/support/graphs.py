"""Parity helpers for graph models (several inputs/outputs, masks, stateful layers), against real Keras.

Every case's Keras model gets random weights, its inputs (with masked timesteps when asked), and
Keras' eager outputs as truth; all cases of a test module are compiled into one extension."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

from .models import randomize
from .parity import assert_close, compile_all


@dataclass
class GCase:
    id: str
    build: Callable[[Any], Any]
    timesteps: int = 7  # length of variable-length inputs (an int, or {input name: int})
    batch: int = 3
    seed: int = 0
    gain: float = 1.75
    masked: bool = False  # zero whole timesteps of the sequence inputs (Masking's mask_value 0)
    stateful: bool = False
    factors: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        return self.id


@dataclass
class Prepared:
    model: Any
    x: Any  # one array, or a list in model.inputs order
    y: list  # Keras' outputs, model.outputs order
    cm: Any = None
    x2: Any = None  # stateful cases: a second call's inputs and Keras' outputs for it (state carried)
    y2: Optional[list] = None


def pairwise(factors: dict[str, list], valid: Callable[[dict], bool]) -> list[dict]:
    """A small set of valid combinations in which every pair of factor values that can occur together
    occurs at least once (greedy: each new row covers as many uncovered pairs as possible)."""
    keys = list(factors)
    rows = [dict(zip(keys, combo)) for combo in itertools.product(*factors.values())]
    rows = [r for r in rows if valid(r)]

    def pairs(r: dict) -> set:
        return {((a, r[a]), (b, r[b])) for a, b in itertools.combinations(keys, 2)}

    todo = set().union(*(pairs(r) for r in rows))
    chosen = []
    while todo:
        best = max(rows, key=lambda r: len(pairs(r) & todo))
        chosen.append(best)
        todo -= pairs(best)
    return chosen


def _inputs(model: Any, case: GCase, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    xs = []
    for inp in model.inputs:
        shape = tuple(inp.shape)
        if len(shape) == 3:
            T = shape[1] or (case.timesteps if isinstance(case.timesteps, int)
                             else case.timesteps[inp.name.split(":")[0]])
            x = rng.standard_normal((case.batch, T, shape[2])).astype(np.float32)
            if case.masked:  # post-padding, pre-padding, holes, and a row masked entirely but for one step
                x[0, -2:] = 0.0
                if case.batch > 1:
                    x[1, :2] = 0.0
                if case.batch > 2:
                    x[2, 1::3] = 0.0
                if case.batch > 3:
                    x[3, 1:] = 0.0
        else:
            x = rng.standard_normal((case.batch, shape[1])).astype(np.float32)
        xs.append(x)
    return xs


def _one(xs: list[np.ndarray]) -> Any:
    return xs[0] if len(xs) == 1 else xs


def _listed(y: Any) -> list[np.ndarray]:
    return [np.asarray(a) for a in y] if isinstance(y, (list, tuple)) else [np.asarray(y)]


def keras_outputs(model: Any, xs: list[np.ndarray], check: bool = True) -> list[np.ndarray]:
    ys = _listed(model(_one(xs), training=False))
    if check:  # DESIGN: a chaotic random RNN disagrees with itself; it cannot judge the C
        ys1 = _listed(model(_one([x[:1] for x in xs]), training=False))
        for y, y1 in zip(ys, ys1):
            assert np.allclose(y[:1], y1, atol=1e-6, rtol=1e-5), \
                f"Keras disagrees with itself (batch vs one row) by {np.abs(y[:1] - y1).max():.2e}: weights too chaotic"
    for y in ys:
        assert np.all(np.isfinite(y)), "Keras produced non-finite outputs: pick milder weights"
    return ys


def reset_states(model: Any) -> None:
    for layer in model.layers:
        if getattr(layer, "stateful", False) and hasattr(layer, "reset_states"):
            layer.reset_states()


def prepare_graph(cases: list[GCase], keras: Any) -> dict[str, Prepared]:
    out: dict[str, Prepared] = {}
    for case in cases:
        model = case.build(keras)
        randomize(model, 1000 + case.seed, case.gain)
        xs = _inputs(model, case, case.seed)
        if case.stateful:
            # A stateful model only runs its fixed batch size, so Keras' batch-vs-one-row self-check
            # cannot run; these cases use a milder gain. Two calls in a row carry the state.
            reset_states(model)
            y = keras_outputs(model, xs, check=False)
            xs2 = _inputs(model, case, case.seed + 1)
            y2 = keras_outputs(model, xs2, check=False)
            reset_states(model)
            prep = Prepared(model, _one(xs), y, None, _one(xs2), y2)
        else:
            prep = Prepared(model, _one(xs), keras_outputs(model, xs))
        out[case.id] = prep
    for cid, cm in compile_all({cid: p.model for cid, p in out.items()}, prefix="g").items():
        out[cid].cm = cm
    return out


def check_predict(p: Prepared, what: str) -> float:
    worst = 0.0
    p.cm.reset()
    got = _listed(p.cm.predict(p.x))
    assert len(got) == len(p.y), f"{what}: {len(got)} outputs, Keras has {len(p.y)}"
    for k, (c, y) in enumerate(zip(got, p.y)):
        worst = max(worst, assert_close(c, y, f"{what} output {k}"))
    if p.y2 is not None:  # stateful: the second call continues from the first call's state
        for k, (c, y) in enumerate(zip(_listed(p.cm.predict(p.x2)), p.y2)):
            worst = max(worst, assert_close(c, y, f"{what} second call (state kept) output {k}"))
        p.cm.reset()  # Keras' reset_states(): the first call's result again
        for k, (c, y) in enumerate(zip(_listed(p.cm.predict(p.x)), p.y)):
            assert_close(c, y, f"{what} after reset output {k}")
        p.cm.reset()
    return worst


def check_layers(p: Prepared, what: str) -> int:
    """Every Keras layer output (every port) at every timestep: the C trace against Keras sub-models."""
    from kerasc.keras_bridge import keras_tensor_outputs

    reset_states(p.model)
    p.cm.reset()
    c_y, c_layers = p.cm.trace(p.x)
    p.cm.reset()
    for c, y in zip(_listed(c_y), _listed(p.cm.predict(p.x))):
        np.testing.assert_array_equal(c, y)  # tracing changes no arithmetic
    p.cm.reset()
    traced = p.cm.ir.traced
    k_layers = keras_tensor_outputs(p.model, [(t.keras_layer, t.keras_port) for t in traced], p.x)
    reset_states(p.model)
    assert len(c_layers) == len(k_layers) == len(traced) > 0
    for t, c, k in zip(traced, c_layers, k_layers):
        assert_close(c, k.reshape(c.shape), f"{what} layer '{t.keras_layer}' output {t.keras_port}")
    return len(traced)


def check_stream(p: Prepared, what: str) -> None:
    """NAME_step over a sequence gives, at each step, what predict gives for that timestep (sequence
    outputs) and, at the last step, predict's vector outputs; predict itself is checked against Keras."""
    cm, ir = p.cm, p.cm.ir
    xs = p.x if isinstance(p.x, list) else [p.x]
    seq_k = [k for k, ti in enumerate(ir.inputs) if ir.tensors[ti].seq]
    vec_k = [k for k, ti in enumerate(ir.inputs) if not ir.tensors[ti].seq]
    T = xs[seq_k[0]].shape[1]
    for b in range(xs[0].shape[0]):
        if vec_k:
            cm.reset_from(*[xs[k][b] for k in vec_k])
        else:
            cm.reset()
        for t in range(T):
            got = _listed(cm.step(*[xs[k][b, t] for k in seq_k]))
            for o, (c, ti) in enumerate(zip(got, ir.outputs)):
                ref = p.y[o][b, t] if ir.tensors[ti].seq else (p.y[o][b] if t == T - 1 else None)
                if ref is not None:
                    assert_close(c, ref, f"{what} step {t} row {b} output {o}")
    cm.reset()
