"""The numeric contract and the parity sweep: many models, Keras' truth for each, all compiled into
one extension per test module (a compile is the slow part)."""

from __future__ import annotations

import importlib

import numpy as np

from .models import draw_inputs, keras_truth, randomize, truth_with_stable_weights

ATOL, RTOL = 1e-5, 1e-4


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


def compile_all(models: dict, prefix: str = "m", defines=()) -> dict:
    """{key: source} -> {key: compiled model}, the one "build IRs, compile, zip with cases" step: every
    source (a Keras model or a saved file, or a (source, weight type) pair for float16/int8 weights) is
    lowered with kerasc.lower.build as prefix0, prefix1, ..., and all are compiled into one extension
    with the C macros `defines`."""
    from kerasc.harness import compile_models
    from kerasc.lower import build
    from kerasc.quant import quantize

    irs = []
    for i, source in enumerate(models.values()):
        if isinstance(source, tuple):
            irs.append(quantize(build(source[0], name=f"{prefix}{i}_{source[1]}"), source[1]))
        else:
            irs.append(build(source, name=f"{prefix}{i}"))
    return dict(zip(models, compile_models(irs, defines)))


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
    models, truth = {}, {}
    for case in cases:
        model = case.build(keras)
        x = draw_inputs(model, case)
        truth[case.id] = (model, x, truth_with_stable_weights(model, x, case))
        models[case.id] = model
    return {cid: (*truth[cid], cm) for cid, cm in compile_all(models, defines=defines).items()}


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
    paths, truth = {}, {}
    for case in cases:
        fw = importlib.import_module(case.framework)
        model = case.build(fw)
        randomize(model, seed=1000 + case.seed, gain=case.gain)
        path = out_dir / f"{case.id}{case.ext}"
        (case.save or (lambda m, p: m.save(str(p))))(model, path)
        if case.patch is not None:
            case.patch(path)
        x = draw_inputs(model, case)
        truth[case.id] = (model, x, keras_truth(model, x))
        paths[case.id] = path
    return {cid: (*truth[cid], cm, paths[cid]) for cid, cm in compile_all(paths).items()}
