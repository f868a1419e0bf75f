"""Firmware targets of kc_runtime.h (issue 23 items 1, 2, 7; docs/runtime.md "Targets"):
- every Arm target, gcc and clang, with and without -ffreestanding: the demo header's object code
  calls no fmaf and no double-precision helper, and where the target has an FMA the products are
  fused instructions (KC_FMA 1, VFMA.F32 in the code);
- 16-bit int (AVR ATmega2560, avr-gcc + avr-libc): the demo builds with -Werror for every weight
  type (avr-libc lacks expm1f/erff/log1pf: only the activations a model calls are compiled), and
  programs run under simavr agree with real Keras (int8 demo; small float32 and float16 models:
  float32/float16 demo weights do not fit the 8 KB of SRAM as plain `static const`);
- optional activations requested by two headers in one translation unit (define-if-any);
- -Wfloat-equal and -Wdeclaration-after-statement clean (Bidirectional predict included)."""

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.support.env import DEMO, require_tool, ROOT
from tests.support.flags import AVR_STRICT, STRICT
from tests.support.models import keras_truth, randomize
from tests.support.parity import assert_close

# library symbols the float-only step must never need: fmaf (software double in newlib) and the
# double-precision helpers of the Arm EABI / libgcc
FORBIDDEN = re.compile(r"^(fmaf?|__aeabi_d\w+|__(add|sub|mul|div)df3|__extendsfdf2|__truncdfsf2|__fix\w*df\w*|"
                       r"__float\w*df|__(eq|ne|lt|le|gt|ge|un)df2)$")

# (id, compiler, flags, target has a single-precision FMA)
ARM = [
    ("gcc-m4f", "arm-none-eabi-gcc", ["-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"], True),
    ("gcc-m0", "arm-none-eabi-gcc", ["-mcpu=cortex-m0", "-mthumb", "-mfloat-abi=soft"], False),
    ("gcc-m33", "arm-none-eabi-gcc", ["-mcpu=cortex-m33", "-mthumb", "-mfpu=fpv5-sp-d16", "-mfloat-abi=hard"], True),
    ("clang-v7em", "clang", ["--target=thumbv7em-none-eabihf", "-mfpu=fpv4-sp-d16"], True),
    ("clang-v6m", "clang", ["--target=thumbv6m-none-eabi"], False),
    ("clang-v8m", "clang", ["--target=thumbv8m.main-none-eabihf", "-mfpu=fpv5-sp-d16"], True),
]

TU = '#include "activity.h"\n' \
     "#if KC_FMA != {fma}\n#error KC_FMA is not {fma}\n#endif\n" \
     "void run(activity_state *st, activity_scratch *scr, const kc_float *x, kc_float *y);\n" \
     "void run(activity_state *st, activity_scratch *scr, const kc_float *x, kc_float *y)\n" \
     "{{ activity_step(st, scr, x, y); }}\n"


@pytest.fixture(scope="module")
def demo_headers(tmp_path_factory):
    """{weight type: directory with activity.h + kc_runtime.h} (the demo model, no TensorFlow needed)."""
    import kerasc

    out = {}
    for w in ("float32", "float16", "int8"):
        d = tmp_path_factory.mktemp(f"demo_{w}")
        kerasc.convert(str(DEMO), d, name="activity", weights=w)
        out[w] = d
    return out


def _newlib_include() -> Path:
    gcc = Path(require_tool("arm-none-eabi-gcc")).resolve()
    inc = gcc.parent.parent / "lib" / "arm-none-eabi" / "include"
    assert (inc / "string.h").is_file(), f"newlib headers not found at {inc} (Debian libnewlib-arm-none-eabi)"
    return inc


def _run(cmd):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))}\n{r.stdout}\n{r.stderr}"
    return r.stdout


@pytest.mark.parametrize("freestanding", [False, True], ids=["hosted", "freestanding"])
@pytest.mark.parametrize("target", ARM, ids=[t[0] for t in ARM])
@pytest.mark.parametrize("wtype", ["float32", "int8"])
def test_arm_products_fuse_only_as_instructions(demo_headers, target, freestanding, wtype, tmp_path):
    _, cc, flags, has_fma = target
    cc = require_tool(cc)
    nm, objdump = require_tool("arm-none-eabi-nm"), require_tool("arm-none-eabi-objdump")
    extra = ["-isystem", _newlib_include()] if "clang" in Path(cc).name else []
    tu = tmp_path / "tu.c"
    tu.write_text(TU.format(fma=int(has_fma)))
    obj = tmp_path / "tu.o"
    _run([cc, *STRICT, "-O2", *flags, *extra, *(["-ffreestanding"] if freestanding else []),
          f"-I{demo_headers[wtype]}", "-c", tu, "-o", obj])
    undefined = [ln.split()[-1] for ln in _run([nm, "-u", obj]).splitlines() if ln.strip()]
    bad = [s for s in undefined if FORBIDDEN.match(s)]
    assert not bad, f"the step calls {bad} (undefined symbols: {undefined})"
    fused = len(re.findall(r"\bvfma\.f32\b", _run([objdump, "-d", obj])))
    if has_fma:
        assert fused > 0, "KC_FMA is 1 but the object code has no VFMA.F32"
    else:
        assert fused == 0


# ------------------------------------------------------------------------- AVR (16-bit int)

AVR_FLAGS = ["-mmcu=atmega2560", "-Os", "-DKC_BLOCK=32"]  # 8 KB SRAM: a smaller product block on the stack
# avr-libc's float functions are its double ones (double is 32 bits there): -Wdouble-promotion would
# flag every call to them, at no cost

AVR_MAIN = r"""
#include <avr/io.h>
#include <avr/interrupt.h>
#include <avr/sleep.h>
#include "{name}.h"

{inputs}

static void put(char c)
{{
    while (!(UCSR0A & (1 << UDRE0))) {{
    }}
    UDR0 = (uint8_t)c;
}}

static void hex32(uint32_t v)
{{
    int i;
    for (i = 28; i >= 0; i -= 4) {{
        put("0123456789abcdef"[(v >> i) & 15u]);
    }}
}}

int main(void)
{{
    static {name}_state st;
    static {name}_scratch scr;
    float y[{NAME}_OUTPUT_SIZE];
    int t, j;
    UCSR0B = (1 << TXEN0);
    {name}_reset(&st);
    for (t = 0; t < T_STEPS; ++t) {{
        {name}_step(&st, &scr, xs[t], y);
    }}
    put('<');
    for (j = 0; j < {NAME}_OUTPUT_SIZE; ++j) {{
        uint32_t b;
        memcpy(&b, &y[j], sizeof b);
        put(' ');
        hex32(b);
    }}
    put(' ');
    put('>');
    put('\n');
    cli();
    sleep_cpu(); /* simavr stops here */
    return 0;
}}
"""


def _c_inputs(x: np.ndarray) -> str:
    rows = ",\n".join("    { " + ", ".join(f"{float(v):.9g}f" for v in row) + " }" for row in x)
    return f"#define T_STEPS {len(x)}\nstatic const float xs[T_STEPS][{x.shape[1]}] = {{\n{rows}\n}};"


def _avr_run(header_dir: Path, name: str, x: np.ndarray, tmp_path: Path, flags=()) -> np.ndarray:
    """Last output of NAME_step over x (T, F), on a simulated ATmega2560."""
    cc = require_tool("avr-gcc")
    simavr = require_tool("simavr")
    src = tmp_path / f"{name}_avr.c"
    src.write_text(AVR_MAIN.format(name=name, NAME=name.upper(), inputs=_c_inputs(x)))
    elf = tmp_path / f"{name}.elf"
    _run([cc, *AVR_STRICT, *AVR_FLAGS, *flags, f"-I{header_dir}", src, "-o", elf, "-lm"])
    r = subprocess.run([simavr, "-m", "atmega2560", "-f", "16000000", str(elf)], capture_output=True, text=True,
                       timeout=120)
    m = re.search(r"<((?: [0-9a-f]{8})+) >", r.stdout + r.stderr)  # simavr prints the UART on stderr
    assert m, f"no output from simavr (rc {r.returncode}):\n{r.stdout}\n{r.stderr}"
    bits = np.array([int(h, 16) for h in m.group(1).split()], dtype=np.uint32)
    return bits.view(np.float32).astype(np.float64)


@pytest.mark.parametrize("wtype", ["float32", "float16", "int8"])
def test_avr_demo_builds_with_werror(demo_headers, wtype, tmp_path):
    """16-bit int: the float16 decoder's constants and every kernel the demo calls compile cleanly, and
    the runtime declares no libm function avr-libc lacks (expm1f, erff, log1pf)."""
    cc = require_tool("avr-gcc")
    tu = tmp_path / "tu.c"
    tu.write_text(TU.format(fma=0))
    _run([cc, *AVR_STRICT, *AVR_FLAGS, "-Wconversion", f"-I{demo_headers[wtype]}", "-c", tu, "-o", tmp_path / "tu.o"])


@pytest.mark.parametrize("wtype", ["float32", "float16", "int8"])
def test_avr_demo_matches_keras_under_simavr(demo_headers, keras, wtype, tmp_path):
    """The demo with its weights in flash (KC_WEIGHTS_PROGMEM: as plain `static const` the float32
    and float16 weights do not fit the 8 KB of SRAM)."""
    from kerasc.quant import default_tolerance

    model = keras.models.load_model(DEMO)
    x = np.load(ROOT / "examples" / "demo" / "held_inputs.npy")[:1, :24]
    k = keras_truth(model, x)[0]
    y = _avr_run(demo_headers[wtype], "activity", x[0], tmp_path, ["-DKC_WEIGHTS_PROGMEM"])
    atol, rtol = default_tolerance(wtype)
    assert_close(y, k, f"{wtype} demo on ATmega2560 (simavr)", atol=atol, rtol=rtol)


@pytest.mark.parametrize("wtype", ["float32", "float16"])
def test_avr_small_model_matches_keras_under_simavr(keras, wtype, tmp_path):
    """Weights in SRAM (no KC_WEIGHTS_PROGMEM): the plain loads of the kernels on a 16-bit-int target."""
    import kerasc
    from kerasc.quant import default_tolerance

    k = keras
    model = k.Sequential([k.Input((None, 3)), k.layers.LSTM(8, return_sequences=True), k.layers.GRU(6),
                          k.layers.Dense(4, activation="softmax")])
    randomize(model, seed=5)
    x = np.random.default_rng(6).standard_normal((1, 12, 3)).astype(np.float32)
    truth = keras_truth(model, x)[0]
    kerasc.convert(model, tmp_path, name="small", weights=wtype)
    y = _avr_run(tmp_path, "small", x[0], tmp_path)
    atol, rtol = default_tolerance(wtype)
    assert_close(y, truth, f"{wtype} LSTM+GRU on ATmega2560 (simavr)", atol=atol, rtol=rtol)


# ------------------------------------------------------------------------- optional activations, warnings

def test_optional_activations_define_if_any(keras, tmp_path):
    """Two headers in one translation unit, each needing different optional activations (elu; gelu
    and mish): each header requests its own, the runtime compiles every one requested by any; a
    header that needs none requests none."""
    import kerasc

    k = keras
    models = {
        "m_elu": k.Sequential([k.Input((None, 2)), k.layers.GRU(3, activation="elu")]),
        "m_gelu": k.Sequential([k.Input((None, 2)), k.layers.LSTM(3, return_sequences=True),
                                k.layers.Dense(2, activation="gelu"), k.layers.Dense(2, activation="mish")]),
        "m_none": k.Sequential([k.Input((None, 2)), k.layers.LSTM(3)]),
    }
    for i, (name, m) in enumerate(models.items()):
        randomize(m, seed=i)
        kerasc.convert(m, tmp_path, name=name)
    defines = {n: sorted(re.findall(r"#define (KC_USE_\w+)", (tmp_path / f"{n}.h").read_text())) for n in models}
    assert defines == {"m_elu": ["KC_USE_ELU"], "m_gelu": ["KC_USE_GELU", "KC_USE_MISH"], "m_none": []}
    tu = tmp_path / "both.c"
    tu.write_text('#include "m_none.h"\n#include "m_elu.h"\n#include "m_gelu.h"\n'
                  "int run(void);\nint run(void)\n{\n    kc_float x[2] = { 0.5f, -0.5f }, y[3];\n"
                  "    m_elu_state a;\n    m_gelu_state b;\n    m_none_state c;\n"
                  "    m_elu_scratch sa;\n    m_gelu_scratch sb;\n    m_none_scratch sc;\n"
                  "    m_elu_reset(&a);\n    m_elu_step(&a, &sa, x, y);\n"
                  "    m_gelu_reset(&b);\n    m_gelu_step(&b, &sb, x, y);\n"
                  "    m_none_reset(&c);\n    m_none_step(&c, &sc, x, y);\n    return y[0] > 0.0f;\n}\n")
    for cc in ("gcc", "clang"):
        _run([require_tool(cc), *STRICT, "-O2", f"-I{tmp_path}", "-c", tu, "-o", tmp_path / f"both_{cc}.o"])


def test_float_equal_and_declaration_after_statement_clean(keras, tmp_path):
    """-Wfloat-equal over the whole runtime (KC_USE_ALL_ACTIVATIONS, sparsemax and max pooling among
    them) and -Wdeclaration-after-statement over a Bidirectional model's predict (work buffers)."""
    import kerasc

    k = keras
    model = k.Sequential([k.Input((None, 3)), k.layers.Bidirectional(k.layers.LSTM(4, return_sequences=True)),
                          k.layers.GlobalMaxPooling1D(), k.layers.Dense(3, activation="sparsemax")])
    randomize(model, seed=3)
    kerasc.convert(model, tmp_path, name="bi")
    tu = tmp_path / "bi.c"
    tu.write_text('#define KC_USE_ALL_ACTIVATIONS 1\n#include "bi.h"\n'
                  "int run(const kc_float *x, kc_float *y, kc_float *work);\n"
                  "int run(const kc_float *x, kc_float *y, kc_float *work)\n"
                  "{\n    static bi_state st;\n    static bi_scratch scr;\n"
                  "    return bi_predict(&st, &scr, x, 4, y, work);\n}\n")
    for cc in ("gcc", "clang"):
        _run([require_tool(cc), *STRICT, "-O2", f"-I{tmp_path}", "-c", tu, "-o", tmp_path / f"bi_{cc}.o"])
