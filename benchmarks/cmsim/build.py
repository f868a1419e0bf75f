"""Build a bare-metal Cortex-M ELF with arm-none-eabi-gcc (startup.c + cm.ld beside this file) and
run it in the simulator (sim.py): cycles and instructions between calls of cm_mark(), peak stack
(painted), flash and RAM from the ELF's sections."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .sim import RunResult, Simulator

HERE = Path(__file__).resolve().parent
CC = "arm-none-eabi-gcc"
TARGET_FLAGS = {
    "cortex-m4f": ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
    "cortex-m4": ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=soft"],
    "cortex-m0": ["-mcpu=cortex-m0", "-mthumb", "-mfloat-abi=soft"],
}
COMMON = ["-std=c99", "-ffunction-sections", "-fdata-sections", "-fno-common"]
LINK = ["-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs", "-Wl,--gc-sections"]


class BuildError(RuntimeError):
    pass


def have_toolchain() -> bool:
    return shutil.which(CC) is not None


def compiler_version() -> str:
    try:
        return subprocess.run([CC, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        return f"{CC} (not found)"


def build(sources: list, out: Path, target: str, opt: str, includes=(), defines=(), extra=()) -> Path:
    """Compile and link sources + startup.c with cm.ld into out (an ELF)."""
    cmd = [CC, *TARGET_FLAGS[target], opt, *COMMON, *[f"-I{i}" for i in includes], *[f"-D{d}" for d in defines],
           *extra, *[str(s) for s in sources], str(HERE / "startup.c"), "-T", str(HERE / "cm.ld"), *LINK,
           "-o", str(out), "-lm"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise BuildError(f"{' '.join(cmd)}\n{res.stderr.strip()[-3000:]}")
    return out


def symbols(elf: Path) -> dict:
    out = subprocess.run([CC.replace("gcc", "nm"), "-S", str(elf)], capture_output=True, text=True, check=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3:
            syms[parts[-1]] = (int(parts[0], 16), int(parts[1], 16) if len(parts) == 4 else 0)
    return syms


def sizes(elf: Path) -> tuple[int, int]:
    """(flash bytes, static RAM bytes without the stack) from arm-none-eabi-size -A."""
    out = subprocess.run([CC.replace("gcc", "size"), "-A", str(elf)], capture_output=True, text=True,
                         check=True).stdout
    flash = ram = 0
    for line in out.splitlines():
        m = re.match(r"(\.\S+)\s+(\d+)\s+(\d+)", line)
        if not m:
            continue
        name, size, addr = m.group(1), int(m.group(2)), int(m.group(3))
        if name in (".isr_vector", ".text", ".rodata", ".ARM.exidx", ".data"):
            flash += size
        if name in (".data", ".bss", ".noinit"):
            ram += size
    return flash, ram


def load_segments(elf: Path):
    """PT_LOAD segments of an ELF32 little-endian file: (load address, bytes)."""
    data = elf.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 1:
        raise BuildError(f"{elf}: not an ELF32 file")
    e_phoff, = struct.unpack_from("<I", data, 28)
    e_phentsize, e_phnum = struct.unpack_from("<HH", data, 42)
    segs = []
    for i in range(e_phnum):
        p_type, p_offset, p_vaddr, p_paddr, p_filesz = struct.unpack_from("<IIIII", data, e_phoff + i * e_phentsize)
        if p_type == 1 and p_filesz:
            segs.append((p_paddr, data[p_offset:p_offset + p_filesz]))
    return segs


@dataclass
class Measured:
    run: RunResult
    flash: int
    ram: int
    syms: dict
    sim: Simulator

    def between(self, i: int, j: int) -> tuple[int, int]:
        """(cycles, instructions) between mark i and mark j."""
        (c0, n0), (c1, n1) = self.run.marks[i], self.run.marks[j]
        return c1 - c0, n1 - n0

    def read_floats(self, name: str, n: int):
        import numpy as np

        addr = self.syms[name][0]
        return np.frombuffer(self.sim.read(addr, 4 * n), dtype="<f4").astype(np.float64)


def run_elf(elf: Path, target: str, inputs: Optional[dict] = None, ws: int = 0, **kw) -> Measured:
    """Load elf, write `inputs` ({symbol: bytes}) into RAM, run Reset_Handler to cm_exit."""
    syms = symbols(elf)
    sim = Simulator(target, ws=ws, **kw)
    sim.uc.mem_map(0xE000E000, 0x1000)  # the System Control Space page (CPACR), plain memory here
    for addr, blob in load_segments(elf):
        sim.write(addr, blob)
    for name, blob in (inputs or {}).items():
        sim.write(syms[name][0], blob)
    estack = syms["_estack"][0]
    res = sim.run(syms["Reset_Handler"][0], syms["cm_exit"][0] & ~1, sp=estack, mark=syms["cm_mark"][0] & ~1,
                  stack=(syms["_sstack"][0], estack))
    flash, ram = sizes(elf)
    return Measured(res, flash, ram, syms, sim)
