"""Where the C runtime and the Jinja templates live: inside the installed package
(wheel: kerasc/runtime_c, kerasc/templates) or beside it in a source checkout."""

from __future__ import annotations

import functools
from pathlib import Path

_PKG = Path(__file__).resolve().parent


@functools.cache
def resource_dir(name: str) -> Path:
    for candidate in (_PKG / name, _PKG.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"kerasc installation is incomplete: directory {name!r} not found near {_PKG}")


def runtime_dir() -> Path:
    return resource_dir("runtime_c")


def templates_dir() -> Path:
    return resource_dir("templates")


def cmake_dir() -> Path:
    return resource_dir("cmake")
