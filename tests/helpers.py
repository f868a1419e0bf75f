"""Helpers for parity tests: random weights that saturate without chaos, Keras self-checks."""

from __future__ import annotations

import numpy as np

ATOL, RTOL = 1e-5, 1e-4


def randomize(model, seed: int, gain: float = 1.75, bias_scale: float = 0.5):
    """Weights N(0, gain / sqrt(fan_in)) (DESIGN: saturating but not chaotic), biases N(0, bias_scale)."""
    rng = np.random.default_rng(seed)
    new = []
    for w in model.get_weights():
        if w.ndim >= 2 and w.shape[0] > 0 and not (w.ndim == 2 and w.shape[0] == 2 and w.shape[1] % 3 == 0
                                                   and _is_gru_bias(model, w)):
            new.append(rng.normal(0, gain / np.sqrt(w.shape[0]), w.shape).astype(np.float32))
        else:
            new.append(rng.normal(0, bias_scale, w.shape).astype(np.float32))
    model.set_weights(new)
    return model


def _is_gru_bias(model, w) -> bool:
    for layer in model.layers:
        if type(layer).__name__ == "GRU" and layer.use_bias and layer.reset_after:
            if tuple(layer.get_weights()[-1].shape) == tuple(w.shape):
                return True
    return False


def _numpy(t):
    return t.numpy() if hasattr(t, "numpy") else np.asarray(t)


def keras_truth(model, x: np.ndarray) -> np.ndarray:
    """Keras' output for x, checked to be self-consistent first (DESIGN: chaotic random RNNs
    disagree with themselves; such a model cannot judge the C)."""
    y = _numpy(model(x, training=False))
    y1 = _numpy(model(x[:1], training=False))
    assert np.allclose(y[:1], y1, atol=1e-6, rtol=1e-5), \
        f"Keras disagrees with itself (batch of {len(x)} vs 1) by {np.abs(y[:1] - y1).max():.2e}: weights too chaotic"
    assert np.all(np.isfinite(y)), "Keras produced non-finite outputs: pick milder weights"
    return y


def assert_close(c: np.ndarray, k: np.ndarray, what: str, atol: float = ATOL, rtol: float = RTOL) -> float:
    """The numeric contract: |c - k| <= atol + rtol * |k| everywhere; returns the max error."""
    assert c.shape == k.shape, f"{what}: shape {c.shape} != Keras {k.shape}"
    err = np.abs(c.astype(np.float64) - k)
    tol = atol + rtol * np.abs(k)
    if not np.all(err <= tol):
        idx = np.unravel_index(int(np.argmax(err - tol)), err.shape)
        raise AssertionError(f"{what}: C {c[idx]!r} vs Keras {k[idx]!r} at {idx}, |err| {err[idx]:.3e} "
                             f"(max {err.max():.3e}, tolerance atol {atol} + rtol {rtol})")
    return float(err.max())


def draw_inputs(model, case) -> np.ndarray:
    """N(0, 1) inputs for the model's one input: (batch, T, features) or (batch, features), seeded by the case."""
    rng = np.random.default_rng(case.seed)
    shape = model.inputs[0].shape
    if len(shape) == 3:
        return rng.standard_normal((case.batch, shape[1] or case.timesteps, shape[2])).astype(np.float32)
    return rng.standard_normal((case.batch, shape[1])).astype(np.float32)


def truth_with_stable_weights(model, x, case):
    """Randomise with the case's gain; where Keras is not self-consistent at that gain (activations
    that amplify, e.g. a GRU gated by log_sigmoid), halve it, at most twice. Returns Keras' output."""
    gain, bias = case.gain, case.bias_scale
    for attempt in range(3):
        randomize(model, seed=1000 + case.seed, gain=gain, bias_scale=bias)
        try:
            return keras_truth(model, x)
        except AssertionError as exc:
            if attempt == 2:
                raise AssertionError(f"case {case.id}: {exc}") from None
            gain, bias = gain / 2, bias / 2


class Case:
    """One model of a parity sweep: built lazily (Keras), compiled together with its module's cases."""

    def __init__(self, cid: str, build, timesteps: int = 7, batch: int = 3, seed: int = 0, gain: float = 1.75,
                 bias_scale: float = 0.5):
        self.id, self.build, self.timesteps, self.batch, self.seed = cid, build, timesteps, batch, seed
        self.gain, self.bias_scale = gain, bias_scale

    def __repr__(self) -> str:
        return self.id


def prepare(cases, keras, defines=()):
    """Build every case's Keras model with random weights, take Keras' truth, and compile all
    generated headers into one extension (with the C macros `defines`).
    Returns {case id: (model, x, keras_y, compiled)}."""
    from kerasc.lower import build
    from kerasc.harness import compile_models

    prepared = {}
    irs = []
    for i, case in enumerate(cases):
        model = case.build(keras)
        x = draw_inputs(model, case)
        y = truth_with_stable_weights(model, x, case)
        irs.append(build(model, name=f"m{i}"))
        prepared[case.id] = [model, x, y, None]
    for case, cm in zip(cases, compile_models(irs, defines)):
        prepared[case.id][3] = cm
    return {k: tuple(v) for k, v in prepared.items()}


class SavedCase:
    """One model of a file-based sweep: built with `framework` (tf_keras for Keras 2 files, or keras),
    given random weights, written by `save(model, path)` (default: model.save), optionally rewritten
    by `patch(path)` (to imitate what older Keras versions wrote), then converted from the file."""

    def __init__(self, cid: str, build, *, framework: str = "tf_keras", ext: str = ".h5", save=None, patch=None,
                 timesteps: int = 6, batch: int = 3, seed: int = 0, gain: float = 1.75):
        self.id, self.build, self.framework, self.ext = cid, build, framework, ext
        self.save, self.patch = save, patch
        self.timesteps, self.batch, self.seed, self.gain = timesteps, batch, seed, gain

    def __repr__(self) -> str:
        return self.id


def prepare_saved(cases, out_dir):
    """Like prepare(), from saved files: ground truth from the framework that saved each file (its eager
    call), the C from kerasc reading the file. Returns {case id: (model, x, keras_y, compiled, path)}."""
    import importlib

    from kerasc.lower import build
    from kerasc.harness import compile_models

    prepared = {}
    irs = []
    for i, case in enumerate(cases):
        fw = importlib.import_module(case.framework)
        model = case.build(fw)
        randomize(model, seed=1000 + case.seed, gain=case.gain)
        path = out_dir / f"{case.id}{case.ext}"
        (case.save or (lambda m, p: m.save(str(p))))(model, path)
        if case.patch is not None:
            case.patch(path)
        x = draw_inputs(model, case)
        y = keras_truth(model, x)
        irs.append(build(path, name=f"m{i}"))
        prepared[case.id] = [model, x, y, None, path]
    for case, cm in zip(cases, compile_models(irs)):
        prepared[case.id][3] = cm
    return {k: tuple(v) for k, v in prepared.items()}
