"""Programs the integer-inference tests build from generated headers (tests/parity/test_qint*.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.support.env import require_tool
from tests.support.flags import CXX, M0, M4F, STRICT
from tests.support.programs import run


def predict_program(name: str, x: np.ndarray) -> str:
    """C source that runs NAME_predict on x (T, features) and prints every output as a hex float (exit 1 on -1)."""
    rows = ", ".join(f"{v:.9g}f" for v in x.ravel())
    return (f'#include <stdio.h>\n#include "{name}.h"\n'
            f"static const float x[{x.size}] = {{{rows}}};\n"
            f"static float y[{x.shape[0]} * {name.upper()}_OUTPUT_WIDTH];\n"
            f"int main(void)\n{{\n    static {name}_state st;\n    int j;\n"
            f"    if ({name}_predict(&st, x, {x.shape[0]}, y) != 0) {{\n        return 1;\n    }}\n"
            f"    for (j = 0; j < (int)(sizeof y / sizeof y[0]); ++j) {{\n"
            '        printf("%a\\n", (double)y[j]);\n    }\n    return 0;\n}\n')


def dsp_portable_host_outputs(headers: Path, name: str, x: np.ndarray, tmp_path: Path) -> list[str]:
    """What predict_program prints built for Armv7-A with the DSP path (checked to contain SMLAD and SXTB16), with
    -DKC_Q_PORTABLE (both under qemu-arm), and on the host."""
    cc, qemu = require_tool("arm-linux-gnueabihf-gcc"), require_tool("qemu-arm")
    src = tmp_path / "p.c"
    src.write_text(predict_program(name, x))
    outs = []
    for tag, cmd in (("dsp", [cc, "-static"]), ("portable", [cc, "-static", "-DKC_Q_PORTABLE"]), ("host", ["gcc"])):
        exe = tmp_path / tag
        run([*cmd, *STRICT, "-O2", f"-I{headers}", src, "-o", exe, "-lm"])
        if tag == "dsp":
            asm = run([*cmd, *STRICT, "-O2", f"-I{headers}", "-S", src, "-o", "-"]).stdout
            assert "smlad" in asm and "sxtb16" in asm  # the DSP path is what was built
        outs.append(run([qemu, exe] if tag != "host" else [exe]).stdout)
    return outs


def compile_everywhere(src: Path, headers: Path, tmp_path: Path) -> None:
    """src compiles warning-free (-Werror) with gcc, clang, g++ and arm-none-eabi-gcc (M4F, M0, M4F portable), -O2 and -Os."""
    for cc in (["gcc", *STRICT], [require_tool("clang"), *STRICT], [require_tool("g++"), *CXX],
               [require_tool("arm-none-eabi-gcc"), *STRICT, *M4F], [require_tool("arm-none-eabi-gcc"), *STRICT, *M0],
               [require_tool("arm-none-eabi-gcc"), *STRICT, *M4F, "-DKC_Q_PORTABLE"]):
        for opt in ("-O2", "-Os"):
            run([*cc, opt, f"-I{headers}", "-c", src, "-o", tmp_path / "all.o"])
