"""`kerasc convert --self-test`: NAME_selftest.c embeds reference inputs and KERAS' outputs and
returns 0 only when the C agrees. Built with -Werror and run on the host, and cross-built for
32-bit ARM (hard float) and run under qemu-arm, for LSTM, GRU, SimpleRNN, stacked, go_backwards
and vector-input models. A corrupted expected value must make it fail."""

import re
import shutil

import pytest

from tests.support.env import require_tool
from tests.support.flags import STRICT
from tests.support.models import make_model, MODELS, save_model
from tests.support.programs import env_with_kerasc, kerasc_cli, run


@pytest.fixture(scope="module")
def generated(tmp_path_factory, keras):
    """{model key: directory with KEY.h, kc_runtime.h and KEY_selftest.c}, from live Keras models."""
    import kerasc

    out = {}
    for i, key in enumerate(MODELS):
        d = tmp_path_factory.mktemp(key)
        paths = kerasc.convert(make_model(keras, key, seed=i), d, self_test=True)
        assert [p.name for p in paths] == [f"{key}.h", "kc_runtime.h", f"{key}_selftest.c"]
        out[key] = d
    return out


@pytest.mark.parametrize("key", MODELS)
def test_selftest_passes_on_host_with_werror(generated, key):
    d = generated[key]
    exe = d / "selftest_host"
    run(["gcc", *STRICT, "-O2", f"-I{d}", d / f"{key}_selftest.c", "-o", exe, "-lm"])
    assert run([exe], check=False).returncode == 0


@pytest.mark.parametrize("key", MODELS)
def test_selftest_passes_on_arm_under_qemu(generated, key):
    cc, qemu = require_tool("arm-linux-gnueabihf-gcc"), require_tool("qemu-arm")
    d = generated[key]
    exe = d / "selftest_arm"
    run([cc, *STRICT, "-O2", "-static", f"-I{d}", d / f"{key}_selftest.c", "-o", exe, "-lm"])
    p = run([qemu, exe], check=False)
    assert p.returncode == 0, f"{key}: self-test under qemu-arm returned {p.returncode}"


@pytest.mark.parametrize("key", ["stacked", "backwards"])
def test_corrupted_expected_value_fails(generated, tmp_path, key):
    """The self-test can fail: change one of Keras' outputs by 1e-3 and it must return non-zero."""
    cc, qemu = require_tool("arm-linux-gnueabihf-gcc"), require_tool("qemu-arm")
    d = generated[key]
    text = (d / f"{key}_selftest.c").read_text()
    head, tail = text.split(f"static const float {key}__selftest_y", 1)
    m = re.search(r"(-?\d+\.\d+(?:e-?\d+)?)f", tail)
    bad = tail[:m.start()] + f"{float(m.group(1)) + 1e-3:.9g}f" + tail[m.end():]
    shutil.copy(d / f"{key}.h", tmp_path)
    shutil.copy(d / "kc_runtime.h", tmp_path)
    src = tmp_path / f"{key}_selftest.c"
    src.write_text(head + f"static const float {key}__selftest_y" + bad)
    exe = tmp_path / "corrupt"
    run([cc, *STRICT, "-O2", "-static", f"-I{tmp_path}", src, "-o", exe, "-lm"])
    assert run([qemu, exe], check=False).returncode == 1  # 1: NAME_predict disagrees with Keras


def test_selftest_compiles_as_cpp_and_without_main(generated):
    """g++ as C++11, and KERASC_SELFTEST_NO_MAIN leaves only NAME_selftest for firmware to call."""
    d = generated["lstm_seq"]
    flags = ["-Wall", "-Wextra", "-Wpedantic", "-Wshadow", "-Wconversion", "-Wdouble-promotion", "-Werror"]
    run(["g++", "-x", "c++", "-std=c++11", *flags, "-c", f"-I{d}", d / "lstm_seq_selftest.c", "-o", d / "cpp.o"])
    run(["gcc", *STRICT, "-DKERASC_SELFTEST_NO_MAIN", "-c", f"-I{d}", d / "lstm_seq_selftest.c", "-o", d / "nomain.o"])
    syms = run(["nm", d / "nomain.o"]).stdout
    assert re.search(r" T lstm_seq_selftest$", syms, re.M) and not re.search(r" T main$", syms, re.M)


def test_selftest_floats_round_trip(generated, keras):
    """Every embedded value is printed %.9g + f, so the C sees exactly Keras' float32 outputs."""
    import numpy as np

    import kerasc
    from kerasc.selftest import reference_data

    key = "gru_last"
    model = make_model(keras, key, seed=list(MODELS).index(key))
    x, y = reference_data(kerasc.build_ir(model), model)
    text = (generated[key] / f"{key}_selftest.c").read_text()
    block = text.split(f"{key}__selftest_y", 1)[1].split("};", 1)[0]
    values = np.array([float(v) for v in re.findall(r"(-?[\d.]+(?:e-?\d+)?)f", block)], dtype=np.float32)
    np.testing.assert_array_equal(values, y.reshape(-1))


def test_cli_self_test_without_tensorflow_exits_3(tmp_path, keras):
    """No TensorFlow: exit 3 (missing optional extra), one line on stderr, nothing written."""
    import subprocess
    import sys

    model = save_model(keras, "gru_last", tmp_path)
    out = tmp_path / "out"
    code = ("import sys; sys.modules['keras'] = None; sys.modules['tensorflow'] = None; "
            "from kerasc.cli import main; sys.exit(main(sys.argv[1:]))")
    p = subprocess.run([sys.executable, "-c", code, "convert", str(model), "-o", str(out), "--self-test"],
                       capture_output=True, text=True, env=env_with_kerasc(), timeout=300)
    assert p.returncode == 3, p.stderr
    assert "kerasc[verify]" in p.stderr and "Traceback" not in p.stderr
    assert not out.exists() or not any(out.iterdir())
    # without --self-test the same environment converts fine (TensorFlow is optional for convert)
    p = subprocess.run([sys.executable, "-c", code, "convert", str(model), "-o", str(out)],
                       capture_output=True, text=True, env=env_with_kerasc(), timeout=300)
    assert p.returncode == 0, p.stderr
    assert (out / "gru_last.h").exists() and not (out / "gru_last_selftest.c").exists()


def test_cli_self_test_writes_the_program(tmp_path, keras):
    model = save_model(keras, "rnn_relu", tmp_path)
    p = kerasc_cli("convert", str(model), "-o", str(tmp_path / "out"), "--self-test")
    src = tmp_path / "out" / "rnn_relu_selftest.c"
    assert src.exists(), p.stdout
    assert "int rnn_relu_selftest(void)" in src.read_text()
    exe = tmp_path / "st"
    run(["gcc", *STRICT, "-O2", f"-I{tmp_path / 'out'}", src, "-o", exe, "-lm"])
    assert run([exe], check=False).returncode == 0


def test_several_outputs_are_refused_before_writing(tmp_path, keras):
    """The program calls NAME_predict with one output: a model of two outputs gave C that did not compile."""
    import kerasc
    from kerasc.errors import ConversionError

    i = keras.Input((None, 3))
    h = keras.layers.GRU(2, return_sequences=True)(i)
    model = keras.Model(i, [keras.layers.Dense(2)(h), keras.layers.Dense(2)(h)])
    with pytest.raises(ConversionError, match=r"has 1 inputs and 2 outputs: the self-test \(--self-test\) is not "
                       r"supported for it; supported: models with one input and one output"):
        kerasc.convert(model, tmp_path, self_test=True)
    assert not list(tmp_path.iterdir())
    kerasc.convert(model, tmp_path)  # the header alone is fine
