"""stack: the peak stack of the generated entry points on a Cortex-M4F, measured, not estimated.

The header is compiled as its one implementation unit (NAME_IMPLEMENTATION) by arm-none-eabi-gcc
with -fstack-usage -fcallgraph-info=su; the peak of an entry point is the largest sum of the frames
GCC reports along a call path from it (the .ci call graph, each frame from the .su file). Calls into
the C library (expf, tanhf, memcpy, ...) are not compiled here: they are listed, not counted; a
painted-stack run on the target (examples/firmware under QEMU) includes them."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from .ir import ModelIR

CC = "arm-none-eabi-gcc"
TARGET = "cortex-m4f"
FLAGS = ("-std=c99", "-Os", "-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard")

_SU = re.compile(r"^[^\t]*:(\d+):\d+:([A-Za-z_]\w*)\t(\d+)\t(\w+)", re.M)
_NODE = re.compile(r'node: \{ title: "([^"]+)" label: "([^"\\]*)(?:\\n[^"]*)?"( shape : ellipse)?')
_EDGE = re.compile(r'edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"')


@dataclass(frozen=True)
class Peak:
    """Deepest call path from one entry point."""

    entry: str
    bytes: int
    path: tuple[tuple[str, int], ...]  # (function, frame bytes) from the entry point down
    library: tuple[str, ...]  # C library functions called on the way (not counted)
    bounded: bool  # every frame static (no VLA or alloca), no recursion


@dataclass(frozen=True)
class StackReport:
    compiler: str  # first line of `CC --version`
    target: str
    flags: tuple[str, ...]
    peaks: tuple[Peak, ...]
    frames: dict = field(default_factory=dict)  # function -> bytes, as the .su file gives them

    def peak(self, entry: str) -> Optional[Peak]:
        return next((p for p in self.peaks if p.entry == entry), None)


def entry_points(ir: ModelIR) -> list[str]:
    return ([f"{ir.name}_step"] if ir.causal else []) + [f"{ir.name}_predict"]


def parse_su(text: str) -> dict[str, tuple[int, str]]:
    """GCC's .su file: function -> (frame bytes, qualifier: static, dynamic, bounded)."""
    return {name: (int(size), qual) for _, name, size, qual in _SU.findall(text)}


def parse_ci(text: str) -> tuple[dict[str, str], dict[str, set[str]], set[str]]:
    """GCC's .ci (VCG) call graph: title -> function name, title -> callee titles, external titles."""
    names, external = {}, set()
    for title, label, ellipse in _NODE.findall(text):
        names[title] = label
        if ellipse:
            external.add(title)
    edges: dict[str, set[str]] = {}
    for src, dst in _EDGE.findall(text):
        edges.setdefault(src, set()).add(dst)
    return names, edges, external


def _deepest(title: str, frames: dict, names: dict, edges: dict, external: set,
             seen: tuple[str, ...] = ()) -> tuple[int, list[tuple[str, int]], set[str], bool]:
    name = names.get(title, title)
    size, qual = frames.get(name, (0, "static"))
    bounded = qual in ("static", "bounded")
    best, best_path, lib = 0, [], set()
    for callee in sorted(edges.get(title, ())):
        if callee in external:
            lib.add(names.get(callee, callee).replace("__builtin_", ""))
            continue
        if callee in seen or callee == title:
            return size, [(name, size)], lib, False
        sub, path, sub_lib, ok = _deepest(callee, frames, names, edges, external, seen + (title,))
        lib |= sub_lib
        bounded = bounded and ok
        if sub > best:
            best, best_path = sub, path
    return size + best, [(name, size)] + best_path, lib, bounded


def analyse(su: str, ci: str, entries: list[str]) -> tuple[list[Peak], dict[str, int]]:
    """Peaks of the entry points from the text of one .su and one .ci file."""
    frames = parse_su(su)
    names, edges, external = parse_ci(ci)
    titles = {n: t for t, n in names.items() if t not in external}
    peaks = []
    for e in entries:
        if e not in titles:
            continue
        total, path, lib, bounded = _deepest(titles[e], frames, names, edges, external)
        peaks.append(Peak(e, total, tuple(path), tuple(sorted(lib)), bounded))
    return peaks, {n: s for n, (s, _) in frames.items()}


def measure(ir: ModelIR, cc: Optional[str] = None, extra_flags: tuple[str, ...] = ()) -> Optional[StackReport]:
    """Compile ir's header for a Cortex-M4F and measure its entry points; None without the compiler."""
    from .codegen import render_header, runtime_source

    cc = cc or shutil.which(CC)
    if cc is None:
        return None
    flags = FLAGS + tuple(extra_flags)
    with tempfile.TemporaryDirectory(prefix="kerasc-stack-") as tmp:
        d = Path(tmp)
        (d / f"{ir.name}.h").write_text(render_header(ir))
        (d / "kc_runtime.h").write_text(runtime_source())
        (d / "unit.c").write_text(f"#define {ir.NAME}_IMPLEMENTATION\n#include \"{ir.name}.h\"\n")
        p = subprocess.run([cc, *flags, "-fstack-usage", "-fcallgraph-info=su", "-c", "unit.c", "-o", "unit.o"],
                           cwd=d, capture_output=True, text=True)
        if p.returncode != 0:
            return None
        su, ci = (d / "unit.su").read_text(), (d / "unit.ci").read_text()
    version = subprocess.run([cc, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    peaks, frames = analyse(su, ci, entry_points(ir))
    return StackReport(version, TARGET, flags, tuple(peaks), frames)


def describe_peak(p: Peak) -> str:
    path = " -> ".join(f"{n} {s}" for n, s in p.path)
    lib = f"; plus {', '.join(p.library)} (C library, not counted)" if p.library else ""
    return f"{p.entry} {p.bytes} bytes ({path}{lib}){'' if p.bounded else '; UNBOUNDED'}"
