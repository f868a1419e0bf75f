"""An independent instruction count: boot the same ELF in qemu-system-arm (-M mps2-an386, a Cortex-M4
board) with one instruction per translation block (-singlestep) and the execution log
(-d exec,nochain), and count the executed instructions from Reset_Handler up to cm_exit (and
between the calls of cm_mark)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

QEMU = "qemu-system-arm"
_TRACE = re.compile(r"^Trace \d+: 0x[0-9a-f]+ \[[0-9a-f]+/([0-9a-f]+)/")


def have_qemu() -> bool:
    return shutil.which(QEMU) is not None


def count(elf: Path, entry: int, stop: int, mark: int, timeout: float = 120) -> tuple[int, list]:
    """(instructions from entry to stop, instruction counts at each entry of mark)."""
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "exec.log"
        subprocess.run([QEMU, "-M", "mps2-an386", "-kernel", str(elf), "-semihosting", "-nographic",
                        "-monitor", "none", "-serial", "none", "-singlestep", "-d", "exec,nochain", "-D", str(log)],
                       check=True, capture_output=True, timeout=timeout)
        n, started, marks = 0, False, []
        with open(log) as fh:
            for line in fh:
                m = _TRACE.match(line)
                if not m:
                    continue
                pc = int(m.group(1), 16)
                if pc == entry:
                    started = True
                if not started:
                    continue
                if pc == stop:
                    break
                if pc == mark:
                    marks.append(n)
                n += 1
    return n, marks
