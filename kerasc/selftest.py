"""selftest: NAME_selftest.c, a freestanding C program that checks the generated model on the
target itself, against outputs Keras computed on the host for inputs embedded beside them.

It runs NAME_predict (and NAME_step, for streaming models) on every reference input and compares
each output value with Keras' within the tolerance `verify` uses. Keras is the ground truth, so
writing it needs `kerasc[verify]` (TensorFlow); building and running it needs only a C compiler.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np

from .codegen import MARKER, check_overwrite, environment
from .files import atomic_write
from .errors import ConversionError
from .ir import ModelIR, c_float

DEFAULT_CASES = 2
VALUES_PER_LINE = 8


def _lines(values: np.ndarray, per_line: int, tokens: bool = False) -> list[str]:
    """float32 literals (%.9g + f), or integer token ids, `per_line` to a line, commas between all of them."""
    if tokens:
        flat = [str(int(v)) for v in np.asarray(values).reshape(-1)]
    else:
        flat = [c_float(v) for v in np.asarray(values, dtype=np.float32).reshape(-1)]
    chunks = [flat[i:i + per_line] for i in range(0, len(flat), per_line)]
    return [", ".join(chunk) + ("," if i < len(chunks) - 1 else "") for i, chunk in enumerate(chunks)]


def render_selftest(ir: ModelIR, x: np.ndarray, y: np.ndarray, atol: float, rtol: float) -> str:
    """The text of NAME_selftest.c for inputs x (cases, [T,] in) and Keras' outputs y."""
    tokens = ir.has_tokens
    x = np.asarray(x, dtype=np.int32 if tokens else np.float32)
    y = np.asarray(y, dtype=np.float32)
    cases = int(x.shape[0])
    timesteps = int(x.shape[1]) if ir.input_seq else 1
    work_floats = ir.work_floats(timesteps) if ir.needs_work else 0
    out_steps = ir.length(ir.tensors[ir.outputs[0]].domain, {k: timesteps for k in range(len(ir.inputs))}) \
        if ir.output_seq else 1
    view = {
        "cases": cases,
        "timesteps": timesteps,
        "x_len": int(x[0].size),
        "y_len": int(y[0].size),
        "x_rows": [_lines(x[c], VALUES_PER_LINE if tokens else min(ir.input_width, VALUES_PER_LINE), tokens)
                   for c in range(cases)],
        "x_ctype": ir.input_ctypes[0],
        "y_rows": [_lines(y[c], min(ir.output_width, VALUES_PER_LINE)) for c in range(cases)],
        "atol": c_float(atol),
        "rtol": c_float(rtol),
        "work_floats": work_floats,
        "x_shape": (f"[{cases}]" + (f"[{timesteps}]" if ir.input_seq else "")
                    + ("" if tokens else f"[{ir.input_width}]")),
        "y_shape": f"[{cases}]" + (f"[{out_steps}]" if ir.output_seq else "") + f"[{ir.output_width}]",
        "locals_bytes": ir.state_bytes + ir.scratch_bytes + 4 * (int(y[0].size) + work_floats + ir.output_width),
    }
    tpl = environment().get_template("selftest.c.j2")
    return tpl.render(ir=ir, p=ir.name, P=ir.NAME, view=view, MARKER=MARKER)


def reference_data(ir: ModelIR, model: Any, *, cases: int = DEFAULT_CASES, timesteps: Optional[int] = None,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Seeded N(0, 1) inputs and Keras' outputs for them (eager call, training=False)."""
    from .keras_bridge import load_keras_model
    from .verify import make_inputs

    kmodel = load_keras_model(model)
    x = make_inputs(ir, timesteps, cases, seed)
    y = np.asarray(kmodel(x, training=False), dtype=np.float32)
    return x, y


def check_selftest(ir: ModelIR) -> None:
    """The self-test program calls NAME_predict with one input and one output: refuse other models."""
    if len(ir.inputs) != 1 or len(ir.outputs) != 1:
        raise ConversionError(f"model '{ir.name}' has {len(ir.inputs)} inputs and {len(ir.outputs)} outputs: "
                              "the self-test (--self-test) is not supported for it; supported: models with one "
                              "input and one output (check the others with `kerasc verify`)")


def selftest_file(ir: ModelIR, model: Any, *, cases: int = DEFAULT_CASES, timesteps: Optional[int] = None,
                  seed: int = 0) -> tuple[str, str]:
    """(file name, text) of NAME_selftest.c for `model` (the source `ir` was built from), Keras' outputs
    computed; codegen.write_files writes it together with the header (all or none)."""
    from .quant import default_tolerance

    check_selftest(ir)
    x, y = reference_data(ir, model, cases=cases, timesteps=timesteps, seed=seed)
    return f"{ir.name}_selftest.c", render_selftest(ir, x, y, *default_tolerance(ir.weight_type))


def write_selftest_text(out_dir: Path, fname: str, text: str, force: bool = False) -> Path:
    """Write an already rendered NAME_selftest.c into out_dir (created); return its path."""
    path = Path(out_dir) / fname
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        check_overwrite(path, force)
        atomic_write(path, text)
    except OSError as exc:
        raise ConversionError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def write_selftest(ir: ModelIR, model: Any, out_dir: Path, *, cases: int = DEFAULT_CASES,
                   timesteps: Optional[int] = None, seed: int = 0, force: bool = False) -> Path:
    """Write out_dir/NAME_selftest.c alone (the header written already); return its path."""
    fname, text = selftest_file(ir, model, cases=cases, timesteps=timesteps, seed=seed)
    path = Path(out_dir) / fname
    check_overwrite(path, force)
    try:
        atomic_write(path, text)
    except OSError as exc:
        raise ConversionError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path
