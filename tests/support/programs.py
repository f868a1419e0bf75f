"""Running programs: the kerasc command line under test (with or without TensorFlow importable), and
compiled programs on the host or under QEMU, with their output shown when they fail."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

from .env import ROOT

# Block TensorFlow and Keras imports in a child process: what a `pip install kerasc` user without the extra has.
NO_TF = ("import sys; [sys.modules.__setitem__(m, None) for m in ('tensorflow', 'keras', 'tf_keras')]; "
         "from kerasc.cli import main; sys.exit(main(sys.argv[1:]))")


BLOCKED = ("tensorflow", "keras", "tf_keras", "jax", "torch")

# Python run as `python -c WRAPPER kerasc-args...`: block the imports, run `python -m kerasc`, and
# report any module of the blocked packages that got loaded anyway.
WRAPPER = f"""
import runpy, sys
BLOCKED = {BLOCKED!r}
for name in BLOCKED:
    sys.modules[name] = None
sys.argv = ["kerasc"] + sys.argv[1:]
try:
    runpy.run_module("kerasc", run_name="__main__", alter_sys=True)
finally:
    leaked = [m for m, v in sys.modules.items() if v is not None and m.split(".")[0] in BLOCKED]
    if leaked:
        print("LEAKED", leaked, file=sys.stderr)
"""


def kerasc_bare(*args, cwd) -> subprocess.CompletedProcess:
    """`python -m kerasc ARGS` in `cwd` with only PYTHONPATH, a minimal PATH and a private cache: the
    blocked packages fail to import, and any that gets loaded anyway is reported as LEAKED on stderr."""
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "KERASC_CACHE_DIR": str(cwd / "cache")}
    return subprocess.run([sys.executable, "-c", WRAPPER, *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=120)


def env_with_kerasc() -> dict:
    """Environment in which `python -m kerasc` runs the kerasc under test."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return env


def kerasc(*args, no_tf: bool = False, cwd=None, env: dict | None = None, check: bool = False,
           timeout: int = 600) -> subprocess.CompletedProcess:
    """`python -m kerasc ARGS` in a child process (no_tf: with TensorFlow and Keras unimportable);
    check=True fails the test, showing the output, on a non-zero exit."""
    cmd = [sys.executable, "-c", NO_TF] if no_tf else [sys.executable, "-m", "kerasc"]
    p = subprocess.run([*cmd, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                       env=env or env_with_kerasc(), timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"kerasc {' '.join(map(str, args))} exited {p.returncode}\nstdout:\n{p.stdout[-4000:]}\n"
                             f"stderr:\n{p.stderr[-4000:]}")
    return p


def kerasc_cli(*args: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """kerasc(...) that fails the test on a non-zero exit unless check=False."""
    return kerasc(*args, env=env, check=check)


def run(cmd: list, *, cwd=None, check: bool = True, timeout: int = 300, **kw) -> subprocess.CompletedProcess:
    """Run a command; on failure the assertion shows its output."""
    p = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} exited {p.returncode}\nstdout:\n{p.stdout[-4000:]}\n"
                             f"stderr:\n{p.stderr[-4000:]}")
    return p


def parse_floats(text: str) -> np.ndarray:
    return np.array([float(v) for v in text.split()], dtype=np.float64)
