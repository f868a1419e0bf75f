"""The attention layers' generated C (Softmax over time, Dot on sequences and vectors, broadcasting merges,
Attention dot/concat with and without scale, AdditiveAttention with its scale array, query and value masks,
use_causal_mask, a key input; float32, float16 and int8 weights) compiles with the strict warning set on gcc and
clang, as C++ with g++, and for Cortex-M with arm-none-eabi-gcc, without double-precision helpers on a
single-precision FPU."""

import re
import subprocess

import pytest

from tests.support.env import require_tool
from tests.support.flags import CXX, M0, M4F, STRICT
from tests.support.models import randomize


def _pooling(k):
    L = k.layers
    x = k.Input((5, 2))
    h = L.LSTM(4, return_sequences=True)(x)
    a = L.Permute((2, 1))(L.RepeatVector(4)(L.Activation("softmax")(L.Flatten()(L.Dense(1, activation="tanh")(h)))))
    w = L.Softmax(axis=1)(L.Dense(1)(h))
    pooled = L.GlobalAveragePooling1D()(L.Add()([L.Multiply()([h, a]), L.Multiply()([w, h])]))
    dot = L.Flatten()(L.Dot(axes=1)([w, h]))
    sc = L.Flatten()(L.Dot(axes=(2, 2))([h, h]))
    return k.Model(x, [L.Dense(2)(pooled), L.Dot(axes=1)([dot, pooled]), sc])


def _seq2seq(k, layers_):
    L = k.layers
    xe, xd = k.Input((None, 3)), k.Input((None, 2))
    me, md = L.Masking()(xe), L.Masking()(xd)
    enc, h, c = L.LSTM(4, return_sequences=True, return_state=True)(me)
    dec = L.LSTM(4, return_sequences=True)(md, initial_state=[h, c])
    outs = [dec]
    for i, make in enumerate(layers_):
        ins = [dec, enc, L.Dense(4)(enc)] if i % 2 else [dec, enc]
        outs.append(make(L)(ins, use_causal_mask=bool(i % 2)))
    return k.Model([xe, xd], L.Dense(3)(L.Concatenate()(outs)))


MODELS = {
    "att_pool": _pooling,
    "att_luong": lambda k: _seq2seq(k, [lambda L: L.Attention(), lambda L: L.Attention(use_scale=True),
                                        lambda L: L.Attention(score_mode="concat"),
                                        lambda L: L.Attention(use_scale=True, score_mode="concat")]),
    "att_bahdanau": lambda k: _seq2seq(k, [lambda L: L.AdditiveAttention(),
                                           lambda L: L.AdditiveAttention(use_scale=False)]),
}
HEADERS = [f"{m}_{w}" for m in MODELS for w in ("f32", "f16", "i8")]


@pytest.fixture(scope="module")
def generated(keras, tmp_path_factory):
    import kerasc

    out = tmp_path_factory.mktemp("attention_c")
    for i, (name, build) in enumerate(MODELS.items()):
        model = randomize(build(keras), seed=i)
        for w, weights in (("f32", "float32"), ("f16", "float16"), ("i8", "int8")):
            kerasc.convert(model, out, name=f"{name}_{w}", weights=weights)
    (out / "fw.c").write_text("".join(f'#include "{h}.h"\n' for h in HEADERS) +
                              "int fw_run(const float *x, float *y, float *work);\n"
                              "int fw_run(const float *x, float *y, float *work)\n{\n"
                              "    att_luong_f32_state a;\n    att_luong_f32_scratch a_scr;\n"
                              "    return att_luong_f32_predict(&a, &a_scr, x, 4, x, 3, y, work);\n}\n")
    return out


@pytest.mark.parametrize("compiler,extra", [("gcc", ["-O2"]), ("gcc", ["-O3", "-march=native"]), ("clang", ["-Os"])])
def test_strict_c99(generated, compiler, extra, tmp_path):
    cc = require_tool(compiler)
    subprocess.run([cc, *STRICT, *extra, f"-I{generated}", "-c", str(generated / "fw.c"), "-o",
                    str(tmp_path / "fw.o")], check=True)


def test_compiles_as_cpp(generated, tmp_path):
    cxx = require_tool("g++")
    subprocess.run([cxx, *CXX, f"-I{generated}", "-c", str(generated / "fw.c"), "-o", str(tmp_path / "fw_cpp.o")],
                   check=True)


@pytest.mark.parametrize("cpu", [M4F, M0], ids=["m4f", "m0"])
def test_cortex_m(generated, cpu, tmp_path):
    cc = require_tool("arm-none-eabi-gcc")
    obj = tmp_path / "fw.o"
    subprocess.run([cc, *STRICT, "-Os", *cpu, f"-I{generated}", "-c", str(generated / "fw.c"), "-o", str(obj)],
                   check=True)
    nm = subprocess.run([cc.replace("gcc", "nm"), str(obj)], capture_output=True, text=True, check=True).stdout
    if cpu is M4F:
        assert not re.search(r"__aeabi_d(add|sub|mul|div|2f|f2d)|__aeabi_f2d", nm), nm
