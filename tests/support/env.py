"""Where the suite runs: the source tree, whether this is CI, and the tools a test needs."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "examples" / "demo" / "activity.keras"
ON_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_tool(name: str) -> str:
    """Path of a command-line tool, or a skip that says why (a failure under CI=true)."""
    path = shutil.which(name)
    if path is None:
        msg = f"{name} is not installed (run `make deps` as root to install it)"
        if ON_CI:
            pytest.fail(msg + "; CI must have it")
        pytest.skip(msg)
    return path


def cpu_flags() -> set:
    """The host CPU's feature flags (/proc/cpuinfo), empty where unknown."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def script_module(relpath: str):
    """A module of the source tree outside the kerasc package (benchmarks/, tools/) imported by its
    path, once; a package's __init__.py imports the package, so `from NAME import sub` works after."""
    path = ROOT / relpath
    name = path.parent.name if path.name == "__init__.py" else path.stem
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, path, submodule_search_locations=[str(path.parent)] if path.name == "__init__.py" else None)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]
