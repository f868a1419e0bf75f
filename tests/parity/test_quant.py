"""float16 and int8 kernels (`--weights`, issue 7), against real Keras.

- every recurrent kind (LSTM, GRU reset_after True/False, SimpleRNN, Bidirectional) and Dense (on
  vectors and per timestep), each weight type: every layer at every timestep within the weight type's
  default tolerance of the FLOAT Keras model (verify), and within the float32 tolerance of the same Keras
  model whose kernels were rounded the same way in numpy (so the C computes exactly the quantized model);
  all models of the module in one extension;
- the generated C compiles with -Werror on gcc, clang, g++ (C++) and arm-none-eabi-gcc (M4F, M0), with
  no double arithmetic on ARM, and NAME_WEIGHT_BYTES counts the bytes C allocates (sizeof);
- kc_half_to_float on all 65536 half bit patterns against numpy;
- the CLI and kerasc.testing paths, and a self-test of an int8 model under qemu-arm."""

import shutil
import subprocess

import numpy as np
import pytest

from tests.support.env import DEMO, require_tool, ROOT
from tests.support.flags import M0, M4F, STRICT, WARN
from tests.support.models import truth_with_stable_weights
from tests.support.parity import Case, compile_all
from tests.support.programs import run

QUANT = ("float16", "int8")


def _seq(k, T, feats, *layers):
    return k.Sequential([k.Input((T, feats)), *layers])


CASES = [
    Case("lstm", lambda k: _seq(k, None, 3, k.layers.LSTM(12, return_sequences=True), k.layers.Dense(3)), 9),
    Case("gru_ra", lambda k: _seq(k, None, 4, k.layers.GRU(10, reset_after=True, return_sequences=True)), 8, seed=1),
    Case("gru_rb", lambda k: _seq(k, 6, 2, k.layers.GRU(7, reset_after=False), k.layers.Dense(2, activation="tanh")),
         6, seed=2),
    Case("rnn", lambda k: _seq(k, None, 3, k.layers.SimpleRNN(9, return_sequences=True, go_backwards=True)), 7,
         seed=3),
    Case("bidir", lambda k: _seq(k, None, 3, k.layers.Bidirectional(k.layers.LSTM(6, return_sequences=True)),
                                 k.layers.Bidirectional(k.layers.GRU(4), merge_mode="sum")), 8, seed=4),
    Case("dense_vec", lambda k: k.Sequential([k.Input((6,)), k.layers.Dense(8, activation="tanh"),
                                              k.layers.Dense(3)]), seed=5),
    Case("dense_seq", lambda k: _seq(k, None, 5, k.layers.Dense(7, activation="relu"), k.layers.LSTM(5)), 6, seed=6),
]
IDS = [c.id for c in CASES]


def _rounded_like_c(model, wtype):
    """A copy of `model` whose kernels hold the values the quantized C computes with (numpy)."""
    import keras

    from kerasc.quant import half_bits, int8_symmetric

    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    for v in clone.weights:
        if v.name in ("kernel", "recurrent_kernel"):
            w = np.asarray(v.numpy(), dtype=np.float32)
            if wtype == "float16":
                v.assign(half_bits(w).view(np.float16).astype(np.float32))
            else:
                q, s = int8_symmetric(w)
                v.assign(q.astype(np.float32) * s)
    return clone


@pytest.fixture(scope="module")
def quantized(keras):
    """{(case id, weight type): (model, x, compiled)}: every case and type in one extension."""
    models, sources = {}, {}
    for case in CASES:
        model = case.build(keras)
        rng = np.random.default_rng(case.seed)
        shape = model.inputs[0].shape
        x = (rng.standard_normal((case.batch, shape[1] or case.timesteps, shape[2])) if len(shape) == 3
             else rng.standard_normal((case.batch, shape[1]))).astype(np.float32)
        truth_with_stable_weights(model, x, case)
        models[case.id] = (model, x)
        for wtype in QUANT:
            sources[(case.id, wtype)] = (model, wtype)
    return {key: (*models[key[0]], cm) for key, cm in compile_all(sources, prefix="q").items()}


@pytest.mark.parametrize("wtype", QUANT)
@pytest.mark.parametrize("cid", IDS)
def test_every_layer_within_default_tolerance_of_float_keras(quantized, cid, wtype):
    from kerasc import verify
    from kerasc.quant import TOLERANCE

    model, x, cm = quantized[(cid, wtype)]
    assert cm.ir.weight_type == wtype
    report = verify(model, x=x, compiled=cm)
    assert (report.atol, report.rtol) == TOLERANCE[wtype]
    assert report.ok, report.table()
    assert report.max_abs_err > 1e-6, "quantized weights should change the outputs measurably"


@pytest.mark.parametrize("wtype", QUANT)
@pytest.mark.parametrize("cid", IDS)
def test_c_computes_exactly_the_rounded_model(quantized, cid, wtype):
    """Keras with the kernels rounded the same way in numpy agrees with the C to float32 tolerance."""
    from kerasc import verify

    model, x, cm = quantized[(cid, wtype)]
    report = verify(_rounded_like_c(model, wtype), x=x, compiled=cm, atol=1e-5, rtol=1e-4)
    assert report.ok, report.table()


def test_arrays_and_bytes(keras):
    """Kernels take 2 or 1 bytes (+ 4 per int8 scale); biases stay float; everything else as float32."""
    import kerasc
    from kerasc.quant import kernels

    model = CASES[0].build(keras)
    ir32, ir16, ir8 = (kerasc.build_ir(model, "b", weights=w) for w in ("float32", "float16", "int8"))
    kern = [a for n in ir32.nodes for a in kernels(n)]
    assert len(kern) == 2 * 4 + 1
    n_kern = sum(a.values.size for a in kern)
    n_scale = sum(a.shape[-1] for a in kern)
    assert ir16.weight_bytes == ir32.weight_bytes - 2 * n_kern
    assert ir8.weight_bytes == ir32.weight_bytes - 3 * n_kern + 4 * n_scale
    assert {a.ctype for n in ir8.nodes for a in n.arrays} == {"int8_t", "float"}
    assert all(a.ctype == "float" and a.scale is None for n in ir16.nodes for a in n.arrays
               if all(a is not k for k in kernels(n)))
    assert ir32.weights_hash != ir16.weights_hash != ir8.weights_hash


@pytest.fixture(scope="module")
def unit(tmp_path_factory, keras):
    """One C file with a float16 and an int8 model of every case and the demo, printing, per model,
    NAME_WEIGHT_BYTES and the sizeof of every array it declares."""
    import kerasc

    d = tmp_path_factory.mktemp("quant_unit")
    irs = []
    for i, case in enumerate(CASES):
        for wtype in QUANT:
            m = case.build(keras)
            irs.append(kerasc.build_ir(m, f"u{i}_{wtype}", weights=wtype))
    irs += [kerasc.build_ir(DEMO, f"demo_{w}", weights=w) for w in QUANT]
    from kerasc.codegen import write_files

    for ir in irs:
        write_files(ir, d)
    lines = ["#include <stdio.h>"] + [f'#include "{ir.name}.h"' for ir in irs]
    lines.append("int main(void)\n{")
    for ir in irs:
        sizes = " + ".join(f"sizeof({a.cname})" + (f" + sizeof({a.scale.cname})" if a.scale else "")
                           for n in ir.nodes for a in n.arrays) or "0"
        lines.append(f'    printf("%d %d\\n", (int){ir.NAME}_WEIGHT_BYTES, (int)({sizes}));')
    lines.append("    return 0;\n}")
    (d / "unit.c").write_text("\n".join(lines) + "\n")
    return d, irs


CONFIGS = {
    "gcc": ("gcc", STRICT + ["-O2"]),
    "clang": ("clang", STRICT + ["-O2"]),
    "g++": ("g++", ["-x", "c++", "-std=c++11"] + WARN + ["-O2"]),
    "m4f": ("arm-none-eabi-gcc", STRICT + M4F + ["-Os"]),
    "m0": ("arm-none-eabi-gcc", STRICT + M0 + ["-Os"]),
}


@pytest.mark.parametrize("config", CONFIGS)
def test_quantized_headers_compile_with_werror(unit, config, tmp_path):
    d, irs = unit
    cc, flags = CONFIGS[config]
    require_tool(cc)
    if config in ("m4f", "m0"):
        obj = tmp_path / "unit.o"
        run([cc, *flags, "-c", d / "unit.c", "-o", obj], cwd=tmp_path)
        nm = shutil.which("arm-none-eabi-nm") or require_tool("arm-none-eabi-nm")
        undefined = {s.split()[-1] for s in run([nm, obj]).stdout.splitlines() if " U " in s}
        assert not [s for s in undefined if s.startswith("__aeabi_d")], f"double arithmetic: {sorted(undefined)}"
        return
    exe = tmp_path / "unit"
    run([cc, *flags, f"-I{d}", d / "unit.c", "-o", exe, "-lm"], cwd=tmp_path)
    rows = [tuple(map(int, ln.split())) for ln in run([exe]).stdout.split("\n") if ln.strip()]
    assert len(rows) == len(irs)
    for ir, (macro, real) in zip(irs, rows):
        assert macro == real == ir.weight_bytes, ir.name


def test_half_to_float_exhaustive(tmp_path):
    """kc_half_to_float on every one of the 65536 bit patterns equals numpy's float16 -> float32 (bits;
    NaNs: NaN with the same payload)."""
    src = tmp_path / "h.c"
    src.write_text('#include <stdio.h>\n#include "kc_runtime.h"\nint main(void)\n{\n    uint32_t i;\n'
                   '    for (i = 0; i < 65536u; ++i) {\n        float f = kc_half_to_float((uint16_t)i);\n'
                   '        uint32_t b;\n        memcpy(&b, &f, sizeof b);\n        fwrite(&b, sizeof b, 1, stdout);\n'
                   '    }\n    return 0;\n}\n')
    exe = tmp_path / "h"
    run(["gcc", *STRICT, "-O2", f"-I{ROOT / 'runtime_c'}", src, "-o", exe, "-lm"])
    got = np.frombuffer(subprocess.run([str(exe)], capture_output=True, check=True).stdout, dtype=np.uint32)
    want = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(np.float32).view(np.uint32)
    assert got.shape == (65536,)
    nan = np.isnan(want.view(np.float32))
    assert np.array_equal(got[~nan], want[~nan])
    assert np.all(np.isnan(got[nan].view(np.float32)))
    assert np.array_equal(got[nan] & 0x807FFFFF & ~np.uint32(0x400000), want[nan] & 0x807FFFFF & ~np.uint32(0x400000))


def test_cli_convert_and_verify_int8(tmp_path, capsys):
    from kerasc.cli import main

    assert main(["convert", str(DEMO), "-o", str(tmp_path), "--weights", "int8", "-q"]) == 0
    text = (tmp_path / "activity.h").read_text()
    assert "static const int8_t" in text and "kc_preact_i8(" in text and "#include <stdint.h>" in text
    assert "int8 kernels" in capsys.readouterr().out
    assert main(["verify", str(DEMO), "--weights", "int8", "-q"]) == 0
    assert "tolerance atol 0.2 + rtol 0.05" in capsys.readouterr().out
    # the quantization error is real: the float32 tolerance rejects it
    assert main(["verify", str(DEMO), "--weights", "int8", "--atol", "1e-5", "--rtol", "1e-4", "-q"]) == 1


def test_testing_api_and_bad_type(keras):
    from kerasc import ConversionError, build_ir
    from kerasc.testing import assert_matches_keras

    report = assert_matches_keras(DEMO, weights="float16")
    assert report.atol == 1e-2 and report.max_abs_err > 0
    with pytest.raises(ConversionError, match="weights='int4' is not supported; supported weight types: "
                                              "'float32', 'float16', 'int8'"):
        build_ir(DEMO, weights="int4")


def test_int8_selftest_under_qemu(tmp_path, keras):
    """--self-test with int8 embeds the FLOAT Keras outputs and the int8 tolerance, and passes on ARM."""
    import kerasc

    cc, qemu = require_tool("arm-linux-gnueabihf-gcc"), require_tool("qemu-arm")
    kerasc.convert(DEMO, tmp_path, self_test=True, weights="int8")
    src = tmp_path / "activity_selftest.c"
    assert "0.200000003f" in src.read_text()
    exe = tmp_path / "selftest_arm"
    run([cc, *STRICT, "-O2", "-static", f"-I{tmp_path}", src, "-o", exe, "-lm"])
    assert run([qemu, exe], check=False).returncode == 0


def test_inspect_shows_flash_per_weight_type(capsys):
    from kerasc.cli import main

    assert main(["inspect", str(DEMO)]) == 0
    assert "flash by --weights: float32 19120 bytes, float16 9984 bytes, int8 6520 bytes" in capsys.readouterr().out
    assert main(["inspect", str(DEMO), "--json"]) == 0
    import json

    doc = json.loads(capsys.readouterr().out)
    assert doc["flash_bytes_by_weights"] == {"float32": 19120, "float16": 9984, "int8": 6520}


def test_int8_firmware_on_cortex_m4(tmp_path):
    """examples/firmware with FIRMWARE_WEIGHTS=int8 (kerasc_add_model OPTIONS --weights int8): the const
    model symbols take ACTIVITY_WEIGHT_BYTES (6520, a third of float32), and the on-target self-test
    against the float Keras outputs passes under qemu-system-arm (Cortex-M4F)."""
    import re
    import sys

    from tests.support.programs import env_with_kerasc

    require_tool("cmake")
    require_tool("arm-none-eabi-gcc")
    qemu = require_tool("qemu-system-arm")
    nm = require_tool("arm-none-eabi-nm")
    fw = ROOT / "examples" / "firmware"
    build = tmp_path / "fw"
    run(["cmake", "-S", fw, "-B", build, f"-DCMAKE_TOOLCHAIN_FILE={fw / 'arm-none-eabi-cortex-m4f.cmake'}",
         f"-DPython3_EXECUTABLE={sys.executable}", "-DFIRMWARE_SEMIHOSTING=ON", "-DFIRMWARE_SELFTEST=ON",
         "-DFIRMWARE_WEIGHTS=int8"], env=env_with_kerasc())
    run(["cmake", "--build", build], env=env_with_kerasc())
    header = (build / "kerasc" / "activity" / "activity.h").read_text()
    assert "static const int8_t activity__l0_W_z" in header
    macro = int(re.search(r"#define ACTIVITY_WEIGHT_BYTES (\d+)", header).group(1))
    sizes = [line.split() for line in run([nm, "-S", build / "activity_fw.elf"]).stdout.splitlines()]
    consts = sum(int(s[1], 16) for s in sizes if len(s) == 4 and s[3].startswith("activity__") and s[2] in "rR")
    assert macro == consts == 6520
    p = run([qemu, "-M", "mps2-an386", "-display", "none", "-serial", "null", "-monitor", "none",
             "-semihosting-config", "enable=on,target=native", "-kernel", build / "activity_selftest_fw.elf"],
            check=False, timeout=120, stdin=subprocess.DEVNULL)
    assert p.returncode == 0 and "activity_selftest: PASS" in p.stdout + p.stderr, p.stdout + p.stderr
