"""verify: the same input through Keras and through the generated C, compared at every
Keras layer boundary and every timestep. Keras is the ground truth (needs `kerasc[verify]`).

The Report keeps, per layer, the largest error at every timestep (`LayerResult.err_t`) and how
close it came to the tolerance (`tol_ratio_t`); kerasc.report turns it into a plot and an HTML page."""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from .errors import ConversionError, printable
from .keras_bridge import keras_tensor_outputs, load_keras_model, reset_keras_states
from .progress import NULL, Progress

DEFAULT_ATOL = 1e-5
DEFAULT_RTOL = 1e-4
DEFAULT_TIMESTEPS = 16
DEFAULT_BATCH = 2
MAX_TIMESTEPS = (1 << 31) - 1  # NAME_predict takes `int timesteps`
MAX_RANDOM_INPUT_BYTES = 1 << 30  # random inputs verify generates (the C and Keras each hold a copy)


@dataclass
class LayerResult:
    index: int
    name: str
    keras_class: str
    shape: tuple
    max_abs_err: float
    max_rel_err: float
    worst_t: Optional[int]  # timestep of the largest error (None for vector outputs)
    mismatches: int  # values outside atol + rtol * |keras|
    first_bad: Optional[str] = None  # where the first mismatch is, in words
    # Largest |err| / (atol + rtol * |keras|) over the whole output: above 1 is a mismatch.
    max_tol_ratio: float = 0.0
    # Sequence outputs: per timestep, the largest |err| and the largest err / tolerance over batch
    # and units, shape (T,). None for vector outputs (and for outputs whose shape is wrong).
    err_t: Optional[np.ndarray] = field(default=None, repr=False, compare=False)
    tol_ratio_t: Optional[np.ndarray] = field(default=None, repr=False, compare=False)
    # Values NaN on both sides or the same infinity on both sides (agreement, not in the errors above),
    # and the number of finite pairs the errors are measured over (-1: not known).
    nonfinite_agree: int = 0
    finite_compared: int = -1

    @property
    def ok(self) -> bool:
        return self.mismatches == 0


@dataclass
class Report:
    model: str
    atol: float
    rtol: float
    input_shape: tuple
    seed: Optional[int]
    layers: list[LayerResult] = field(default_factory=list)
    output_max_abs_err: float = 0.0
    # (C, Keras) outputs of each layer, as compared; kerasc.parity lists the values that disagree
    values: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list, repr=False, compare=False)
    inputs: str = ""  # where the inputs came from, in words
    environment: dict[str, str] = field(default_factory=dict)  # versions of everything that computed
    ir: Any = field(default=None, repr=False, compare=False)  # the ModelIR the C was generated from
    # the exact reference (kerasc.conditioning.Exactness: the double build, per layer); None with strict
    exact: Any = field(default=None, repr=False, compare=False)
    strict: bool = False  # the verdict is tolerance of Keras alone (PASS or FAIL)
    quantize: Optional[str] = None  # "int8": the integer C (kerasc.qint) against the float Keras model
    agreement: Optional[float] = None  # quantize: share of sequences whose output argmax equals Keras'

    @property
    def timesteps(self) -> Optional[int]:
        """Length of the input sequences (None when the input has no time axis)."""
        shape = self.input_shape[0] if self.input_shape and isinstance(self.input_shape[0], tuple) else self.input_shape
        if self.ir is not None and self.ir.input_ctypes[0] != "float":  # token ids: (batch, timesteps)
            return int(shape[1])
        return int(shape[1]) if len(shape) == 3 else None

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.layers)

    @property
    def verdict(self) -> Any:
        """kerasc.conditioning.Verdict: PASS, PASS (float32-limited) or FAIL, with its sentence."""
        from .conditioning import verdict

        return verdict(self, self.strict)

    @property
    def outcome(self) -> str:
        return self.verdict.outcome

    @property
    def passed(self) -> bool:
        """PASS or PASS (float32-limited)."""
        return self.outcome != "FAIL"

    @property
    def exit_code(self) -> int:
        """Of `kerasc verify`: 0 PASS, 4 PASS (float32-limited), 1 FAIL."""
        from .conditioning import EXIT_CODES

        return EXIT_CODES[self.outcome]

    @property
    def first_failure(self) -> Optional[LayerResult]:
        return next((r for r in self.layers if not r.ok), None)

    @property
    def max_abs_err(self) -> float:
        return max([r.max_abs_err for r in self.layers] + [0.0])

    def table(self) -> str:
        ex = self.exact
        head = f"{'layer':<28} {'class':<15} {'output shape':<16} {'max |err|':>10} {'max rel':>9} {'worst t':>8}"
        if ex is not None:
            head += f" {'C-exact':>9} {'K-exact':>9} {'sensitiv':>9}"
        head += "  status"
        lines = [head, "-" * len(head)]
        for i, r in enumerate(self.layers):
            label = printable(f"[{r.index}] {r.name}")
            wt = "-" if r.worst_t is None else str(r.worst_t)
            status = "ok" if r.ok else f"MISMATCH ({r.mismatches})"
            if r.nonfinite_agree:
                status += f" ({r.nonfinite_agree} NaN or infinite in both)"
            extra = ""
            if ex is not None and i < len(ex.layers):
                le = ex.layers[i]
                extra = "".join(f" {v:>9.2e}" if np.isfinite(v) else f" {'-':>9}"  # non-finite: nothing measured
                                for v in (le.max_ce, le.max_ke, le.max_sens))
            if r.finite_compared == 0:  # nothing finite compared: no error to show
                errs = f"{'-':>10} {'-':>9}"
            else:
                errs = f"{r.max_abs_err:>10.2e} {r.max_rel_err:>9.1e}"
            lines.append(f"{label[:28]:<28} {r.keras_class[:15]:<15} {str(r.shape):<16} {errs} {wt:>8}{extra}  {status}")
        v = self.verdict
        agree = sum(r.nonfinite_agree for r in self.layers)
        lines.append(f"{v.outcome}: {self.model}, input {self.input_shape}"
                     f"{'' if self.seed is None else f' (random, seed {self.seed})'}, tolerance atol {self.atol:g} + "
                     f"rtol {self.rtol:g} * |keras|; max error {self.max_abs_err:.2e}"
                     + (f" over the finite values; {agree} values NaN or the same infinity in both C and Keras "
                        "count as agreement" if agree else ""))
        if self.quantize:
            lines.append(f"integer C (--quantize {self.quantize}) against the float Keras model"
                         + (f"; output argmax agrees with Keras on {self.agreement:.1%} of the sequences"
                            if self.agreement is not None else ""))
        if ex is not None:
            lines.append(f"exact reference: the C in double precision (C-exact: float32 C vs it, K-exact: Keras vs "
                         f"it; sensitivity: its largest movement under 1-ulp noise on the {ex.perturbed}, "
                         f"{ex.copies} copies)")
        bad = self.first_failure
        if bad is not None:
            lines.append(f"first disagreement: {bad.first_bad}")
        if v.sentence and not v.sentence.startswith("first disagreement:"):
            lines.append(("float32-limited: " if v.outcome != "FAIL" else "verdict: ") + v.sentence)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def make_inputs(ir: Any, timesteps: Optional[int], batch: Optional[int], seed: int) -> Any:
    """Seeded N(0, 1) inputs: one array, or a list in model.inputs order. Sequences that meet inside
    the model get the same length; a model's fixed lengths win over `timesteps`. Inputs of token ids
    get uniform int32 tokens in [0, input_dim), shape (batch, timesteps)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConversionError(f"seed {seed!r} is not a non-negative integer")
    rng = np.random.default_rng(seed)
    B = batch or DEFAULT_BATCH
    xs = []
    for k, ti in enumerate(ir.inputs):
        t = ir.tensors[ti]
        if t.seq:
            fixed = ir.input_timesteps[t.domain] or ir.input_timesteps[k]
            if fixed and timesteps and timesteps != fixed:
                raise ConversionError(f"the model was built for {fixed} timesteps; --timesteps {timesteps} "
                                      "cannot be used")
            T = fixed or timesteps or DEFAULT_TIMESTEPS
            if T > MAX_TIMESTEPS:
                raise ConversionError(f"--timesteps {T}: at most {MAX_TIMESTEPS} (NAME_predict takes an int)")
            nbytes = B * T * (1 if t.ctype != "float" else t.width) * 4
            if nbytes > MAX_RANDOM_INPUT_BYTES:
                raise ConversionError(f"random inputs of {B} x {T} timesteps x {t.width} would take {nbytes} bytes; "
                                      f"kerasc generates at most {MAX_RANDOM_INPUT_BYTES} (lower --timesteps or "
                                      "--batch)")
            if t.ctype != "float":
                xs.append(rng.integers(0, ir.token_limit(k), (B, T)).astype(np.int32))
                continue
            xs.append(rng.standard_normal((B, T, t.width)).astype(np.float32))
        else:
            xs.append(rng.standard_normal((B, t.width)).astype(np.float32))
    return xs[0] if len(xs) == 1 else xs


def fixed_batch(model: Any) -> Optional[int]:
    """The batch size a model's first input was built for (stateful models fix it), None if any."""
    from .load import load

    record = load(model)
    by_name = {r.name: r for r in record.layers}
    first = by_name.get(record.inputs[0][0]) if record.inputs else None
    if first is None:
        return None
    shape = first.config.get("batch_shape") or first.config.get("batch_input_shape")
    size = shape[0] if isinstance(shape, (list, tuple)) and shape else first.config.get("batch_size")
    return size if isinstance(size, int) and not isinstance(size, bool) and size > 0 else None


def as_input(ir: Any, k: int, a: Any) -> np.ndarray:
    """Input k as the C takes it: float32, or int32 token ids (kerasc.harness.token_ids)."""
    kind = np.asarray(a).dtype.kind
    if kind not in "biuf":
        raise ConversionError(f"input {k} holds {np.asarray(a).dtype} values; inputs must be numbers "
                              "(floats, or integer token ids)")
    if k < len(ir.inputs) and ir.tensors[ir.inputs[k]].ctype != "float":
        from .harness import token_ids

        return token_ids(a)
    return np.asarray(a, dtype=np.float32)


def check_inputs(ir: Any, x: Any) -> None:
    """Refuse inputs that do not fit the model, in words (before the slow part of verify)."""
    if isinstance(x, list):
        if len(x) != len(ir.inputs):
            raise ConversionError(f"{len(x)} input arrays given; model '{ir.name}' takes {len(ir.inputs)}")
        return
    if ir.has_tokens:
        want = f"token ids (batch, {ir.timesteps or 'timesteps'})"
        fits = x.ndim == 2 and x.shape[0] >= 1 and x.shape[1] >= 1 and ir.timesteps in (None, x.shape[1])
        if not fits:
            raise ConversionError(f"inputs of shape {tuple(x.shape)} do not fit model '{ir.name}', which takes {want}")
        return
    seq = ir.input_seq
    want = (f"(batch, {ir.timesteps or 'timesteps'}, {ir.input_width})" if seq else f"(batch, {ir.input_width})")
    fits = x.ndim == (3 if seq else 2) and x.shape[-1] == ir.input_width and x.shape[0] >= 1
    if fits and seq:
        fits = x.shape[1] >= 1 and (ir.timesteps is None or x.shape[1] == ir.timesteps)
    if not fits:
        raise ConversionError(f"inputs of shape {tuple(x.shape)} do not fit model '{ir.name}', which takes {want}")
    if seq:  # layers that shorten the time axis (valid convolution, pooling, cropping) need enough steps
        for d in sorted({t.domain for t in ir.tensors if t.seq and ir.domains[t.domain].derived}):
            if ir.length(d, {ir.tensors[ir.inputs[0]].domain: x.shape[1]}) < 1:
                raise ConversionError(f"{x.shape[1]} timesteps are too few for model '{ir.name}': "
                                      f"{ir.domains[d].why} leaves no timestep")


def compare(index: int, name: str, cls: str, c: np.ndarray, k: np.ndarray, atol: float, rtol: float) -> LayerResult:
    """Errors of one layer's C output against Keras', per timestep."""
    if c.shape != k.shape:
        return LayerResult(index, name, cls, tuple(k.shape), float("inf"), float("inf"), None, int(k.size),
                           f"layer [{index}] '{name}': C output shape {c.shape} != Keras {k.shape}")
    c64, k64 = c.astype(np.float64), k.astype(np.float64)
    finite = np.isfinite(c64) & np.isfinite(k64)
    # NaN on both sides, or the same infinity on both sides, is agreement (counted and reported as such);
    # a non-finite value on one side only is a mismatch; errors are measured over the finite pairs.
    agree_nf = (np.isnan(c64) & np.isnan(k64)) | (np.isinf(c64) & np.isinf(k64) & (np.sign(c64) == np.sign(k64)))
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(np.where(finite, c64, 0.0) - np.where(finite, k64, 0.0))
    err = np.where(finite, diff, np.where(agree_nf, 0.0, np.inf))
    tol = np.where(finite, atol + rtol * np.abs(np.where(finite, k64, 0.0)), atol)
    bad = err > tol
    rel = np.where(finite, diff / np.maximum(np.abs(np.where(finite, k64, 0.0)), 1e-30),
                   np.where(agree_nf, 0.0, np.inf))
    ratio = np.where(tol > 0, err / np.where(tol > 0, tol, 1.0), np.where(err > 0, np.inf, 0.0))
    seq = k.ndim == 3
    worst = np.unravel_index(int(np.argmax(err)), err.shape) if err.size else None
    first_bad = None
    if bad.any():
        if seq:  # earliest timestep first, then batch, then unit
            order = np.argwhere(bad.transpose(1, 0, 2))
            t, b, u = (int(v) for v in order[0])
            where = f"timestep {t}, batch {b}, unit {u}"
            cv, kv, ev, tv = c[b, t, u], k[b, t, u], err[b, t, u], tol[b, t, u]
        else:
            b, u = (int(v) for v in np.argwhere(bad)[0])
            where = f"batch {b}, unit {u}"
            cv, kv, ev, tv = c[b, u], k[b, u], err[b, u], tol[b, u]
        first_bad = (f"layer [{index}] '{name}' ({cls}) at {where}: C {float(cv):.8g} vs Keras {float(kv):.8g} "
                     f"(|err| {float(ev):.2e} > tolerance {float(tv):.2e})")
    err_t = ratio_t = None
    if seq and err.size:
        err_t, ratio_t = err.max(axis=(0, 2)), ratio.max(axis=(0, 2))
    return LayerResult(index, name, cls, tuple(k.shape), float(err.max()) if err.size else 0.0,
                       float(rel.max()) if rel.size else 0.0,
                       (int(worst[1]) if seq and worst is not None else None), int(bad.sum()), first_bad,
                       float(ratio.max()) if ratio.size else 0.0, err_t, ratio_t,
                       nonfinite_agree=int(agree_nf.sum()), finite_compared=int(finite.sum()))


def environment(kmodel: Any = None, defines: Any = ()) -> dict[str, str]:
    """Versions of what computed the two sides: kerasc, the Keras that gave the truth, TensorFlow,
    the C compiler and flags of the harness (with `defines`), Python, numpy and the machine."""
    from . import __version__
    from .harness import CFLAGS, compiler_id

    env = {"kerasc": __version__}
    if kmodel is not None:
        pkg = type(kmodel).__module__.split(".")[0]
        env["Keras (ground truth)"] = f"{pkg} {getattr(sys.modules.get(pkg), '__version__', '?')}"
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        env["TensorFlow"] = str(getattr(tf, "__version__", "?"))
    cc, _, version = compiler_id().partition("|")
    env["C compiler"] = f"{version} ({cc} {' '.join([*CFLAGS, *(f'-D{d}' for d in defines)])})"
    env["Python"] = f"{platform.python_version()} ({platform.python_implementation()}), numpy {np.__version__}"
    env["machine"] = f"{platform.system()} {platform.release()} {platform.machine()}"
    return env


def verify(model: Any, x: Any = None, atol: Optional[float] = None, rtol: Optional[float] = None, *,
           timesteps: Optional[int] = None, batch: Optional[int] = None, seed: int = 0,
           name: Optional[str] = None, compiled: Any = None, progress: Optional[Progress] = None,
           weights: Optional[str] = None, exact_math: Optional[bool] = None, strict: bool = False,
           quantize: Optional[str] = None, calibration: Any = None) -> Report:
    """Compare the generated C with Keras on every layer and timestep; see Report.

    weights: the weight type of the C ('float32', 'float16', 'int8'; default: that of `compiled`, else
    float32), always compared with the float Keras model; atol/rtol None: its documented default.
    exact_math: build the C with -DKC_EXACT_MATH (libm's tanhf/expf, for a firmware built that way)
    instead of the default fast tanh/sigmoid (None: as `compiled` was built, else False).
    strict: the verdict is tolerance of Keras alone, PASS or FAIL (no double build). Otherwise (float32
    weights) the C is also built in double precision as the exact reference, and a result outside tolerance
    of Keras is PASS (float32-limited) when float32 rounding and the model's conditioning explain it
    (kerasc.conditioning, docs/verify.md); report.verdict says which.
    quantize: "int8" or "int16x8" checks the integer C (kerasc.qint, calibrated on `calibration`) against the float Keras
    model instead, with its own default tolerance (docs/integer.md); `compiled` may be its CompiledQModel.
    `progress` (kerasc.progress.Progress) shows the stages on a terminal; silent by default."""
    if quantize is not None or calibration is not None:
        return _verify_quantized(model, x, atol, rtol, timesteps=timesteps, batch=batch, seed=seed, name=name,
                                 compiled=compiled, progress=progress or NULL,
                                 quantize=quantize or getattr(getattr(compiled, "qm", None), "mode", "int8"),
                                 calibration=calibration)
    from .lower import build
    from .harness import compile_models, math_defines
    from .quant import check_weights, default_tolerance, quantize

    progress = progress or NULL
    wtype = check_weights(weights if weights is not None or compiled is None else compiled.ir.weight_type)
    if compiled is not None and compiled.ir.weight_type != wtype:
        raise ConversionError(f"weights={wtype!r} but the compiled model has {compiled.ir.weight_type} weights")
    defines = math_defines(bool(exact_math)) if exact_math is not None or compiled is None else compiled.defines
    if compiled is not None and tuple(compiled.defines) != tuple(defines):
        raise ConversionError(f"exact_math={exact_math} but the compiled model was built with "
                              f"{list(compiled.defines) or 'the default fast tanh/sigmoid'}: compile the build "
                              f"to check with kerasc.compile(model, exact_math={bool(exact_math)}) (the pytest "
                              f"fixture: kerasc_model(model, exact_math={bool(exact_math)}))")
    d_atol, d_rtol = default_tolerance(wtype)
    atol = d_atol if atol is None else float(atol)
    rtol = d_rtol if rtol is None else float(rtol)
    with_exact = not strict and wtype == "float32"
    with progress.task("verify", 7 if with_exact else 6):
        with progress.stage("reading the model"):
            ir = quantize(build(model, name), wtype) if compiled is None else compiled.ir
            used_seed: Optional[int] = None
            built_for = fixed_batch(model) if ir.stateful else None
            if built_for is not None and batch is not None and batch != built_for:
                raise ConversionError(f"the stateful model was built for batch size {built_for}; --batch {batch} "
                                      "cannot be used")
            if x is None:
                x = make_inputs(ir, timesteps, batch or built_for, seed)
                used_seed = seed
                inputs = f"seeded N(0, 1) values, seed {seed}"
            else:
                inputs = "given inputs"
            xs = [as_input(ir, k, a) for k, a in enumerate(x if isinstance(x, (list, tuple)) else [x])]
            x = xs[0] if len(xs) == 1 else xs
            check_inputs(ir, x)
            if built_for is not None and xs[0].shape[0] != built_for:
                raise ConversionError(f"inputs of batch size {xs[0].shape[0]} given; the stateful model was built for "
                                      f"batch size {built_for}")
        with progress.stage("loading the model in Keras"):
            kmodel = load_keras_model(model)
        with progress.stage("building the C"):
            cm = compiled if compiled is not None else compile_models([ir], defines=defines)[0]
        shape = tuple(xs[0].shape) if len(xs) == 1 else tuple(tuple(a.shape) for a in xs)
        if ir.stateful:  # both sides start from zero state; Keras' stateful layers keep what this call leaves
            reset_keras_states(kmodel)
            cm.reset()
        with progress.stage(f"running the C on {shape}"):
            _, c_layers = cm.trace(x)
        traced = ir.traced
        with progress.stage(f"running Keras on {shape}"):
            k_layers = keras_tensor_outputs(kmodel, [(t.keras_layer, t.keras_port) for t in traced], x)
        with progress.stage("comparing"):
            report = Report(ir.name, atol, rtol, shape, used_seed, inputs=inputs,
                            environment=environment(kmodel, defines), ir=ir)
            classes = {n.keras_name: n.keras_class for n in ir.nodes}
            # A BatchNormalization folded into a Dense is compared where the Dense now computes its output.
            classes.update({n.options["folded"]: "BatchNormalization" for n in ir.nodes if n.options.get("folded")})
            for i, (t, c, k) in enumerate(zip(traced, c_layers, k_layers)):
                if k.shape != c.shape and k.size == c.size:  # Keras masks are (batch, timesteps); kerasc's [T][1]
                    k = k.reshape(c.shape)
                multi = sum(1 for u in traced if u.keras_layer == t.keras_layer) > 1
                label = f"{t.keras_layer}[{t.keras_port}]" if multi else t.keras_layer
                report.layers.append(compare(i, label, classes.get(t.keras_layer, "?"), c, k, atol, rtol))
                report.values.append((c, k))
        report.strict = bool(strict)
        if with_exact:
            from .conditioning import build_exactness

            with progress.stage("running the C in double precision (exact reference, 1-ulp perturbed copies)"):
                report.exact = build_exactness(ir, x, c_layers, [v[1] for v in report.values], atol, rtol)
    report.output_max_abs_err = max((r.max_abs_err for r, t in zip(report.layers, traced)
                                     if t.index in ir.outputs), default=0.0)
    return report


def _verify_quantized(model: Any, x: Any, atol: Optional[float], rtol: Optional[float], *, timesteps: Optional[int],
                      batch: Optional[int], seed: int, name: Optional[str], compiled: Any, progress: Progress,
                      quantize: str, calibration: Any) -> Report:
    """verify(quantize="int8" or "int16x8"): the integer C of kerasc.qint, every layer and timestep, against float Keras."""
    from .lower import build
    from .qint import TOLERANCE, CompiledQModel, check_quantize, quantize_model

    check_quantize(quantize, calibration if compiled is None else "compiled")
    if compiled is not None and compiled.qm.mode != quantize:
        raise ConversionError(f"verify: quantize={quantize!r}, but the compiled model is --quantize {compiled.qm.mode}")
    d_atol, d_rtol = TOLERANCE[quantize]
    atol = d_atol if atol is None else float(atol)
    rtol = d_rtol if rtol is None else float(rtol)
    with progress.task("verify", 5):
        with progress.stage("reading the model"):
            ir = build(model, name) if compiled is None else compiled.qm.ir
            used_seed: Optional[int] = None
            if x is None:
                x = make_inputs(ir, timesteps, batch, seed)
                used_seed = seed
                inputs = f"seeded N(0, 1) values, seed {seed}"
            else:
                inputs = "given inputs"
            x = as_input(ir, 0, x[0] if isinstance(x, (list, tuple)) else x)
            check_inputs(ir, x)
        with progress.stage("loading the model in Keras"):
            kmodel = load_keras_model(model)
        with progress.stage("building the integer C"):
            cm = compiled if compiled is not None else CompiledQModel(quantize_model(ir, calibration, quantize))
        shape = tuple(x.shape)
        with progress.stage(f"running the integer C on {shape}"):
            c_by_node = cm.trace(x)
        traced = ir.traced
        with progress.stage(f"running Keras on {shape}"):
            k_layers = keras_tensor_outputs(kmodel, [(t.keras_layer, t.keras_port) for t in traced], x)
        report = Report(ir.name, atol, rtol, shape, used_seed, inputs=inputs,
                        environment=environment(kmodel, ()), ir=ir, strict=True, quantize=quantize)
        report.environment["integer C"] = (f"--quantize {quantize}, calibrated on {cm.qm.calib_steps} timesteps, "
                                           f"{cm.qm.weight_bytes} bytes of weights and tables")
        classes = {n.keras_name: n.keras_class for n in ir.nodes}
        classes.update({n.options["folded"]: "BatchNormalization" for n in ir.nodes if n.options.get("folded")})
        for i, (t, k) in enumerate(zip(traced, k_layers)):
            c = c_by_node[t.producer]
            if k.shape != c.shape and k.size == c.size:
                k = k.reshape(c.shape)
            report.layers.append(compare(i, t.keras_layer, classes.get(t.keras_layer, "?"), c, k, atol, rtol))
            report.values.append((c, k))
        out_c, out_k = report.values[-1]
        if out_c.ndim == 2 and out_c.shape[-1] > 1:
            report.agreement = float(np.mean(np.argmax(out_c, -1) == np.argmax(out_k, -1)))
    report.output_max_abs_err = max((r.max_abs_err for r, t in zip(report.layers, traced)
                                     if t.index in ir.outputs), default=0.0)
    return report
