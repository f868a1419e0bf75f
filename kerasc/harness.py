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

from .codegen import RUNTIME_HEADER, environment, render_header, runtime_source, work_per_step
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
def _compiler_id() -> str:
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    try:
        out = subprocess.run(cc.split() + ["--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    return f"{cc}|{out.splitlines()[0] if out else '?'}"


def compile_models(irs: Sequence[ModelIR], headers: Optional[dict[str, str]] = None) -> list["CompiledModel"]:
    """Build one extension holding every model in `irs` (distinct names) and wrap each.
    `headers` ({file name: text}) replaces generated files, e.g. a NAME.h written earlier."""
    names = [ir.name for ir in irs]
    if len(set(names)) != len(names):
        raise ConversionError(f"models compiled together need distinct names; got {names}")
    env = environment()
    shim = env.get_template("harness/shim.c.j2").render(models=irs)
    cdef = env.get_template("harness/cdef.h.j2").render(models=irs)
    sources = {f"{ir.name}.h": render_header(ir) for ir in irs}
    sources[RUNTIME_HEADER] = runtime_source()
    sources.update(headers or {})

    import cffi

    h = hashlib.sha256()
    for part in [shim, cdef, *sorted(sources.items()), CFLAGS, _compiler_id(),
                 sysconfig.get_config_var("EXT_SUFFIX"), sys.version, cffi.__version__]:
        h.update(repr(part).encode())
    modname = "_kc_" + h.hexdigest()[:24]
    lib, ffi = _load_or_build(modname, shim, cdef, sources)
    return [CompiledModel(ir, lib, ffi) for ir in irs]


def _load_or_build(modname: str, shim: str, cdef: str, headers: dict[str, str]) -> tuple[Any, Any]:
    if modname in sys.modules:
        mod = sys.modules[modname]
        return mod.lib, mod.ffi
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    target = root / (modname + suffix)
    if not target.exists():
        _build(modname, shim, cdef, headers, root, target)
    spec = importlib.util.spec_from_file_location(modname, str(target),
                                                  loader=importlib.machinery.ExtensionFileLoader(modname, str(target)))
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    sys.modules[modname] = mod
    return mod.lib, mod.ffi


def _build(modname: str, shim: str, cdef: str, headers: dict[str, str], root: Path, target: Path) -> None:
    import cffi

    work = Path(tempfile.mkdtemp(prefix=f"build-{modname}-", dir=str(root)))
    try:
        for fname, text in headers.items():
            (work / fname).write_text(text)
        ffi = cffi.FFI()
        ffi.cdef(cdef)
        ffi.set_source(modname, shim, include_dirs=[str(work)], extra_compile_args=CFLAGS, libraries=["m"])
        try:
            built = ffi.compile(tmpdir=str(work), verbose=False)
        except Exception as exc:  # distutils/setuptools raise several types; all mean "did not compile"
            raise BuildError(f"the generated C did not compile (this is a kerasc bug; please report it): {exc}") from exc
        os.replace(built, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)


class CompiledModel:
    """A generated model, compiled and loaded: `predict`, `reset`/`step`, and `trace` for verify."""

    def __init__(self, ir: ModelIR, lib: Any, ffi: Any):
        self.ir = ir
        self.name = ir.name
        self._ffi = ffi
        p = ir.name
        self._predict_fn = getattr(lib, f"{p}_kc_predict")
        self._step_fn = getattr(lib, f"{p}_kc_step")
        self._reset_fn = getattr(lib, f"{p}_kc_reset")
        size = getattr(lib, f"{p}_kc_state_size")()
        self.state_bytes = int(size)
        self._stream_state = ffi.new("char[]", max(1, size))
        self._predict_state = ffi.new("char[]", max(1, size))
        self._reset_fn(self._stream_state)

    def __repr__(self) -> str:
        return f"<kerasc.CompiledModel '{self.name}' {self.input_shape} -> {self.output_shape}>"

    @property
    def input_shape(self) -> tuple:
        return ((self.ir.timesteps,) if self.ir.input_seq else ()) + (self.ir.input_width,)

    @property
    def output_shape(self) -> tuple:
        return ((self.ir.timesteps,) if self.ir.output_seq else ()) + (self.ir.output_width,)

    @property
    def can_stream(self) -> bool:
        return self.ir.causal

    def _f32(self, a: np.ndarray) -> Any:
        return self._ffi.from_buffer("float[]", a)

    def _check_batch(self, x: Any) -> np.ndarray:
        x = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
        want = 3 if self.ir.input_seq else 2
        if x.ndim != want or x.shape[-1] != self.ir.input_width:
            layout = "(batch, timesteps, features)" if self.ir.input_seq else "(batch, features)"
            raise ValueError(f"{self.name}: expected input of shape {layout} with features={self.ir.input_width}, "
                             f"got {x.shape}")
        if self.ir.input_seq:
            if x.shape[1] < 1:
                raise ValueError(f"{self.name}: sequences need at least one timestep, got {x.shape}")
            if self.ir.timesteps is not None and x.shape[1] != self.ir.timesteps:
                raise ValueError(f"{self.name}: the model was built for {self.ir.timesteps} timesteps, got {x.shape[1]}")
        return x

    def _run(self, x: np.ndarray, trace: bool) -> tuple[np.ndarray, Optional[list[np.ndarray]]]:
        ir = self.ir
        B = x.shape[0]
        T = x.shape[1] if ir.input_seq else 1
        y = np.zeros((B, T, ir.output_width) if ir.output_seq else (B, ir.output_width), dtype=np.float32)
        work = np.zeros(max(1, T * work_per_step(ir)), dtype=np.float32)
        tbuf = offs = None
        stride = 0
        if trace:
            sizes = [(T if n.out_seq else 1) * n.out_width for n in ir.nodes]
            offs_np = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
            stride = int(sum(sizes))
            tbuf = np.full((B, stride), np.nan, dtype=np.float32)
            offs = self._ffi.new("long[]", [int(o) for o in offs_np])
        if B:
            rc = self._predict_fn(self._predict_state, self._f32(x), B, T, self._f32(y), self._f32(work),
                                  self._f32(tbuf) if trace else self._ffi.NULL, offs if trace else self._ffi.NULL,
                                  stride)
            if rc != 0:
                raise RuntimeError(f"{self.name}_predict returned {rc}")
        layers = None
        if trace:
            layers = []
            for n, off, size in zip(ir.nodes, offs_np, sizes):
                block = tbuf[:, off:off + size]
                layers.append(block.reshape(B, T, n.out_width) if n.out_seq else block.reshape(B, n.out_width))
        return y, layers

    def predict(self, x: Any) -> np.ndarray:
        """Same as Keras' model.predict(x): x (batch, timesteps, features) -> outputs of the same structure."""
        y, _ = self._run(self._check_batch(x), trace=False)
        return y

    def trace(self, x: Any) -> tuple[np.ndarray, list[np.ndarray]]:
        """predict(x), plus every layer's output (batch, timesteps, width) or (batch, width)."""
        y, layers = self._run(self._check_batch(x), trace=True)
        assert layers is not None
        return y, layers

    def reset(self) -> None:
        """Start a new stream: zero the recurrent state used by `step`."""
        self._reset_fn(self._stream_state)

    def step(self, x_t: Any) -> np.ndarray:
        """Feed one timestep (features,); return the output (without time axis) as if the sequence ended here."""
        if not self.ir.causal:
            why = "it has no time axis" if not self.ir.input_seq else "a layer reads its input backwards (go_backwards)"
            raise ConversionError(f"{self.name}: streaming is not possible for this model: {why}")
        x = np.ascontiguousarray(np.asarray(x_t, dtype=np.float32))
        if x.shape != (self.ir.input_width,):
            raise ValueError(f"{self.name}: step expects one timestep of shape ({self.ir.input_width},), got {x.shape}")
        y = np.zeros(self.ir.output_width, dtype=np.float32)
        self._step_fn(self._stream_state, self._f32(x), self._f32(y))
        return y
