"""A cycle-approximate Cortex-M4(F) / Cortex-M0 simulator: Unicorn executes the Thumb code, Capstone
classifies every executed instruction, and each one is charged the cycles of the core's Technical
Reference Manual (ARM DDI 0439 Cortex-M4 TRM, tables 3-1 "Cortex-M4 instruction set summary" and 7-1
"FPU instruction set"; ARM DDI 0432 Cortex-M0 TRM, table 3-1).

What is modelled (see docs/cortex-m.md for the validation):
- every executed instruction is counted (Unicorn's basic-block hook; each block is decoded once by
  Capstone and its static cost cached);
- a taken branch or any write to the PC costs the pipeline refill P (default 2: B = 1 + P = 3 cycles on
  both cores, BL on the M0 = 2 + P = 4), detected from the address of the next executed block;
- Cortex-M4 load pipelining: a single LDR/STR that follows another single LDR/STR takes 1 cycle instead
  of 2 unless its address register is the previous load's destination; STR Rt,[Rn,#imm] is always 1;
- LDM/STM/PUSH/POP/VLDM/VSTM/VPUSH/VPOP: 1 + N (N registers, a double register counts 2 words);
- flash wait states `ws`: added to every pipeline refill, to every sequential 32-bit code fetch
  (`fetch_ws=True`, no prefetch buffer or flash accelerator) and to every data word read from flash.
Not modelled: data-dependent stalls between FPU instructions, the write buffer, interrupts, early
termination of SDIV/UDIV (charged at their 12-cycle maximum), IT folding (IT charged 1), and
conditionally skipped instructions inside IT blocks (charged as executed; ALU ones cost 1 either way).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import capstone
from capstone import arm_const as A
import unicorn
from unicorn import arm_const as U

CORES = {
    # name: (unicorn cpu model, capstone mode flags, is M0 class)
    "cortex-m4f": (U.UC_CPU_ARM_CORTEX_M4, False),
    "cortex-m4": (U.UC_CPU_ARM_CORTEX_M4, False),
    "cortex-m0": (U.UC_CPU_ARM_CORTEX_M0, True),
}

P_REFILL = 2

_ALU1 = set()  # everything not listed below costs 1
_BRANCH = {"b", "bl", "bx", "blx", "cbz", "cbnz"}
_TABLE = {"tbb", "tbh"}
_LOAD1 = {"ldr", "ldrb", "ldrh", "ldrsb", "ldrsh", "ldrex", "ldrexb", "ldrexh", "ldrt", "ldrbt", "ldrht",
          "ldrsbt", "ldrsht"}
_STORE1 = {"str", "strb", "strh", "strex", "strexb", "strexh", "strt", "strbt", "strht"}
_MULTI = {"ldm", "ldmia", "ldmfd", "ldmdb", "ldmea", "stm", "stmia", "stmea", "stmdb", "stmfd", "push", "pop"}
_VMULTI = {"vldmia", "vldmdb", "vstmia", "vstmdb", "vldm", "vstm", "vpush", "vpop"}
_M4_MUL2 = {"mla", "mls"}
_DIV = {"sdiv", "udiv"}
_VFP14 = {"vdiv", "vsqrt"}
_VFP3 = {"vmla", "vmls", "vnmla", "vnmls", "vfma", "vfms", "vfnma", "vfnms"}
_VLDST = {"vldr", "vstr"}
_BARRIER = {"dsb", "dmb", "isb"}


def _base(mn: str) -> str:
    """The mnemonic without condition code, .w/.n width or .f32-style data type suffixes."""
    mn = mn.split(".")[0]
    return mn


@dataclass
class InsnCost:
    address: int
    size: int
    mnemonic: str
    cycles: int  # static cost, without the refill of a taken branch
    writes_pc: bool
    klass: str


def _nregs(insn) -> int:
    n = 0
    for op in insn.operands:
        if op.type == A.ARM_OP_REG:
            name = insn.reg_name(op.reg)
            n += 2 if name.startswith("d") else 1
    return n


def classify(insn, m0: bool, mul_cycles: int = 1) -> tuple[str, int]:
    """(class, cycles) of one decoded instruction, from the TRM tables (refill not included)."""
    mn = _base(insn.mnemonic)
    regs = [insn.reg_name(op.reg) for op in insn.operands if op.type == A.ARM_OP_REG]
    pc_dest = bool(regs) and regs[0] == "pc" and mn not in _STORE1 and not mn.startswith("st") and \
        not mn.startswith("cmp") and not mn.startswith("tst") and mn != "push"
    if mn in _BRANCH:
        return "branch", (2 if (m0 and mn == "bl") else 1)
    if mn in _TABLE:
        return "branch", 2
    if mn in _MULTI:
        n = _nregs(insn) - (1 if mn not in ("push", "pop") else 0)  # LDM/STM's first register is the base
        return "ldm/stm", 1 + n
    if mn in _VMULTI:
        n = _nregs(insn) - (0 if mn in ("vpush", "vpop") else 1)
        return "vldm/vstm", 1 + n
    if mn in ("ldrd", "strd"):
        return "ldrd/strd", 3
    if mn in _LOAD1 or mn in _STORE1:
        return ("load" if mn in _LOAD1 else "store"), 2
    if mn in _VLDST:
        return "vldr/vstr", 2
    if mn in _VFP14:
        return "vdiv/vsqrt", 14
    if mn in _VFP3:
        return "vfp mac", 3
    if mn in ("vmov",):
        return "vmov", 2 if len(regs) >= 3 else 1
    if mn.startswith("v"):
        return "vfp", 1
    if mn in _DIV:
        return "div", 12
    if mn in ("mul", "muls"):
        return "mul", mul_cycles if m0 else 1
    if mn in _M4_MUL2:
        return "mul", 2
    if mn in ("smull", "umull", "smlal", "umlal") or (mn.startswith("sm") and mn != "smc") or mn.startswith("um"):
        return "mul", 1
    if mn in _BARRIER:
        return "barrier", 4 if m0 else 2
    if mn in ("mrs", "msr"):
        return "system", 4 if m0 else 2
    if pc_dest:
        return "alu->pc", 1
    return "alu", 1


@dataclass
class RunResult:
    cycles: int
    instructions: int
    marks: list  # (cycles, instructions) at each call of the mark function
    classes: dict = field(default_factory=dict)  # class -> instructions executed
    stack_peak: int = 0
    flash_reads: int = 0


class Simulator:
    """Load an ELF's segments into Unicorn (flash and RAM as the linker script lays them out) and run
    from `entry` until `stop` is reached."""

    def __init__(self, core: str, flash=(0x0, 1 << 20), ram=(0x20000000, 256 << 10), ws: int = 0,
                 fetch_ws: bool = True, mul_cycles: int = 1):
        if core not in CORES:
            raise ValueError(f"unknown core {core!r} (one of {', '.join(CORES)})")
        self.core = core
        cpu, self.m0 = CORES[core]
        self.flash, self.ram, self.ws, self.fetch_ws, self.mul_cycles = flash, ram, ws, fetch_ws, mul_cycles
        self.uc = unicorn.Uc(unicorn.UC_ARCH_ARM, unicorn.UC_MODE_THUMB | unicorn.UC_MODE_MCLASS)
        self.uc.ctl_set_cpu_model(cpu)
        self.uc.mem_map(flash[0], flash[1])
        self.uc.mem_map(ram[0], ram[1])
        self.cs = capstone.Cs(capstone.CS_ARCH_ARM, capstone.CS_MODE_THUMB | capstone.CS_MODE_MCLASS)
        self.cs.detail = True
        self._blocks: dict = {}

    def write(self, addr: int, data: bytes) -> None:
        self.uc.mem_write(addr, bytes(data))

    def read(self, addr: int, n: int) -> bytes:
        return bytes(self.uc.mem_read(addr, n))

    def _decode(self, addr: int, size: int):
        code = self.read(addr, size)
        insns = list(self.cs.disasm(code, addr))
        costs = []
        total = 0
        prev = None  # previous single load/store: (is_load, dest register)
        klass_counts: dict = {}
        fetch_words = 0
        for insn in insns:
            klass, cyc = classify(insn, self.m0, self.mul_cycles)
            mn = _base(insn.mnemonic)
            regs = [insn.reg_name(op.reg) for op in insn.operands if op.type == A.ARM_OP_REG]
            if not self.m0 and klass in ("load", "store"):
                if klass == "store" and len(insn.operands) == 2 and insn.operands[1].type == A.ARM_OP_MEM \
                        and insn.operands[1].mem.index == 0 and not insn.writeback:
                    cyc = 1  # STR Rt,[Rn,#imm] is always one cycle (M4 TRM 3.3.2)
                elif prev is not None:
                    base = insn.reg_name(insn.operands[-1].mem.base) if insn.operands[-1].type == A.ARM_OP_MEM else ""
                    index = insn.reg_name(insn.operands[-1].mem.index) if insn.operands[-1].type == A.ARM_OP_MEM \
                        and insn.operands[-1].mem.index else ""
                    if not (prev[0] and prev[1] in (base, index)):
                        cyc = 1  # pipelined with the preceding load/store
                prev = (klass == "load", regs[0] if regs else "")
            else:
                prev = None
            if regs and regs[0] == "pc" and klass in ("load",):
                cyc = 2
            total += cyc
            klass_counts[klass] = klass_counts.get(klass, 0) + 1
            costs.append(insn)
        if self.ws and self.fetch_ws and self.flash[0] <= addr < self.flash[0] + self.flash[1]:
            fetch_words = (size + 3) // 4
            total += self.ws * fetch_words
        decoded = sum(i.size for i in insns)
        if decoded != size:
            raise RuntimeError(f"capstone decoded {decoded} of {size} bytes at {addr:#x}")
        return total, len(insns), klass_counts

    def run(self, entry: int, stop: int, sp: int, mark: Optional[int] = None, stack=(0, 0),
            paint: int = 0xC5C5C5C5, max_instructions: int = 2_000_000_000) -> RunResult:
        """Run from `entry` (Thumb) with SP=sp until PC == stop. `mark`: the address of a function whose
        every call records (cycles, instructions). `stack`: (low, high) painted before and scanned after."""
        uc = self.uc
        if stack[1] > stack[0]:
            self.write(stack[0], paint.to_bytes(4, "little") * ((stack[1] - stack[0]) // 4))
        st = {"cycles": 0, "insns": 0, "next": None, "flash_reads": 0}
        marks = []
        classes: dict = {}
        blocks = self._blocks
        refill = P_REFILL + self.ws

        def on_block(uc_, address, size, _):
            if st["next"] is not None and address != st["next"]:
                st["cycles"] += refill
            if address == mark:
                marks.append((st["cycles"] + self.ws * st["flash_reads"], st["insns"]))
            b = blocks.get((address, size))
            if b is None:
                b = blocks[(address, size)] = self._decode(address, size)
            st["cycles"] += b[0]
            st["insns"] += b[1]
            for k, v in b[2].items():
                classes[k] = classes.get(k, 0) + v
            st["next"] = address + size

        uc.hook_add(unicorn.UC_HOOK_BLOCK, on_block)
        if self.ws:
            def on_read(uc_, access, address, size, value, _):
                st["flash_reads"] += (size + 3) // 4
            uc.hook_add(unicorn.UC_HOOK_MEM_READ, on_read, begin=self.flash[0], end=self.flash[0] + self.flash[1] - 1)
        uc.reg_write(U.UC_ARM_REG_SP, sp)
        uc.emu_start(entry | 1, stop, count=max_instructions)
        pc = uc.reg_read(U.UC_ARM_REG_PC)
        if pc != stop:
            raise RuntimeError(f"simulation stopped at {pc:#x}, not at the exit {stop:#x}")
        cycles = st["cycles"] + self.ws * st["flash_reads"]
        peak = 0
        if stack[1] > stack[0]:
            data = self.read(stack[0], stack[1] - stack[0])
            pat = paint.to_bytes(4, "little")
            i = 0
            while i < len(data) and data[i:i + 4] == pat:
                i += 4
            peak = len(data) - i
        return RunResult(cycles, st["insns"], marks, classes, peak, st["flash_reads"])
