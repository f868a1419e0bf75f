"""`kerasc convert` and `inspect` read .keras and .h5 files without TensorFlow or Keras; `verify`
says it needs `kerasc[verify]` and exits 3.

The CLI runs in a subprocess where importing tensorflow, keras, tf_keras (or jax/torch) fails, as
on a machine with only the core dependencies (numpy, h5py, jinja2, cffi)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BLOCKED = ("tensorflow", "keras", "tf_keras", "jax", "torch")

# Python run as `python -c WRAPPER kerasc-args...`: block the imports, run `python -m kerasc`, and
# report any module of the blocked packages that got loaded anyway.
WRAPPER = f"""
import runpy, sys
BLOCKED = {BLOCKED!r}
for name in BLOCKED:
    sys.modules[name] = None
sys.argv = ["kerasc"] + sys.argv[1:]
try:
    runpy.run_module("kerasc", run_name="__main__", alter_sys=True)
finally:
    leaked = [m for m, v in sys.modules.items() if v is not None and m.split(".")[0] in BLOCKED]
    if leaked:
        print("LEAKED", leaked, file=sys.stderr)
"""


def _run(*args, cwd):
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "KERASC_CACHE_DIR": str(cwd / "cache")}
    return subprocess.run([sys.executable, "-c", WRAPPER, *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=120)


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    import keras
    import tf_keras as tk

    d = tmp_path_factory.mktemp("notf")
    k3 = keras.Sequential([keras.Input((None, 3)), keras.layers.GRU(4), keras.layers.Dense(2)])
    k3.save(str(d / "k3model.keras"))
    k2 = tk.Sequential([tk.layers.LSTM(4, recurrent_activation="hard_sigmoid", input_shape=(None, 3)),
                        tk.layers.Dense(2)])
    k2.save(str(d / "k2model.h5"))
    return d


@pytest.mark.parametrize("fname", ["k3model.keras", "k2model.h5"])
def test_convert_and_inspect_without_tensorflow(model_files, fname, tmp_path):
    out = tmp_path / "out"
    r = _run("convert", model_files / fname, "-o", out, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "LEAKED" not in r.stderr, r.stderr
    stem = fname.split(".")[0]
    header = (out / f"{stem}.h").read_text()
    assert f"{stem}_predict" in header and (out / "kc_runtime.h").exists()
    if fname.endswith(".h5"):
        assert "kc_vec_hard_sigmoid_k2" in header  # Keras 2 semantics, decided from the file alone
    r = _run("inspect", "--json", model_files / fname, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "LEAKED" not in r.stderr, r.stderr
    assert '"streaming": true' in r.stdout


@pytest.mark.parametrize("fname", ["k3model.keras", "k2model.h5"])
def test_verify_without_tensorflow_exits_3(model_files, fname, tmp_path):
    r = _run("verify", model_files / fname, cwd=tmp_path)
    assert r.returncode == 3, (r.returncode, r.stdout, r.stderr)
    assert "pip install 'kerasc[verify]'" in r.stderr
    assert "Traceback" not in r.stderr
