"""Portability matrix with -Werror: gcc and clang as STRICT with -Wshadow -Wconversion -Wdouble-promotion
-Wvla, g++ as C++11, arm-none-eabi-gcc for Cortex-M4F (hard float) and Cortex-M0 (soft float) at -Os
and -O2. Several model headers (LSTM, GRU, SimpleRNN, stacked, go_backwards, vector input, the demo)
go into ONE translation unit, which also proves their symbols do not collide. On the ARM objects:
no double-precision arithmetic (no __aeabi_d* helper calls, no .f64 FPU instructions), no heap, no
mutable globals, and every stack frame static and bounded (-fstack-usage, reported)."""

import re
import shutil

import pytest

from tests.support.env import require_tool, ROOT
from tests.support.flags import M0, M4F, STRICT, WARN
from tests.support.models import make_model, MODELS
from tests.support.programs import run

CONFIGS = {
    "gcc-O2": ("gcc", STRICT + ["-O2"]),
    "clang-O2": ("clang", STRICT + ["-O2"]),
    "g++-c++11-O2": ("g++", ["-x", "c++", "-std=c++11"] + WARN + ["-O2"]),
    "m4f-Os": ("arm-none-eabi-gcc", STRICT + M4F + ["-Os"]),
    "m4f-O2": ("arm-none-eabi-gcc", STRICT + M4F + ["-O2"]),
    "m0-Os": ("arm-none-eabi-gcc", STRICT + M0 + ["-Os"]),
    "m0-O2": ("arm-none-eabi-gcc", STRICT + M0 + ["-O2"]),
}


@pytest.fixture(scope="module")
def unit(tmp_path_factory, keras):
    """One C file that includes every model header and calls each model's whole API."""
    import kerasc

    d = tmp_path_factory.mktemp("matrix")
    irs = []
    for i, key in enumerate(MODELS):
        kerasc.convert(make_model(keras, key, seed=i), d)
        irs.append(kerasc.build_ir(make_model(keras, key, seed=i)))
    kerasc.convert(ROOT / "examples" / "demo" / "activity.keras", d)
    irs.append(kerasc.build_ir(ROOT / "examples" / "demo" / "activity.keras"))
    lines = ["/* every model's API in one translation unit */"]
    lines += [f'#include "{ir.name}.h"' for ir in irs]
    for ir in irs:
        p = ir.name
        lines.append(f"int use_{p}(const float *x, int T, float *y, float *work);")
        lines.append(f"int use_{p}(const float *x, int T, float *y, float *work)\n{{\n    {p}_state st;\n    {p}_scratch scr;")
        lines.append(f"    {p}_reset(&st);")
        if ir.causal:
            lines.append(f"    {p}_step(&st, &scr, x, y);")
        if not ir.input_seq:
            lines.append(f"    (void)T;\n    (void)work;\n    return {p}_predict(&st, &scr, x, y);\n}}")
        elif ir.needs_work:
            lines.append(f"    return {p}_predict(&st, &scr, x, T, y, work);\n}}")
        else:
            lines.append(f"    (void)work;\n    return {p}_predict(&st, &scr, x, T, y);\n}}")
    (d / "unit.c").write_text("\n".join(lines) + "\n")
    return d


@pytest.mark.parametrize("config", CONFIGS)
def test_compiles_with_werror(unit, config, tmp_path):
    cc, flags = CONFIGS[config]
    require_tool(cc)
    obj = tmp_path / "unit.o"
    run([cc, *flags, "-fstack-usage", "-c", unit / "unit.c", "-o", obj], cwd=tmp_path)
    assert obj.stat().st_size > 0
    if not config.startswith(("m4f", "m0")):
        return
    nm = shutil.which("arm-none-eabi-nm") or require_tool("arm-none-eabi-nm")
    symbols = run([nm, obj]).stdout.splitlines()
    undefined = {s.split()[-1] for s in symbols if " U " in s}
    assert not [s for s in undefined if s.startswith("__aeabi_d")], f"double arithmetic: {sorted(undefined)}"
    assert not undefined & {"malloc", "calloc", "realloc", "free"}, "heap use"
    writable = [s for s in symbols if re.match(r"^[0-9a-f]+ [bBdDcC] ", s)]
    assert not writable, f"mutable globals: {writable}"
    consts = [s for s in symbols if re.match(r"^[0-9a-f]+ [rR] ", s)]
    assert consts, "the weights should be read-only data"
    if config.startswith("m4f"):
        objdump = require_tool("arm-none-eabi-objdump")
        dis = run([objdump, "-d", obj]).stdout
        assert not re.search(r"\.f64\b", dis), "double-precision FPU instruction in the M4F object"
        assert re.search(r"\.f32\b", dis), "expected single-precision FPU instructions"
    frames = [line.split("\t") for line in (tmp_path / "unit.su").read_text().splitlines()]
    assert frames and all(q == "static" for _, _, q in frames), f"unbounded stack frames: {frames}"
    worst = max(frames, key=lambda f: int(f[1]))
    print(f"{config}: {len(frames)} functions, largest stack frame {worst[1]} bytes ({worst[0].split(':')[-1]})")
    assert int(worst[1]) < 4096
