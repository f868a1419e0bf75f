"""The command line as a user meets it: exit codes, messages without tracebacks, files written."""

import json

import numpy as np
import pytest

from tests.support.env import DEMO
from tests.support.models import randomize
from tests.support.programs import kerasc





@pytest.fixture(scope="module")
def small_model(keras, tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "Small Model.keras"  # a space in the path, on purpose
    m = keras.Sequential([keras.Input((None, 3)), keras.layers.LSTM(8, return_sequences=True, name="lstm"),
                          keras.layers.GRU(6, name="gru"), keras.layers.Dense(2, name="dense")], name="small")
    randomize(m, seed=3)
    m.save(path)
    return path


def test_convert_writes_header_and_runtime(small_model, tmp_path):
    r = kerasc("convert", small_model, "-o", tmp_path / "out", "--name", "mymodel")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out" / "mymodel.h").is_file() and (tmp_path / "out" / "kc_runtime.h").is_file()
    text = (tmp_path / "out" / "mymodel.h").read_text()
    for symbol in ("mymodel_state", "mymodel_reset", "mymodel_step", "mymodel_predict", "MYMODEL_INPUT_SIZE",
                   "MYMODEL_OUTPUT_SIZE", "MYMODEL_WEIGHT_BYTES", "MYMODEL_STATE_BYTES", "MYMODEL_H_INCLUDED"):
        assert symbol in text
    assert "mymodel.h" in r.stdout and "flash" in r.stdout


def test_default_name_is_the_sanitised_file_stem(small_model, tmp_path):
    r = kerasc("convert", small_model, "-o", tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "small_model.h").is_file()


def test_convert_and_inspect_work_without_tensorflow(small_model, tmp_path):
    r = kerasc("convert", small_model, "-o", tmp_path, no_tf=True)
    assert r.returncode == 0, r.stderr
    r = kerasc("inspect", small_model, "--json", no_tf=True)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["streaming"] is True and [l["class"] for l in info["layers"]] == ["LSTM", "GRU", "Dense"]
    assert info["flash_bytes"] == 4 * sum(l["params"] for l in info["layers"])


def test_verify_without_tensorflow_exits_3(small_model):
    r = kerasc("verify", small_model, no_tf=True)
    assert r.returncode == 3
    assert "kerasc[verify]" in r.stderr and "Traceback" not in r.stderr


def test_verify_passes_and_prints_the_table(small_model):
    r = kerasc("verify", small_model, "--timesteps", "9", "--batch", "2")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "PASS" in r.stdout
    for layer in ("lstm", "gru", "dense"):
        assert layer in r.stdout


def test_verify_mismatch_exits_1_and_names_layer_and_timestep(small_model):
    # zero tolerance: libm and Eigen round differently somewhere in 9 steps of an LSTM(8)
    r = kerasc("verify", small_model, "--timesteps", "9", "--atol", "0", "--rtol", "0", "--strict")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "FAIL" in r.stdout and "first disagreement: layer [0] 'lstm' (LSTM) at timestep" in r.stdout


def test_verify_with_inputs_file(small_model, tmp_path):
    x = np.random.default_rng(0).standard_normal((3, 5, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    r = kerasc("verify", small_model, "--inputs", tmp_path / "x.npy")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "input (3, 5, 3)" in r.stdout


@pytest.mark.parametrize("args,needle", [
    (["convert", "no_such_file.keras"], "no such file"),
    (["convert", __file__], "not a Keras model file"),
    (["convert", "DEMO", "--name", "int"], "reserved"),
    (["convert", "DEMO", "--name", "2fast"], "not a C identifier"),
    (["verify", "DEMO", "--inputs", "missing.npy"], "cannot read it"),
])
def test_user_mistakes_give_one_line_and_exit_2(args, needle):
    r = kerasc(*[DEMO if a == "DEMO" else a for a in args])
    assert r.returncode == 2, r.stdout + r.stderr
    assert needle in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_usage_error_exits_2():
    r = kerasc("frobnicate")
    assert r.returncode == 2 and "usage" in r.stderr


def test_refuses_to_overwrite_a_file_it_did_not_write(small_model, tmp_path):
    (tmp_path / "small_model.h").write_text("/* my own code */\n")
    r = kerasc("convert", small_model, "-o", tmp_path)
    assert r.returncode == 2 and "--force" in r.stderr
    assert (tmp_path / "small_model.h").read_text() == "/* my own code */\n"
    assert kerasc("convert", small_model, "-o", tmp_path, "--force").returncode == 0
    assert kerasc("convert", small_model, "-o", tmp_path).returncode == 0  # its own file: fine


def test_version():
    r = kerasc("--version")
    assert r.returncode == 0 and r.stdout.startswith("kerasc ")


def test_inspect_table_for_demo():
    r = kerasc("inspect", DEMO)
    assert r.returncode == 0, r.stderr
    assert "gru_features" in r.stdout and "streaming (activity_step): yes" in r.stdout
