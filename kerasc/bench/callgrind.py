"""Instruction counts (valgrind --tool=callgrind): a figure noisy machines do not move."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Callable, Optional


def callgrind_instructions(cmd_for_reps: Callable[[int], list[str]], T: int) -> Optional[float]:
    """Instructions per timestep: Ir(2 reps) - Ir(1 rep), over T steps (start-up cost cancels)."""
    if shutil.which("valgrind") is None:
        return None
    counts = []
    with tempfile.TemporaryDirectory() as tmp:
        for reps in (1, 2):
            out = Path(tmp) / f"cg.{reps}"
            res = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                                  *cmd_for_reps(reps)], capture_output=True, text=True)
            if res.returncode != 0 or not out.exists():
                return None
            m = re.search(r"^(?:summary|totals):\s*(\d+)", out.read_text(), re.M)
            if not m:
                return None
            counts.append(int(m.group(1)))
    return (counts[1] - counts[0]) / T
