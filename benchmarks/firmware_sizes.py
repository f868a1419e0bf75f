"""Flash, RAM and stack of a model's step on every firmware target the project tests, in one run.

    python benchmarks/firmware_sizes.py [MODEL.keras]      (default: the demo model)

For each target the header is compiled as its one implementation unit (NAME_IMPLEMENTATION, -Os)
and measured: flash = code + const weights of that object (`size`: text + data), RAM = NAME_state +
NAME_scratch (caller-owned), stack = the deepest call path of NAME_step from GCC's -fstack-usage and
-fcallgraph-info (kerasc.stack; C library calls such as expf are listed, not counted). Targets whose
compiler is missing are reported as such."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import kerasc  # noqa: E402
from kerasc import stack  # noqa: E402
from kerasc.codegen import render_header, runtime_source  # noqa: E402

ARM = ("-mthumb",)
TARGETS = [
    ("Cortex-M0 (soft float)", "arm-none-eabi-gcc", ("-mcpu=cortex-m0", *ARM, "-mfloat-abi=soft"), ()),
    ("Cortex-M4F", "arm-none-eabi-gcc", ("-mcpu=cortex-m4", *ARM, "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"), ()),
    ("Cortex-M33 (FPU)", "arm-none-eabi-gcc", ("-mcpu=cortex-m33", *ARM, "-mfpu=fpv5-sp-d16", "-mfloat-abi=hard"),
     ()),
    ("Cortex-M7 (FPU)", "arm-none-eabi-gcc", ("-mcpu=cortex-m7", *ARM, "-mfpu=fpv5-sp-d16", "-mfloat-abi=hard"), ()),
    ("ATmega2560 (AVR, weights in flash)", "avr-gcc", ("-mmcu=atmega2560",), ("-DKC_WEIGHTS_PROGMEM",)),
]


def measure(ir, name: str, cc: str, flags: tuple, defines: tuple) -> str:
    path = shutil.which(cc)
    if path is None:
        return f"| {name} | {cc} not installed | | | |"
    with tempfile.TemporaryDirectory(prefix="kerasc-sizes-") as tmp:
        d = Path(tmp)
        (d / f"{ir.name}.h").write_text(render_header(ir))
        (d / "kc_runtime.h").write_text(runtime_source())
        (d / "unit.c").write_text(f"#define {ir.NAME}_IMPLEMENTATION\n#include \"{ir.name}.h\"\n")
        base = [path, "-std=c99", "-Os", *flags, *defines, "-c", "unit.c", "-o", "unit.o"]
        graph = subprocess.run(base + ["-fstack-usage", "-fcallgraph-info=su"], cwd=d, capture_output=True, text=True)
        if graph.returncode != 0:  # a GCC before 10 (Debian's avr-gcc 5.4) has no -fcallgraph-info
            subprocess.run(base, cwd=d, check=True, capture_output=True, text=True)
        size = subprocess.run([path.replace("gcc", "size"), "unit.o"], cwd=d, check=True, capture_output=True,
                              text=True).stdout.splitlines()[1].split()
        peaks = stack.analyse((d / "unit.su").read_text(), (d / "unit.ci").read_text(),
                              stack.entry_points(ir))[0] if graph.returncode == 0 else []
    text, data = int(size[0]), int(size[1])
    step = next((p for p in peaks if p.entry.endswith("_step")), peaks[0] if peaks else None)
    if step is None:
        return (f"| {name} | {text + data:,} | {ir.state_bytes} + {ir.scratch_bytes} | not measured ({cc} has no "
                "-fcallgraph-info) | - |")
    return (f"| {name} | {text + data:,} | {ir.state_bytes} + {ir.scratch_bytes} | {step.bytes}"
            f"{'' if step.bounded else ' (unbounded)'} | {', '.join(step.library) or '-'} |")


def main(argv: list[str]) -> int:
    model = argv[0] if argv else str(ROOT / "examples" / "demo" / "activity.keras")
    ir = kerasc.build_ir(model)
    print(f"{Path(model).name}: weights {ir.weight_bytes:,} bytes; -Os, one implementation unit")
    print("| target | flash B (code + weights) | RAM B (state + scratch) | stack B (NAME_step) | C library calls |")
    print("|---|---|---|---|---|")
    for name, cc, flags, defines in TARGETS:
        print(measure(ir, name, cc, flags, defines))
    for cc in ("arm-none-eabi-gcc", "avr-gcc"):
        if shutil.which(cc):
            print(f"{cc}: " + subprocess.run([cc, "--version"], capture_output=True, text=True).stdout.splitlines()[0])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
