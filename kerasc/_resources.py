"""Where the C runtime and the Jinja templates live: inside the installed package
(wheel: kerasc/runtime_c, kerasc/templates, kerasc/bench_c) or beside it in a source checkout."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Optional

_PKG = Path(__file__).resolve().parent


@functools.cache
def resource_dir(name: str) -> Path:
    for candidate in (_PKG / name, _PKG.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"kerasc installation is incomplete: directory {name!r} not found near {_PKG}")


def source_checkout() -> Optional[Path]:
    """The repository root when kerasc runs from a source checkout (pyproject.toml beside the package), else None.
    Only what is not kerasc's own is looked for there (bench's ../shared/bench/ref_rnn.c)."""
    root = _PKG.parent
    return root if (root / "pyproject.toml").is_file() and (root / "templates").is_dir() else None


def runtime_dir() -> Path:
    return resource_dir("runtime_c")


def templates_dir() -> Path:
    return resource_dir("templates")


def cmake_dir() -> Path:
    return resource_dir("cmake")
