"""Building and running the C timing programs: the generated C, the yardsticks, the memory floor."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Optional

import numpy as np

from ..codegen import environment, write_files
from ..errors import ConversionError
from ..ir import ModelIR
from .settings import BASE_FLAGS, EIGEN_BASE_FLAGS, FLOOR_FLAGS
from .tools import bench_source, default_cc, default_cxx


def compile_c(sources: list[str], include: Path, out: Path, flags: list[str], cc: Optional[str] = None,
             base: Optional[list[str]] = None) -> Path:
    cmd = [cc or default_cc(), *(BASE_FLAGS if base is None else base), *flags, f"-I{include}", *sources,
           "-o", str(out), "-lm"]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as exc:
        raise ConversionError(f"building the benchmark failed: {' '.join(cmd)}\n{exc}") from exc
    if res.returncode != 0:
        raise ConversionError(f"building the benchmark failed: {' '.join(cmd)}\n{res.stderr.strip()}")
    return out


def build_timer(ir: ModelIR, work: Path, tag: str, flags: list[str], cc: Optional[str] = None) -> Path:
    """Write NAME.h + kc_runtime.h + the timing driver into work/, compile with flags (cc: $CC, else gcc)."""
    write_files(ir, work, force=True)
    src = work / f"timer_{ir.name}.c"
    src.write_text(environment().get_template("bench/timer.c.j2").render(ir=ir, p=ir.name, P=ir.NAME))
    return compile_c([str(src)], work, work / f"timer_{ir.name}_{tag}", flags, cc)


def run_timer(exe: Path, mode: str, xfile: Path, T: int, reps: int, trials: int,
              wrapper: Optional[list[str]] = None) -> tuple[float, np.ndarray]:
    out = subprocess.run([*(wrapper or []), str(exe), mode, str(xfile), str(T), str(reps), str(trials)],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    ns = float(out[0].split()[1])
    y = np.array([float(v) for v in out[1].split()[1:]], dtype=np.float64)
    return ns, y


def run_ref(cmd: list[str]) -> tuple[float, np.ndarray]:
    """Run a yardstick command (ref_rnn.c's command line); its ns per step and last h."""
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), np.array([float(v) for v in out[1:]], dtype=np.float64)


def build_eigen(src: Path, include: Path, work: Path, flags: list[str]) -> Path:
    """The Eigen yardstick built with the same optimisation flags as the generated C (plus -DNDEBUG:
    Eigen's run-time checks off, as any release build of an Eigen program has them); built once per
    flag set in `work` (every model of a run shares it). The name hashes everything that changes the
    binary: the source's text, the compiler, the include directory and the flags."""
    key = "\0".join([default_cxx(), str(include), *EIGEN_BASE_FLAGS, *flags]).encode() + b"\0" + src.read_bytes()
    out = work / ("eigen_" + hashlib.sha1(key).hexdigest()[:12])
    if not out.exists():
        compile_c([str(src)], include, out, [*flags, "-DNDEBUG"], cc=default_cxx(), base=EIGEN_BASE_FLAGS)
    return out




def build_floor(work: Path, start: Optional[Path] = None) -> Optional[Path]:
    """stream_bound.c (the time to only READ N KB of cached weights; shipped in bench_c/) built with
    -O3 -march=native, or None where it does not build."""
    src = start / "bench_c" / "stream_bound.c" if start else bench_source("stream_bound.c")
    if not src.is_file():
        return None
    try:
        return compile_c([str(src)], work, work / "stream_bound", FLOOR_FLAGS)
    except ConversionError:
        return None


def run_floor(exe: Path, nbytes: int) -> float:
    """ns to read nbytes once (the minimum over stream_bound's own trials)."""
    out = subprocess.run([str(exe), f"{nbytes / 1024:.3f}"], capture_output=True, text=True, check=True).stdout
    return float(out.split(":")[1].split()[0])
