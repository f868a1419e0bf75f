"""The per-timestep layers' generated C (every kind and variant: activation layers, PReLU weights, layer and
batch normalization, a folded BatchNormalization, Normalization, Rescaling, masked and plain global pooling,
float32 and int8 weights) compiles with the strict warning set on gcc and clang, as C++ with g++, and for
Cortex-M with arm-none-eabi-gcc, without double-precision helpers on a single-precision FPU."""

import re
import subprocess

import pytest

from tests.support.env import require_tool
from tests.support.flags import CXX, STRICT
from tests.support.models import randomize, trained_statistics

HEADERS = ("elem_f32", "elem_i8", "elem_pool")


def _all_kinds(k):
    L = k.layers
    i = k.Input((None, 3))
    h = L.Normalization(mean=[0.0, 1.0, -1.0], variance=[1.0, 2.0, 0.5])(L.Rescaling(0.5, 0.1)(L.Masking()(i)))
    h = L.ELU(0.5)(L.LeakyReLU()(L.ReLU(max_value=2.0, threshold=0.1)(L.Activation("gelu")(h))))
    h = L.BatchNormalization()(L.Dense(4)(L.LayerNormalization(rms_scaling=True)(L.LayerNormalization()(h))))
    h = L.BatchNormalization()(L.PReLU(shared_axes=[1])(L.LSTM(5, return_sequences=True)(h)))
    v = L.Concatenate()([L.GlobalAveragePooling1D()(h), L.GlobalMaxPooling1D()(h)])
    return k.Model(i, L.Softmax()(L.PReLU()(v)))


def _pool(k):
    L = k.layers
    return k.Sequential([k.Input((6, 2)), L.GlobalAveragePooling1D(), L.LayerNormalization(center=False),
                         L.Activation("sparsemax")])


@pytest.fixture(scope="module")
def generated(keras, tmp_path_factory):
    import kerasc

    out = tmp_path_factory.mktemp("elem_c")
    model = randomize(_all_kinds(keras), seed=3)
    trained_statistics(model, seed=3)
    kerasc.convert(model, out, name="elem_f32")
    kerasc.convert(model, out, name="elem_i8", weights="int8")
    kerasc.convert(randomize(_pool(keras), seed=4), out, name="elem_pool")
    src = out / "fw.c"
    src.write_text("".join(f'#include "{h}.h"\n' for h in HEADERS) +
                   "float fw_run(const float *x, float *y);\n"
                   "float fw_run(const float *x, float *y)\n{\n"
                   "    elem_f32_state a; elem_f32_scratch a_scr;\n    elem_i8_state b; elem_i8_scratch b_scr;\n    elem_pool_state c; elem_pool_scratch c_scr;\n"
                   "    elem_f32_predict(&a, &a_scr, x, 4, y);\n    elem_i8_reset(&b);\n    elem_i8_step(&b, &b_scr, x, y);\n"
                   "    elem_pool_predict(&c, &c_scr, x, 6, y);\n    return y[0];\n}\n")
    return out


@pytest.mark.parametrize("compiler,extra", [("gcc", ["-O2"]), ("gcc", ["-O3", "-march=native"]), ("clang", ["-Os"])])
def test_strict_c99(generated, compiler, extra, tmp_path):
    cc = require_tool(compiler)
    subprocess.run([cc, *STRICT, *extra, f"-I{generated}", "-c", str(generated / "fw.c"), "-o",
                    str(tmp_path / "fw.o")], check=True)


def test_compiles_as_cpp(generated, tmp_path):
    cxx = require_tool("g++")
    subprocess.run([cxx, *CXX, f"-I{generated}", "-c", str(generated / "fw.c"), "-o", str(tmp_path / "fw_cpp.o")], check=True)


@pytest.mark.parametrize("cpu", [["-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"],
                                 ["-mcpu=cortex-m0", "-mthumb", "-mfloat-abi=soft"]])
def test_cortex_m(generated, cpu, tmp_path):
    cc = require_tool("arm-none-eabi-gcc")
    obj = tmp_path / "fw.o"
    subprocess.run([cc, *STRICT, "-Os", *cpu, f"-I{generated}", "-c", str(generated / "fw.c"), "-o", str(obj)],
                   check=True)
    nm = subprocess.run([cc.replace("gcc", "nm"), str(obj)], capture_output=True, text=True, check=True).stdout
    if "float-abi=hard" in " ".join(cpu):
        assert not re.search(r"__aeabi_d(add|sub|mul|div|2f|f2d)|__aeabi_f2d", nm), nm


def test_no_double_or_mutable_globals(generated):
    for h in HEADERS + ("kc_runtime",):
        code = re.sub(r"/\*.*?\*/", "", (generated / f"{h}.h").read_text(), flags=re.S)
        # the -DKC_FLOAT=double build (verify's exact reference) is the one place double may appear
        code = re.sub(r"#define KC__IS_double 2\n|#if KC__IS\(KC_FLOAT\) == 2\n.*?\n#else\n", "", code, flags=re.S)
        code = re.sub(r'"[^"\n]*"', '""', code)  # and messages such as "KC_FLOAT must be float or double"
        assert not re.search(r"\bdouble\b", code), h
        assert not [line for line in code.splitlines() if re.match(r"^static\s+(?!inline|const)\w", line)], h
