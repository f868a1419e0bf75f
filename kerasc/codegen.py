"""codegen: ModelIR -> C text, through the Jinja2 templates in templates/.

Python decides (names, sizes, buffer plans); templates only loop and substitute.
Files are written atomically, and never over a file kerasc did not generate.
"""

from __future__ import annotations

import functools
import os
import re
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import jinja2

from ._resources import runtime_dir, templates_dir
from .errors import ConversionError
from .ir import ModelIR, Node

# Every file kerasc writes carries this marker; only such files are overwritten without --force.
MARKER = "kerasc-generated"
RUNTIME_HEADER = "kc_runtime.h"
LARGE_WEIGHTS_BYTES = 1 << 20  # convert warns above this


def ccomment(text: object) -> str:
    """Make any text safe inside a C block comment: printable ASCII only, no comment terminator."""
    s = str(text)
    s = "".join(ch if 32 <= ord(ch) < 127 else f"\\u{ord(ch):04x}" for ch in s)
    return s.replace("*/", "* /").replace("/*", "/ *")


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["ccomment"] = ccomment
    return env


def runtime_version() -> int:
    text = (runtime_dir() / RUNTIME_HEADER).read_text()
    m = re.search(r"#define KC_RUNTIME_VERSION (\d+)", text)
    assert m, "kc_runtime.h has no KC_RUNTIME_VERSION"
    return int(m.group(1))


@dataclass(frozen=True)
class _LayerMajorStep:
    node: Node
    src: str  # C expression of the input sequence
    t_in: str  # C expression of the input timestep read at loop index t
    dst: Optional[str]  # C expression of the output sequence, or None (collapsing layer)


def _view(ir: ModelIR) -> dict:
    """Everything the model template needs beyond the IR: inputs of each layer, buffer plan."""
    inputs = {}
    prev = "x"
    for n in ir.nodes:
        inputs[n.index] = prev
        prev = n.out_ref
    t_shape = f"[{ir.timesteps if ir.timesteps else 'T'}]"
    in_shape = (t_shape if ir.input_seq else "") + f"[{ir.input_width}]"
    out_shape = (t_shape if ir.output_seq else "") + f"[{ir.output_width}]"
    view = {
        "inputs": inputs,
        "in_shape": in_shape,
        "out_shape": out_shape,
        "out_shape_c": ("[timesteps]" if ir.output_seq else "") + f"[{ir.NAME}_OUTPUT_SIZE]",
        "out_ref": ir.nodes[-1].out_ref,
        "has_tail": any(n.collapses or not n.in_seq for n in ir.nodes),
        "buffers": [],
        "layer_major": [],
        "work_per_step": 0,
        "work_note": "",
    }
    if not ir.input_seq:
        view["predict_args"] = "&st, x, y"
        view["predict_doc"] = "one input vector (model.predict on one sample)"
    elif ir.needs_work:
        view["predict_args"] = "&st, x, T, y, work"
        view["predict_doc"] = f"one sequence; work holds {ir.NAME}_WORK_FLOATS(T) floats"
    else:
        view["predict_args"] = "&st, x, T, y"
        view["predict_doc"] = "one whole sequence (model.predict on one sample)"
    if ir.needs_work:
        _plan_layer_major(ir, view)
    return view


def work_per_step(ir: ModelIR) -> int:
    """Floats of caller work buffer per timestep that NAME_predict needs (0: no work argument)."""
    return int(_view(ir)["work_per_step"]) if ir.needs_work else 0


def _plan_layer_major(ir: ModelIR, view: dict) -> None:
    """Assign ping-pong work buffers to the sequences passed between layers."""
    steps = []
    src = "x"
    names = ("seq_a", "seq_b")
    used: list[str] = []
    k = 0
    seq_nodes = ir.seq_nodes
    for i, n in enumerate(seq_nodes):
        dst = None
        if n.out_seq:
            if i == len(seq_nodes) - 1 and ir.output_seq:
                dst = "y"
            else:
                dst = names[k % 2]
                if dst not in used:
                    used.append(dst)
                k += 1
        t_in = "timesteps - 1 - t" if n.go_backwards else "t"
        steps.append(_LayerMajorStep(n, src, t_in, dst))
        if dst:
            src = dst
    view["layer_major"] = steps
    view["buffers"] = [{"name": b, "offset": j * ir.work_width} for j, b in enumerate(used)]
    view["work_per_step"] = max(1, len(used)) * ir.work_width
    view["work_note"] = f" + work {view['work_per_step'] * 4} bytes per timestep"


def render_header(ir: ModelIR) -> str:
    tpl = environment().get_template("model.h.j2")
    return tpl.render(ir=ir, p=ir.name, P=ir.NAME, view=_view(ir), MARKER=MARKER,
                      runtime_version=runtime_version())


def runtime_source() -> str:
    return (runtime_dir() / RUNTIME_HEADER).read_text()


def write_files(ir: ModelIR, out_dir: Path, force: bool = False) -> list[Path]:
    """Write NAME.h and kc_runtime.h into out_dir; return their paths."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConversionError(f"cannot create output directory {out_dir}: {exc.strerror}") from None
    files = {out_dir / f"{ir.name}.h": render_header(ir), out_dir / RUNTIME_HEADER: runtime_source()}
    if ir.weight_bytes > LARGE_WEIGHTS_BYTES:
        warnings.warn(f"{ir.name}: the weights take {ir.weight_bytes} bytes of flash, more than most "
                      "microcontrollers have", stacklevel=2)
    for path in files:
        _check_overwrite(path, force)
    for path, text in files.items():
        _atomic_write(path, text)
    return list(files)


def _check_overwrite(path: Path, force: bool) -> None:
    if force or not path.exists():
        return
    try:
        head = path.read_text(errors="replace")[:4096]
    except OSError as exc:
        raise ConversionError(f"cannot read {path} to check it before overwriting: {exc.strerror}") from None
    if MARKER not in head and "kc_runtime.h - kerasc runtime" not in head:
        raise ConversionError(f"{path} exists and was not generated by kerasc; refusing to overwrite it "
                              "(use --force, or force=True, to overwrite)")


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="ascii", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
