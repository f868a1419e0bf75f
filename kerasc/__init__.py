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
from .verify import Report, verify  # binds `kerasc.verify` to the function, not the submodule

__all__ = ["convert", "compile", "verify", "build_ir", "Report", "ConversionError", "KerascError", "MissingExtraError",
           "BuildError", "__version__"]


def build_ir(model: Any, name: Optional[str] = None, *, weights: Optional[str] = None,
             predict_block: Optional[int] = None):
    """The intermediate representation of `model` (a keras.Model or a .keras path), its kernels
    stored as `weights` ('float32' (default), 'float16' or 'int8'; see kerasc.quant).
    predict_block: timesteps per block of NAME_predict's input projections (None: chosen from the layers'
    sizes and a cache budget, kerasc.ir.PREDICT_BLOCK_BUDGET; 0: none, the smallest NAME_scratch)."""
    import dataclasses

    from .lower import build
    from .quant import check_weights, quantize

    wtype = check_weights(weights)
    ir = quantize(build(model, name), wtype)
    if predict_block is not None:
        ir = dataclasses.replace(ir, predict_block=check_predict_block(predict_block))
    return ir


def check_predict_block(n: Any) -> int:
    """`predict_block` as an int in 0..256, or a ConversionError that says what is accepted."""
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= 256:
        raise ConversionError(f"predict_block={n!r} is not supported; supported: an integer from 0 (no blocks) "
                              "to 256 timesteps")
    return n


def convert(model: Any, out_dir: Any, name: Optional[str] = None, *, force: bool = False,
            self_test: bool = False, weights: Optional[str] = None, quantize: Optional[str] = None,
            calibration: Any = None, predict_block: Optional[int] = None) -> list[Path]:
    """Write NAME.h (and the kc_runtime.h it includes) into out_dir; return the paths written.
    self_test=True also writes NAME_selftest.c (needs TensorFlow: it embeds Keras' outputs).
    weights: 'float32' (default), 'float16' or 'int8' kernels (kerasc.quant).
    quantize='int8' or 'int16x8': integer inference instead (NAME.h + kc_qruntime.h; kerasc.qint), its ranges
    calibrated on `calibration`, representative inputs (batch, timesteps, features); int16x8: int16 activations
    and recurrent state with the same int8 weights (smaller error, about the same speed).
    predict_block: timesteps per block of NAME_predict's input projections (see build_ir; 0: none)."""
    from .codegen import write_files

    if quantize is not None or calibration is not None:
        from .lower import build
        from .qint import check_quantize, quantize_model, write_qfiles

        mode = check_quantize(quantize or "int8", calibration)
        if predict_block is not None:
            raise ConversionError("predict_block applies to float headers; --quantize headers compute x @ W in the step")
        if self_test or weights not in (None, "float32"):
            raise ConversionError(f"--quantize {mode} takes neither --self-test nor --weights (its weights are int8); "
                                  f"check it with `kerasc verify --quantize {mode} --calibration X.npy`")
        return write_qfiles(quantize_model(build(model, name), calibration, mode), Path(out_dir), force=force)

    ir = build_ir(model, name, weights=weights, predict_block=predict_block)
    if self_test:
        from .selftest import check_selftest

        check_selftest(ir)  # before writing anything
    extra = None
    if self_test:
        from .selftest import selftest_file

        extra = dict([selftest_file(ir, model)])  # Keras' outputs first: then all files or none
    return write_files(ir, Path(out_dir), force=force, extra=extra)


def compile(model: Any, name: Optional[str] = None, *,  # noqa: A001 - public API name from the design
            weights: Optional[str] = None, exact_math: bool = False, quantize: Optional[str] = None,
            calibration: Any = None, predict_block: Optional[int] = None):
    """Generate the C for `model`, build it with cffi (cached) and return a CompiledModel.
    exact_math: build with -DKC_EXACT_MATH (libm's tanhf/expf instead of the fast tanh/sigmoid).
    quantize='int8' or 'int16x8' with calibration: the integer C instead, a kerasc.qint.CompiledQModel (predict, step, trace)."""
    from .harness import compile_models, math_defines

    if quantize is not None or calibration is not None:
        from .lower import build
        from .qint import CompiledQModel, check_quantize, quantize_model

        mode = check_quantize(quantize or "int8", calibration)
        return CompiledQModel(quantize_model(build(model, name), calibration, mode))

    return compile_models([build_ir(model, name, weights=weights, predict_block=predict_block)],
                          defines=math_defines(exact_math))[0]
