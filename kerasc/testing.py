"""kerasc.testing: parity checks for your own test suite, in the spirit of numpy.testing.

    from kerasc.testing import assert_matches_keras
    def test_model_c_matches_keras():
        assert_matches_keras("models/activity.keras")          # every layer, every timestep

On failure the AssertionError names the first layer, timestep and output index that disagree,
both values and the error, and shows the worst offenders and the per-layer table. Compiled
models and Keras models loaded from files are cached for the whole test session.
Importing this module does not import TensorFlow; the first comparison does.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .errors import ConversionError
from .quant import TOLERANCE as _TOLERANCE
from .quant import check_weights, default_tolerance
from .verify import Report

__all__ = ["assert_matches_keras", "compile_for_tests", "default_tolerance", "ModelUnderTest", "SUPPORTED_WEIGHTS"]

# Weight types and their documented default tolerance (atol, rtol) (kerasc.quant); `weights=` selects one.
SUPPORTED_WEIGHTS = tuple(_TOLERANCE)

# Session caches (one Python process = one test session; pytest-xdist workers each have their own).
_compiled: dict[str, Any] = {}  # sha256 of the C sources -> CompiledModel
_irs: dict[tuple, Any] = {}  # (file, mtime, size, name) -> ModelIR
_keras_models: dict[tuple, Any] = {}  # (file, mtime, size) -> Keras model loaded from that file
# (model, verdict, max error, seed) of every comparison made, for the pytest plugin's summary
results: list[tuple[str, bool, float, Optional[int]]] = []


def _file_key(path: Path) -> tuple:
    st = path.stat()
    return (str(path.resolve()), st.st_mtime_ns, st.st_size)


def _is_path(model: Any) -> bool:
    return isinstance(model, (str, os.PathLike))


def _ir(model: Any, name: Optional[str]) -> Any:
    """The IR of a model; files are read once per session (until they change on disk). Live models
    are read every time: their weights may have been changed in place."""
    from .lower import build

    if not _is_path(model):
        return build(model, name)
    path = Path(model)
    if not path.exists():
        raise ConversionError(f"{path}: no such model file")
    key = _file_key(path) + (name,)
    if key not in _irs:
        _irs[key] = build(path, name)
    return _irs[key]


def _keras_model(model: Any) -> Any:
    """The Keras ground truth: a live model as is; a file loaded once per session by the Keras that saved it."""
    from .keras_bridge import load_keras_model

    if not _is_path(model):
        return model
    key = _file_key(Path(model))
    if key not in _keras_models:
        _keras_models[key] = load_keras_model(model)
    return _keras_models[key]


_FLOAT_LITERAL = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?f\b")


def _skeleton(header: str) -> list[str]:
    """A generated header without what changes when only the weights change: the source line, the
    weights hash and the float literals."""
    lines = [" ".join(_FLOAT_LITERAL.sub("#", ln).split()) for ln in header.splitlines()[1:]
             if "Weights SHA-256" not in ln]
    # and the rows of values: they are right-aligned and wrapped by the widths of the literals (the shapes
    # stay in the declarations)
    return [ln for ln in lines if not ("#" in ln and _VALUE_ROW.match(ln))]


_VALUE_ROW = re.compile(r"^[\s#,{}]*;?$")


def _header_sources(ir: Any, header: Path) -> dict[str, str]:
    """The C sources of a header written earlier (e.g. the one committed to a firmware repository),
    checked to come from a model of the same architecture by this kerasc, so the harness built from
    the current model's IR can drive it. Its kc_runtime.h is used when it sits beside it."""
    from .codegen import RUNTIME_HEADER, render_header

    text = header.read_text()
    fresh = render_header(ir)
    old, new = _skeleton(text), _skeleton(fresh)
    if old != new:
        line = next((i for i, (a, b) in enumerate(zip(old, new)) if a != b), min(len(old), len(new)))
        raise AssertionError(
            f"{header} does not come from this model's architecture (or from another kerasc version): line "
            f"{line + 2} differs in more than weight values:\n  header: {old[line] if line < len(old) else '<end>'}"
            f"\n  model:  {new[line] if line < len(new) else '<end>'}\nregenerate it with `kerasc convert`")
    sources = {f"{ir.name}.h": text}
    runtime = header.parent / RUNTIME_HEADER
    if runtime.exists():
        sources[RUNTIME_HEADER] = runtime.read_text()
    return sources


def compile_for_tests(model: Any, name: Optional[str] = None, *, header: Any = None,
                      weights: Optional[str] = None, exact_math: bool = False) -> Any:
    """kerasc.compile(model), cached for the test session: a model whose generated C is the same as
    one compiled before (same header text, i.e. same architecture, weights and kerasc) gets the same
    CompiledModel back; on disk the extension is cached as usual (KERASC_CACHE_DIR).

    header: a header generated earlier (e.g. committed to your firmware repository) to compile instead
    of generating one; it must come from a model of the same architecture (AssertionError otherwise).
    exact_math: build with -DKC_EXACT_MATH (libm's tanhf/expf), as a firmware built that way.
    The returned model is shared: call `reset()` before streaming with `step`."""
    from .codegen import RUNTIME_HEADER, render_header, runtime_source
    from .harness import compile_models, math_defines

    from .quant import quantize

    wtype = check_weights(weights)
    if header is not None:
        header = Path(header)
        name = name or header.stem
    ir = quantize(_ir(model, name), wtype)
    sources = _header_sources(ir, header) if header is not None else {f"{ir.name}.h": render_header(ir)}
    sources.setdefault(RUNTIME_HEADER, runtime_source())
    defines = math_defines(exact_math)
    key = hashlib.sha256("\0".join([*defines, *(f"{k}\0{v}" for k, v in sorted(sources.items()))]).encode()).hexdigest()
    if key not in _compiled:
        _compiled[key] = compile_models([ir], headers=sources, defines=defines)[0]
    return _compiled[key]


def _run_verify(model: Any, x: Any, atol: float, rtol: float, compiled: Any, **kw: Any) -> Report:
    from .verify import verify

    kmodel = _keras_model(model)
    names = [n.keras_name for n in compiled.ir.nodes]
    missing = [n for n in names if n not in {layer.name for layer in kmodel.layers}]
    if missing:
        raise AssertionError(f"the C of model '{compiled.name}' has layers {names}, but the Keras model has no "
                             f"layer named {missing}: it was generated from a different model")
    return verify(kmodel, x=x, atol=atol, rtol=rtol, compiled=compiled, **kw)


def assert_matches_keras(model: Any, x: Any = None, *, atol: Optional[float] = None, rtol: Optional[float] = None,
                         weights: Optional[str] = None, compiled: Any = None, header: Any = None,
                         name: Optional[str] = None, timesteps: Optional[int] = None, batch: Optional[int] = None,
                         seed: int = 0, exact_math: Optional[bool] = None, strict: bool = False,
                         quantize: Optional[str] = None, calibration: Any = None) -> Report:
    """Assert that the C generated for `model` (a keras.Model, or a .keras/.h5 path) computes what Keras
    computes, at every layer and every timestep, within atol + rtol * |keras|.

    x: inputs (batch, timesteps, features) or (batch, features); default: seeded N(0, 1) values
       (`timesteps`, `batch`, `seed`), and the seed is in the message so a failure reproduces.
    atol, rtol: default to the documented tolerance of the weight type (float32: 1e-5, 1e-4).
    weights: the weight type of the generated C: 'float32' (default), 'float16' or 'int8' kernels, compared
             with the float Keras model (kerasc.quant.TOLERANCE holds the default tolerances).
    compiled: a CompiledModel to check instead of compiling `model` (e.g. the C of an earlier retrain).
    header: a generated header to check instead (e.g. the one committed to your firmware repository).
    exact_math: check the build with -DKC_EXACT_MATH (libm's tanhf/expf), if your firmware uses it
                (None: as `compiled` was built, else the default fast tanh/sigmoid).
    strict: tolerance of Keras alone. By default a model that amplifies float32 rounding beyond the tolerance
            passes when the C is as close to exact arithmetic as Keras is (verdict PASS (float32-limited), see
            docs/verify.md; report.outcome says which).

    quantize, calibration: check the integer C instead ('int8' or 'int16x8', calibrated on `calibration`, an array or a .npy
            path; docs/integer.md), against the float Keras model with its default tolerance (kerasc.qint.TOLERANCE);
            compiled may be a CompiledQModel; weights, header and exact_math do not apply.

    Returns the verify Report when it passes; raises AssertionError otherwise."""
    if quantize is not None or calibration is not None:
        return _assert_quantized(model, x, atol, rtol, quantize or "int8", calibration, compiled=compiled, name=name,
                                 timesteps=timesteps, batch=batch, seed=seed,
                                 others={"weights": weights, "header": header, "exact_math": exact_math})
    wtype = check_weights(weights if weights is not None or compiled is None else compiled.ir.weight_type)
    d_atol, d_rtol = _TOLERANCE[wtype]
    atol = d_atol if atol is None else float(atol)
    rtol = d_rtol if rtol is None else float(rtol)
    if compiled is not None and header is not None:
        raise ConversionError("pass either compiled= or header=, not both")
    cm = compiled if compiled is not None else compile_for_tests(model, name, header=header, weights=wtype,
                                                                 exact_math=bool(exact_math))
    report = _run_verify(model, x, atol, rtol, cm, timesteps=timesteps, batch=batch, seed=seed,
                         exact_math=exact_math, strict=strict)
    return _recorded(report)


_compiled_q: dict[tuple, Any] = {}  # (model key, name, quantize, sha256 of the calibration) -> CompiledQModel


def _assert_quantized(model: Any, x: Any, atol: Optional[float], rtol: Optional[float], quantize: str,
                      calibration: Any, *, compiled: Any, name: Optional[str], timesteps: Optional[int],
                      batch: Optional[int], seed: int, others: dict[str, Any]) -> Report:
    from .lower import build
    from .qint import CompiledQModel, check_quantize, quantize_model
    from .verify import verify

    given = [k for k, v in others.items() if v is not None and v is not False]
    if given:
        raise ConversionError(f"quantize={quantize!r} checks the integer C: {', '.join(given)} do not apply to it")
    if _is_path(calibration):
        calibration = np.load(calibration, allow_pickle=False)
    check_quantize(quantize, calibration if compiled is None else "compiled")
    if compiled is None:
        calib = np.ascontiguousarray(calibration, dtype=np.float32)
        key = None
        if _is_path(model):  # files once per session (until they change); live models every time (their
            # weights may have changed in place)
            key = (_file_key(Path(model)), name, quantize, calib.shape, hashlib.sha256(calib.tobytes()).hexdigest())
        compiled = _compiled_q.get(key) if key else None
        if compiled is None:
            compiled = CompiledQModel(quantize_model(_ir(model, name), calib, quantize))
            if key:
                _compiled_q[key] = compiled
    report = verify(_keras_model(model), x=x, atol=atol, rtol=rtol, timesteps=timesteps, batch=batch, seed=seed,
                    compiled=compiled, quantize=quantize)
    return _recorded(report)


def _recorded(report: Report) -> Report:
    """Note a comparison for the pytest plugin's summary; raise the AssertionError of a failed one."""
    results.append((report.model, report.outcome, report.max_abs_err, report.seed))
    if not report.passed:
        from .parity import failure_message

        raise AssertionError(failure_message(report))
    return report


class ModelUnderTest:
    """What the `kerasc_model` pytest fixture returns: a model converted and compiled once per
    session. `header` is the generated NAME.h (kc_runtime.h beside it); `compiled` the CompiledModel."""

    def __init__(self, source: Any, compiled: Any, header: Path):
        self.source = source
        self.compiled = compiled
        self.header = header
        self.name = compiled.name

    def __repr__(self) -> str:
        return f"<kerasc ModelUnderTest '{self.name}' header={self.header}>"

    def predict(self, x: Any) -> np.ndarray:
        return self.compiled.predict(x)

    def reset(self) -> None:
        self.compiled.reset()

    def step(self, x_t: Any) -> np.ndarray:
        return self.compiled.step(x_t)

    def verify(self, x: Any = None, *, atol: Optional[float] = None, rtol: Optional[float] = None,
               weights: Optional[str] = None, **kw: Any) -> Report:
        """The verify Report (no assertion)."""
        d_atol, d_rtol = default_tolerance(weights if weights is not None else self.compiled.ir.weight_type)
        return _run_verify(self.source, x, d_atol if atol is None else float(atol),
                           d_rtol if rtol is None else float(rtol), self.compiled, **kw)

    def assert_matches_keras(self, x: Any = None, *, atol: Optional[float] = None, rtol: Optional[float] = None,
                             weights: Optional[str] = None, **kw: Any) -> Report:
        return assert_matches_keras(self.source, x, atol=atol, rtol=rtol, weights=weights, compiled=self.compiled,
                                    **kw)


class ModelFactory:
    """The `kerasc_model` fixture: `kerasc_model(model, name=None)` converts `model` into the session's
    output directory and compiles it, once per session for each distinct model (and build:
    exact_math=True compiles with -DKC_EXACT_MATH, libm's tanhf/expf, as a firmware built that way)."""

    def __init__(self, out_dir: Path):
        self.out_dir = Path(out_dir)
        self._made: dict[tuple, ModelUnderTest] = {}

    def __call__(self, model: Any, name: Optional[str] = None, *, header: Any = None,
                 weights: Optional[str] = None, exact_math: bool = False) -> ModelUnderTest:
        from .codegen import write_files

        cm = compile_for_tests(model, name, header=header, weights=weights, exact_math=exact_math)
        key = (id(cm), id(model) if not _is_path(model) else str(Path(model).resolve()))
        if key not in self._made:
            if header is not None:
                path = Path(header)
            else:
                out = self.out_dir / cm.name
                n = 1
                while out.exists():
                    n += 1
                    out = self.out_dir / f"{cm.name}-{n}"
                path = write_files(cm.ir, out)[0]
            self._made[key] = ModelUnderTest(model, cm, path)
        return self._made[key]
