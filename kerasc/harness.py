"""harness: build generated headers into a Python extension with cffi and wrap them.

Several models can share one extension (one compiler run). Extensions are cached by a hash
of everything that changes the code: headers, runtime, shim, compiler, flags, Python ABI.
The cache is safe under concurrent processes: each build happens in its own temporary
directory and the finished module is moved into place atomically.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.machinery
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from .codegen import RUNTIME_HEADER, environment, render_header, runtime_source, shim_view
from .errors import BuildError, ConversionError
from .ir import ModelIR

# The flags of the harness build: ISO C99 (so no FMA contraction), optimised like firmware.
CFLAGS = ["-std=c99", "-O2", "-fno-strict-aliasing"]


def cache_dir() -> Path:
    env = os.environ.get("KERASC_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "kerasc"


@functools.cache
def compiler_id() -> str:
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    try:
        out = subprocess.run(cc.split() + ["--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    return f"{cc}|{out.splitlines()[0] if out else '?'}"


def math_defines(exact_math: bool) -> tuple:
    """The macros of a harness build with (True) or without libm's tanhf/expf."""
    return ("KC_EXACT_MATH",) if exact_math else ()


# The macro of the double-precision build (kc_runtime.h "scalar type"): the exact reference of verify.
DOUBLE_DEFINE = "KC_FLOAT=double"


def scalar_of(defines: Sequence[str]) -> str:
    """The C scalar type (kc_float) of a build with these macros: "double" or "float"."""
    return "double" if DOUBLE_DEFINE in defines else "float"


def compile_models(irs: Sequence[ModelIR], defines: Sequence[str] = (),
                   headers: Optional[dict[str, str]] = None) -> list["CompiledModel"]:
    """Build one extension holding every model in `irs` (distinct names) and wrap each.
    `defines`: extra preprocessor macros, e.g. ["KC_EXACT_MATH"] for libm's tanhf/expf.
    `headers` ({file name: text}) replaces generated files, e.g. a NAME.h written earlier."""
    names = [ir.name for ir in irs]
    if len(set(names)) != len(names):
        raise ConversionError(f"models compiled together need distinct names; got {names}")
    env = environment()
    shim = env.get_template("harness/shim.c.j2").render(models=irs, shims=[shim_view(ir) for ir in irs])
    cdef = env.get_template("harness/cdef.h.j2").render(models=irs, scalar=scalar_of(defines))
    sources = {f"{ir.name}.h": render_header(ir) for ir in irs}
    sources[RUNTIME_HEADER] = runtime_source()
    sources.update(headers or {})

    import cffi

    h = hashlib.sha256()
    cflags = CFLAGS + [f"-D{d}" for d in defines]
    for part in [shim, cdef, *sorted(sources.items()), cflags, compiler_id(),
                 sysconfig.get_config_var("EXT_SUFFIX"), sys.version, cffi.__version__]:
        h.update(repr(part).encode())
    modname = "_kc_" + h.hexdigest()[:24]
    lib, ffi = _load_or_build(modname, shim, cdef, sources, cflags)
    return [CompiledModel(ir, lib, ffi, defines) for ir in irs]


def build_extension(shim: str, cdef: str, sources: dict[str, str], defines: Sequence[str] = ()) -> tuple[Any, Any]:
    """(lib, ffi) of a cffi extension from `shim` (the C source) with `sources` ({file name: text}) beside it,
    cached by the hash of everything that goes into it (kerasc.qint's integer headers)."""
    import cffi

    cflags = CFLAGS + [f"-D{d}" for d in defines]
    h = hashlib.sha256()
    for part in [shim, cdef, *sorted(sources.items()), cflags, compiler_id(),
                 sysconfig.get_config_var("EXT_SUFFIX"), sys.version, cffi.__version__]:
        h.update(repr(part).encode())
    return _load_or_build("_kcq_" + h.hexdigest()[:24], shim, cdef, sources, cflags)


def _load_or_build(modname: str, shim: str, cdef: str, headers: dict[str, str],
                   cflags: list[str]) -> tuple[Any, Any]:
    if modname in sys.modules:
        mod = sys.modules[modname]
        return mod.lib, mod.ffi
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    target = root / (modname + suffix)
    if not target.exists():
        _build(modname, shim, cdef, headers, root, target, cflags)
    spec = importlib.util.spec_from_file_location(modname, str(target),
                                                  loader=importlib.machinery.ExtensionFileLoader(modname, str(target)))
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    sys.modules[modname] = mod
    return mod.lib, mod.ffi


def _build(modname: str, shim: str, cdef: str, headers: dict[str, str], root: Path, target: Path,
           cflags: list[str]) -> None:
    import cffi

    work = Path(tempfile.mkdtemp(prefix=f"build-{modname}-", dir=str(root)))
    try:
        for fname, text in headers.items():
            (work / fname).write_text(text)
        ffi = cffi.FFI()
        ffi.cdef(cdef)
        ffi.set_source(modname, shim, include_dirs=[str(work)], extra_compile_args=cflags, libraries=["m"])
        try:
            built = ffi.compile(tmpdir=str(work), verbose=False)
        except Exception as exc:  # distutils/setuptools raise several types; all mean "did not compile"
            raise BuildError(f"the generated C did not compile (this is a kerasc bug; please report it): {exc}") from exc
        os.replace(built, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def token_ids(a: Any) -> np.ndarray:
    """Token ids as the C takes them (int32_t): integers as they are, floats truncated toward zero as
    Keras' Embedding casts them; values int32 cannot hold (and NaN) become -1, which the C, like any
    token outside [0, input_dim), embeds as an all-zero row."""
    a = np.asarray(a)
    if a.dtype.kind == "b":
        return np.ascontiguousarray(a, dtype=np.int32)
    if a.dtype.kind in "iu":
        wide = a.astype(np.int64) if a.dtype != np.uint64 else np.minimum(a, np.iinfo(np.int64).max).astype(np.int64)
        return np.ascontiguousarray(np.where((wide < -(1 << 31)) | (wide >= (1 << 31)), -1, wide), dtype=np.int32)
    f = np.asarray(a, dtype=np.float64)
    ok = np.isfinite(f) & (f > -2.0 ** 31 - 1) & (f < 2.0 ** 31)
    return np.ascontiguousarray(np.where(ok, np.trunc(np.where(ok, f, 0)), -1), dtype=np.int32)


class CompiledModel:
    """A generated model, compiled and loaded: `predict`, `reset`/`step`, and `trace` for verify.

    Several inputs: pass a list in model.inputs order; several outputs come back as a list in
    model.outputs order (as model.predict does)."""

    def __init__(self, ir: ModelIR, lib: Any, ffi: Any, defines: Sequence[str] = ()):
        self.ir = ir
        self.name = ir.name
        self.defines = tuple(defines)  # the macros it was built with, e.g. ("KC_EXACT_MATH",)
        self.scalar = scalar_of(self.defines)  # kc_float: "float", or "double" (KC_FLOAT=double)
        self.dtype = np.float64 if self.scalar == "double" else np.float32  # of inputs, outputs, traces
        self._ffi = ffi
        p = ir.name
        self._predict_fn = getattr(lib, f"{p}_kc_predict")
        self._step_fn = getattr(lib, f"{p}_kc_step")
        self._reset_fn = getattr(lib, f"{p}_kc_reset")
        self._reset_from_fn = getattr(lib, f"{p}_kc_reset_from")
        self._gate_trace_fn = getattr(lib, f"{p}_kc_gate_trace")
        size = getattr(lib, f"{p}_kc_state_size")()
        self.state_bytes = int(size)
        self.scratch_bytes = int(getattr(lib, f"{p}_kc_scratch_size")())
        self._scratch = ffi.new("char[]", max(1, self.scratch_bytes))  # shared by predict and step
        self._stream_state = ffi.new("char[]", max(1, size))
        self._predict_state = ffi.new("char[]", max(1, size))
        self._batch_states: Any = None  # stateful models: one state per batch row, kept across calls
        self._batch_size = 0
        self._reset_fn(self._stream_state)

    def __repr__(self) -> str:
        return f"<kerasc.CompiledModel '{self.name}' {self.input_shape} -> {self.output_shape}>"

    def _tensor_shape(self, t: Any) -> tuple:
        return ((self.ir.fixed_length(t.domain),) if t.seq else ()) + ((t.width,) if t.ctype == "float" else ())

    @property
    def input_shape(self) -> Any:
        shapes = [self._tensor_shape(self.ir.tensors[i]) for i in self.ir.inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self) -> Any:
        shapes = [self._tensor_shape(self.ir.tensors[i]) for i in self.ir.outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def can_stream(self) -> bool:
        return self.ir.causal

    def _f32(self, a: np.ndarray) -> Any:
        return self._ffi.from_buffer(f"{self.scalar}[]", a)

    def _ptrs(self, arrays: Sequence[np.ndarray]) -> Any:
        return self._ffi.new(f"{self.scalar} *[]", [self._f32(a) for a in arrays] or [self._ffi.NULL])

    def _check_batch(self, x: Any) -> list[np.ndarray]:
        ir = self.ir
        xs = list(x) if isinstance(x, (list, tuple)) else [x]
        if len(xs) != len(ir.inputs):
            raise ValueError(f"{self.name}: the model has {len(ir.inputs)} inputs ({', '.join(ir.input_names)}), "
                             f"got {len(xs)} arrays")
        out = []
        lengths: dict[int, int] = {}
        for k, (a, ti) in enumerate(zip(xs, ir.inputs)):
            t = ir.tensors[ti]
            label = f"input {k} '{ir.input_names[k]}'"
            if t.ctype != "float":  # token ids: Keras' (batch, timesteps), one token per timestep
                a = np.asarray(a)
                if a.ndim != 2:
                    raise ValueError(f"{self.name}: {label}: expected token ids of shape (batch, timesteps), "
                                     f"got {a.shape}")
                a = token_ids(a)[:, :, None]
            a = np.ascontiguousarray(np.asarray(a, dtype=self.dtype)) if t.ctype == "float" else a
            want = 3 if t.seq else 2
            if a.ndim != want or a.shape[-1] != t.width:
                layout = "(batch, timesteps, features)" if t.seq else "(batch, features)"
                raise ValueError(f"{self.name}: {label}: expected shape {layout} with features={t.width}, got {a.shape}")
            if t.seq:
                if a.shape[1] < 1:
                    raise ValueError(f"{self.name}: {label}: sequences need at least one timestep, got {a.shape}")
                fixed = ir.input_timesteps[k]
                if fixed is not None and a.shape[1] != fixed:
                    raise ValueError(f"{self.name}: {label}: the model was built for {fixed} timesteps, "
                                     f"got {a.shape[1]}")
                if lengths.setdefault(t.domain, a.shape[1]) != a.shape[1]:
                    raise ValueError(f"{self.name}: {label} has {a.shape[1]} timesteps, but its sequence meets one of "
                                     f"{lengths[t.domain]} timesteps inside the model")
            if out and a.shape[0] != out[0].shape[0]:
                raise ValueError(f"{self.name}: inputs have different batch sizes ({out[0].shape[0]}, {a.shape[0]})")
            out.append(a)
        for d in sorted({t.domain for t in ir.tensors if t.seq and ir.domains[t.domain].derived}):
            if ir.length(d, lengths) < 1:  # NAME_predict would return -1
                steps = ", ".join(str(n) for n in lengths.values())
                raise ValueError(f"{self.name}: {steps} timesteps are too few for {ir.domains[d].why}, which "
                                 "leaves no timestep")
        return out

    def _states(self, B: int) -> tuple[Any, int]:
        if not self.ir.stateful:
            return self._predict_state, 0
        if self._batch_states is None or self._batch_size != B:
            self._batch_states = self._ffi.new("char[]", max(1, self.state_bytes * B))
            self._batch_size = B
            for b in range(B):
                self._reset_fn(self._batch_states + b * self.state_bytes)
        return self._batch_states, self.state_bytes

    def _run(self, xs: list[np.ndarray], trace: bool) -> tuple[list[np.ndarray], Optional[list[np.ndarray]]]:
        ir = self.ir
        B = xs[0].shape[0]
        ts = [a.shape[1] if ir.tensors[ti].seq else 1 for a, ti in zip(xs, ir.inputs)]
        steps = {ir.tensors[ti].domain: n for ti, n in zip(ir.inputs, ts) if ir.tensors[ti].seq}

        def shape(t: Any) -> tuple:
            return (B, ir.length(t.domain, steps), t.width) if t.seq else (B, t.width)

        ys = [np.zeros(shape(ir.tensors[i]), dtype=self.dtype) for i in ir.outputs]
        work = np.zeros(max(1, ir.work_floats(max(ts))), dtype=self.dtype)
        tbuf = offs = None
        stride = 0
        sizes = [int(np.prod(shape(t)[1:])) for t in ir.traced]
        if trace:
            offs_np = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64) if sizes else np.zeros(0)
            stride = int(sum(sizes))
            tbuf = np.full((B, max(1, stride)), np.nan, dtype=self.dtype)
            offs = self._ffi.new("long[]", [int(o) for o in offs_np] or [0])
        if B:
            st, st_stride = self._states(B)
            rc = self._predict_fn(st, self._scratch, st_stride, self._ptrs(xs), self._ffi.new("int[]", ts), B, self._ptrs(ys),
                                  self._f32(work), self._f32(tbuf) if trace else self._ffi.NULL,
                                  offs if trace else self._ffi.NULL, stride)
            if rc != 0:
                raise RuntimeError(f"{self.name}_predict returned {rc}")
        layers = None
        if trace:
            layers = []
            for t, off, size in zip(ir.traced, offs_np, sizes):
                layers.append(tbuf[:, off:off + size].reshape(shape(t)))
        return ys, layers

    def predict(self, x: Any) -> Any:
        """Same as Keras' model.predict(x): x (batch, timesteps, features), or a list in model.inputs order;
        returns one array, or a list in model.outputs order."""
        ys, _ = self._run(self._check_batch(x), trace=False)
        return ys[0] if len(ys) == 1 else ys

    def predict_gates(self, x: Any, offsets: Sequence[int], stride: int) -> tuple[Any, np.ndarray]:
        """predict(x) on a gate trace build (kerasc.gates), and the [batch][stride] floats its NAME_GATE hooks
        wrote (offsets: per node, the offset of its block and its floats per timestep); NaN where none wrote."""
        xs = self._check_batch(x)
        buf = np.full((max(1, xs[0].shape[0]), max(1, stride)), np.nan, dtype=self.dtype)
        off = self._ffi.new("long[]", [int(o) for o in offsets] or [0])
        self._gate_trace_fn(self._f32(buf), off, stride)
        try:
            ys, _ = self._run(xs, trace=False)
        finally:
            self._gate_trace_fn(self._ffi.NULL, self._ffi.NULL, 0)
        return (ys[0] if len(ys) == 1 else ys), buf[:xs[0].shape[0]]

    def trace(self, x: Any) -> tuple[Any, list[np.ndarray]]:
        """predict(x), plus every traced output (ir.traced order): (batch, timesteps, width) or (batch, width)."""
        ys, layers = self._run(self._check_batch(x), trace=True)
        assert layers is not None
        return (ys[0] if len(ys) == 1 else ys), layers

    def reset(self) -> None:
        """Start a new stream: zero the recurrent state used by `step` (and, for stateful models, the
        state `predict` keeps between calls, like Keras' reset_states())."""
        self._reset_fn(self._stream_state)
        if self._batch_states is not None:
            for b in range(self._batch_size):
                self._reset_fn(self._batch_states + b * self.state_bytes)

    def _no_stream(self) -> None:
        if not self.ir.causal:
            raise ConversionError(f"{self.name}: streaming is not possible for this model: {self.ir.stream_note}")

    def reset_from(self, *vectors: Any) -> None:
        """Start a stream from the model's vector inputs (initial states), one (features,) array each."""
        self._no_stream()
        vin = [ti for ti in self.ir.inputs if not self.ir.tensors[ti].seq]
        if len(vectors) != len(vin):
            raise ValueError(f"{self.name}: reset_from takes {len(vin)} vector inputs, got {len(vectors)}")
        arrays = [np.ascontiguousarray(np.asarray(v, dtype=self.dtype)) for v in vectors]
        for a, ti in zip(arrays, vin):
            if a.shape != (self.ir.tensors[ti].width,):
                raise ValueError(f"{self.name}: reset_from expects shape ({self.ir.tensors[ti].width},), got {a.shape}")
        full = []
        it = iter(arrays)
        for ti in self.ir.inputs:
            full.append(next(it) if not self.ir.tensors[ti].seq else np.zeros(1, dtype=self.dtype))
        if not vin:
            self._reset_fn(self._stream_state)
            return
        self._reset_from_fn(self._stream_state, self._scratch, self._ptrs(full))

    def step(self, *x_t: Any) -> Any:
        """Feed one timestep (features,) of each sequence input; return the outputs (without time axis)
        as if the sequence ended here."""
        self._no_stream()
        ir = self.ir
        seq_in = [ti for ti in ir.inputs if ir.tensors[ti].seq]
        if len(x_t) != len(seq_in):
            raise ValueError(f"{self.name}: step takes {len(seq_in)} timestep arrays, got {len(x_t)}")
        xs = []
        it = iter(x_t)
        for ti in ir.inputs:
            t = ir.tensors[ti]
            if not t.seq:
                xs.append(np.zeros(1, dtype=self.dtype))
                continue
            if t.ctype != "float":  # one token id: a scalar (or shape (1,))
                a = token_ids(next(it)).reshape(-1)
            else:
                a = np.ascontiguousarray(np.asarray(next(it), dtype=self.dtype))
            if a.shape != (t.width,):
                raise ValueError(f"{self.name}: step expects one timestep of shape ({t.width},), got {a.shape}")
            xs.append(a)
        ys = [np.zeros(ir.tensors[i].width, dtype=self.dtype) for i in ir.outputs]
        self._step_fn(self._stream_state, self._scratch, self._ptrs(xs), self._ptrs(ys))
        return ys[0] if len(ys) == 1 else ys
