"""`kerasc convert` and `inspect` read .keras and .h5 files without TensorFlow or Keras; `verify`
says it needs `kerasc[verify]` and exits 3.

The CLI runs in a subprocess where importing tensorflow, keras, tf_keras (or jax/torch) fails, as
on a machine with only the core dependencies (numpy, h5py, jinja2, cffi)."""

import subprocess
import sys

import pytest

from tests.support.env import ROOT
from tests.support.programs import kerasc_bare


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
    r = kerasc_bare("convert", model_files / fname, "-o", out, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "LEAKED" not in r.stderr, r.stderr
    stem = fname.split(".")[0]
    header = (out / f"{stem}.h").read_text()
    assert f"{stem}_predict" in header and (out / "kc_runtime.h").exists()
    if fname.endswith(".h5"):
        assert "hard_sigmoid_k2(" in header  # Keras 2 semantics, decided from the file alone
    r = kerasc_bare("inspect", "--json", model_files / fname, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "LEAKED" not in r.stderr, r.stderr
    assert '"streaming": true' in r.stdout


@pytest.mark.parametrize("fname", ["k3model.keras", "k2model.h5"])
def test_verify_without_tensorflow_exits_3(model_files, fname, tmp_path):
    r = kerasc_bare("verify", model_files / fname, cwd=tmp_path)
    assert r.returncode == 3, (r.returncode, r.stdout, r.stderr)
    assert "pip install 'kerasc[verify]'" in r.stderr
    assert "Traceback" not in r.stderr


def _quiet(r, what):
    """A packaging step must succeed without a warning or deprecation notice on either stream."""
    assert r.returncode == 0, f"{what} failed: {r.stdout[-2000:]}{r.stderr[-2000:]}"
    # (pip's notes on this machine's own index configuration are not the package's)
    noisy = [line for line in (r.stdout + r.stderr).splitlines()
             if ("warn" in line.lower() or "deprecat" in line.lower() or "would be ignored" in line)
             and "is ignored: it is neither a file nor a directory" not in line]
    assert not noisy, f"{what} printed warnings:\n" + "\n".join(noisy[:20])


@pytest.fixture(scope="module")
def dists(tmp_path_factory):
    """sdist and wheel built by `python -m build` (an isolated build, as PyPI users get), checked by twine."""
    import os
    import shutil

    tmp = tmp_path_factory.mktemp("dist")
    # (PYTHONDONTWRITEBYTECODE, set on these machines, makes setuptools warn that it skips byte-compiling)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONDONTWRITEBYTECODE")}
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info",
                                                             "__pycache__", ".pytest_cache", "demo_out"))
    out = tmp / "dist"
    r = subprocess.run([sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(out), str(src)],
                       capture_output=True, text=True, timeout=600, env=env)
    _quiet(r, "python -m build")
    (wheel,) = out.glob("kerasc-*.whl")
    (sdist,) = out.glob("kerasc-*.tar.gz")
    r = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist)],
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0 and r.stdout.count("PASSED") == 2, r.stdout + r.stderr
    return env, wheel, sdist


def test_wheel_and_sdist_ship_every_template_and_runtime_file(dists):
    import tarfile
    import zipfile

    _, wheel, sdist = dists
    shipped = {n for n in zipfile.ZipFile(wheel).namelist()}
    in_sdist = {n.split("/", 1)[1] for n in tarfile.open(sdist).getnames() if "/" in n}
    for folder, pkg in (("templates", "kerasc/templates"), ("runtime_c", "kerasc/runtime_c"), ("cmake", "kerasc/cmake")):
        files = [p.relative_to(ROOT / folder).as_posix() for p in (ROOT / folder).rglob("*")
                 if p.is_file() and "__pycache__" not in p.parts]
        assert files, folder
        missing = [f for f in files if f"{pkg}/{f}" not in shipped]
        assert not missing, f"the wheel lacks {folder}/{missing}"
        missing = [f for f in files if f"{folder}/{f}" not in in_sdist]
        assert not missing, f"the sdist lacks {folder}/{missing}"
    meta = next(n for n in shipped if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(meta).decode()
    assert "License-Expression: MIT" in text and "Project-URL: " in text and "Classifier: " in text, text[:2000]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_installed_in_a_bare_venv_converts_without_warnings(dists, model_files, tmp_path, kind):
    """The built wheel, and the sdist, each installed with the core dependencies only (from the package
    registry), convert a Keras 3 .keras file and a Keras 2 .h5 file with nothing on stderr, and the
    header compiles."""
    env, wheel, sdist = dists
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120, env=env)
    r = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", "-c",
                        str(ROOT / "constraints.txt"), str(wheel if kind == "wheel" else sdist)],
                       capture_output=True, text=True, timeout=600, env=env)
    _quiet(r, f"pip install of the {kind}")
    check = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import importlib.util as u; print([m for m in ('tensorflow', 'keras', 'tf_keras') "
                            "if u.find_spec(m)])"], capture_output=True, text=True, timeout=60, env=env)
    assert check.stdout.strip() == "[]", check.stdout  # really a bare environment
    check = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "from kerasc._resources import templates_dir as t; print((t() / 'report' / "
                            "'verify.html.j2').is_file())"], capture_output=True, text=True, timeout=60, env=env,
                           cwd=tmp_path)
    assert check.stdout.strip() == "True", check.stdout + check.stderr  # the verify report's page ships
    for fname in ("k3model.keras", "k2model.h5"):
        out = tmp_path / "out"
        r = subprocess.run([str(venv / "bin" / "kerasc"), "convert", str(model_files / fname), "-o", str(out)],
                           capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
        assert r.returncode == 0 and r.stderr == "", r.stderr
        stem = fname.split(".")[0]
        r = subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-fsyntax-only", "-x", "c",
                            str(out / f"{stem}.h")], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
    r = subprocess.run([str(venv / "bin" / "kerasc"), "verify", str(model_files / "k2model.h5")],
                       capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert r.returncode == 3 and "kerasc[verify]" in r.stderr, (r.returncode, r.stderr)
