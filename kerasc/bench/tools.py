"""Where bench finds its tools and yardsticks, and the facts every table records (CPU, compilers).

The yardstick sources kerasc ships (eigen_rnn.cpp, stream_bound.c) are package data (kerasc/bench_c in a
wheel, bench_c/ in a source checkout). ref_rnn.c is not kerasc's: it is found at $KERASC_REF_RNN, or, in a
source checkout only, at ../shared/bench/ref_rnn.c beside the repository."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Optional

from .._resources import resource_dir, source_checkout


def default_cc() -> str:
    return os.environ.get("CC", "gcc")


def default_cxx() -> str:
    return os.environ.get("CXX", "g++")


def bench_source(name: str) -> Path:
    """A yardstick source kerasc ships (eigen_rnn.cpp, stream_bound.c): package data."""
    return resource_dir("bench_c") / name


def cpu_model() -> str:
    """The CPU's model name (with family/model numbers when the name alone is vague, as in VMs)."""
    fields: dict = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip().lower(), value.strip())
    except OSError:
        pass
    name = fields.get("model name") or platform.processor() or platform.machine() or "unknown CPU"
    if "cpu family" in fields and "model" in fields:
        name += f" (family {fields['cpu family']}, model {fields['model']})"
    return name


def compiler_version(cc: str = "gcc") -> str:
    try:
        out = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30).stdout
        return out.splitlines()[0] if out else cc
    except (OSError, subprocess.SubprocessError):
        return f"{cc} (not found)"


REF_HELP = "set $KERASC_REF_RNN to its path (a source checkout also finds ../shared/bench/ref_rnn.c beside it)"


def find_ref(start: Optional[Path] = None) -> Optional[Path]:
    """ref_rnn.c (not kerasc's, not shipped): $KERASC_REF_RNN, else ../shared/bench/ref_rnn.c beside the
    repository root `start` (default: the source checkout kerasc runs from; an installed kerasc has none)."""
    env = os.environ.get("KERASC_REF_RNN")
    if env:
        return Path(env) if Path(env).is_file() else None
    root = start or source_checkout()
    if root is None:
        return None
    candidate = root.parent / "shared" / "bench" / "ref_rnn.c"
    return candidate if candidate.is_file() else None


def find_eigen(start: Optional[Path] = None) -> tuple[Optional[Path], Optional[Path], str]:
    """(eigen_rnn.cpp, Eigen include directory, "") when the Eigen yardstick can be built, else
    (None, None, why not). Source: $KERASC_EIGEN_RNN, else the eigen_rnn.cpp kerasc ships (bench_c/);
    headers: $EIGEN_INCLUDE_DIR, else /usr/include/eigen3 or /usr/local/include/eigen3 (Debian:
    libeigen3-dev); compiler: $CXX, else g++."""
    env = os.environ.get("KERASC_EIGEN_RNN")
    src = Path(env) if env else (start / "bench_c" / "eigen_rnn.cpp" if start else bench_source("eigen_rnn.cpp"))
    if not src.is_file():
        return None, None, f"Eigen yardstick skipped: {src} not found"
    dirs = [os.environ["EIGEN_INCLUDE_DIR"]] if os.environ.get("EIGEN_INCLUDE_DIR") else \
        ["/usr/include/eigen3", "/usr/local/include/eigen3"]
    inc = next((Path(d) for d in dirs if (Path(d) / "Eigen" / "Dense").is_file()), None)
    if inc is None:
        return None, None, (f"Eigen yardstick skipped: no Eigen 3 headers in {' or '.join(dirs)} "
                            "(Debian: apt-get install libeigen3-dev; or set EIGEN_INCLUDE_DIR)")
    if shutil.which(default_cxx()) is None:
        return None, None, f"Eigen yardstick skipped: no C++ compiler '{default_cxx()}' (set CXX)"
    return src, inc, ""
