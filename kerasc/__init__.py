"""kerasc: trained Keras recurrent models -> portable, header-only C99, proven step by step.

    kerasc.convert(model, out_dir, name=None) -> [paths]   # NAME.h + kc_runtime.h
    cm = kerasc.compile(model)                              # build the C with cffi, load it
    cm.predict(x); cm.reset(); cm.step(x_t)
    report = kerasc.verify(model)                           # per layer, per timestep, vs Keras
"""

from __future__ import annotations

__version__ = "0.1.0"

from pathlib import Path
from typing import Any, Optional

from .errors import BuildError, ConversionError, KerascError, MissingExtraError
# Load the submodule now: importing it later would rebind `kerasc.verify` from the function below
# to the module (Python sets a package attribute when a submodule is first imported).
from . import verify as _verify_module  # noqa: E402,F401

__all__ = ["convert", "compile", "verify", "build_ir", "ConversionError", "KerascError", "MissingExtraError",
           "BuildError", "__version__"]


def build_ir(model: Any, name: Optional[str] = None):
    """The intermediate representation of `model` (a keras.Model or a .keras path)."""
    from .graph import build

    return build(model, name)


def convert(model: Any, out_dir: Any, name: Optional[str] = None, *, force: bool = False) -> list[Path]:
    """Write NAME.h (and the kc_runtime.h it includes) into out_dir; return the paths written."""
    from .codegen import write_files

    return write_files(build_ir(model, name), Path(out_dir), force=force)


def compile(model: Any, name: Optional[str] = None):  # noqa: A001 - public API name from the design
    """Generate the C for `model`, build it with cffi (cached) and return a CompiledModel."""
    from .harness import compile_models

    return compile_models([build_ir(model, name)])[0]


def verify(model: Any, x: Any = None, atol: Optional[float] = None, rtol: Optional[float] = None, **kwargs: Any):
    """Run the same input through Keras and the C; return a Report (report.ok, per-layer errors)."""
    from .verify import verify as _verify

    return _verify(model, x=x, atol=atol, rtol=rtol, **kwargs)
