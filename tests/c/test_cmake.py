"""CMake integration, with real configure + build runs: kerasc_add_model() converts the model at
build time and again when the model file changes; kerasc::runtime gives the runtime's include
directory; the package works through add_subdirectory(), through find_package() on a checkout, and
through find_package() on the files a wheel installs (`kerasc --cmake-dir`)."""

import re
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from tests.support.env import require_tool, ROOT
from tests.support.models import keras_truth, make_model
from tests.support.parity import assert_close
from tests.support.programs import env_with_kerasc, run

T = 6

MAIN_C = r"""
/* reads T then T x NET_INPUT_SIZE floats on stdin; prints net_predict's output */
#include <stdio.h>
#include "net.h"

int main(void)
{
    net_state st; net_scratch st_scr;
    float x[64][NET_INPUT_SIZE], y[64][NET_OUTPUT_SIZE];
    int T, t, j;
    if (scanf("%d", &T) != 1 || T < 1 || T > 64) {
        return 2;
    }
    for (t = 0; t < T; ++t) {
        for (j = 0; j < NET_INPUT_SIZE; ++j) {
            if (scanf("%f", &x[t][j]) != 1) {
                return 2;
            }
        }
    }
    if (net_predict(&st, &st_scr, &x[0][0], T, &y[0][0]) != 0) {
        return 3;
    }
    for (t = 0; t < T; ++t) {
        for (j = 0; j < NET_OUTPUT_SIZE; ++j) {
            printf("%.9g ", (double)y[t][j]);
        }
    }
    printf("\n");
    return 0;
}
"""

RUNTIME_C = r"""
#include "kc_runtime.h"
int main(void) { float v[2] = { 0.0f, 1.0f }; kc_vec_tanh(v, 2); return v[0] == 0.0f ? 0 : 1; }
"""


def _project(d, find):
    """A user project; `find` is the CMake line that brings kerasc in."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "main.c").write_text(MAIN_C)
    (d / "rt.c").write_text(RUNTIME_C)
    (d / "CMakeLists.txt").write_text(f"""cmake_minimum_required(VERSION 3.17)
project(user C)
{find}
add_executable(app main.c)
set_target_properties(app PROPERTIES C_STANDARD 99 C_EXTENSIONS OFF)
target_compile_options(app PRIVATE -Wall -Wextra -Wpedantic -Werror)
kerasc_add_model(app MODEL models/net.keras NAME net)
add_executable(rt rt.c)
target_link_libraries(rt PRIVATE kerasc::runtime)
""")
    (d / "models").mkdir(exist_ok=True)
    return d


def _configure_build(src, build, *defs, env=None):
    require_tool("cmake")
    env = env or env_with_kerasc()
    run(["cmake", "-S", src, "-B", build, f"-DPython3_EXECUTABLE={sys.executable}", *defs], env=env)
    return run(["cmake", "--build", build], env=env).stdout


def _predict(build, x):
    text = f"{x.shape[0]} " + " ".join(f"{v:.9g}" for v in x.reshape(-1))
    out = run([build / "app"], input=text).stdout
    return np.array([float(v) for v in out.split()], dtype=np.float32).reshape(x.shape[0], -1)


@pytest.fixture(scope="module")
def models(keras, tmp_path_factory):
    """Two versions of the same architecture (different weights), saved, with Keras' outputs."""
    d = tmp_path_factory.mktemp("models")
    x = np.random.default_rng(3).standard_normal((1, T, 3)).astype(np.float32)
    out = []
    for seed in (0, 1):
        m = make_model(keras, "lstm_seq", seed=seed)
        path = d / f"v{seed}.keras"
        m.save(path)
        out.append((path, keras_truth(m, x)[0]))
    return x[0], out


def test_cmake_dir_flag_and_version_file():
    p = run([sys.executable, "-m", "kerasc", "--cmake-dir"], env=env_with_kerasc())
    d = p.stdout.strip()
    assert (ROOT / "cmake").samefile(d)
    import kerasc

    version = re.search(r'set\(PACKAGE_VERSION "([^"]+)"\)', (ROOT / "cmake" / "kerascConfigVersion.cmake").read_text())
    assert version.group(1) == kerasc.__version__


@pytest.mark.parametrize("mode", ["add_subdirectory", "find_package"])
def test_build_and_rebuild_when_model_changes(models, tmp_path, mode):
    x, ((v0, y0), (v1, y1)) = models
    find = (f'add_subdirectory("{ROOT}" kerasc)' if mode == "add_subdirectory"
            else 'find_package(kerasc 0.1 REQUIRED CONFIG)')
    src = _project(tmp_path / "src", find)
    shutil.copy(v0, src / "models" / "net.keras")
    build = tmp_path / "build"
    defs = [] if mode == "add_subdirectory" else [f"-Dkerasc_DIR={ROOT / 'cmake'}"]
    out = _configure_build(src, build, *defs)
    assert "kerasc: models/net.keras -> net.h" in out
    assert_close(_predict(build, x), y0, f"{mode}: first model")
    assert run([build / "rt"], check=False).returncode == 0  # kerasc::runtime alone

    # nothing changed: kerasc does not run again
    assert "kerasc:" not in run(["cmake", "--build", build], env=env_with_kerasc()).stdout
    # new weights in the model file: regenerated and recompiled
    shutil.copy(v1, src / "models" / "net.keras")
    out = run(["cmake", "--build", build], env=env_with_kerasc()).stdout
    assert "kerasc: models/net.keras -> net.h" in out
    assert_close(_predict(build, x), y1, f"{mode}: changed model")


def test_find_package_from_the_wheel(models, tmp_path):
    """Build the wheel, unpack it as site-packages, and use its CMake package (kerasc --cmake-dir)."""
    x, ((v0, y0), _) = models
    srcdir = tmp_path / "kerasc-src"
    for part in ("kerasc", "templates", "runtime_c", "cmake", "bench_c"):
        shutil.copytree(ROOT / part, srcdir / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", srcdir)
    (srcdir / "README.md").write_text("kerasc\n")
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist",
         srcdir], timeout=600)
    wheel = next((tmp_path / "dist").glob("kerasc-*.whl"))
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = env_with_kerasc()
    env["PYTHONPATH"] = str(site)
    cmake_dir = run([sys.executable, "-m", "kerasc", "--cmake-dir"], env=env, cwd=tmp_path).stdout.strip()
    assert cmake_dir == str(site / "kerasc" / "cmake")

    src = _project(tmp_path / "src", "find_package(kerasc REQUIRED CONFIG)")
    shutil.copy(v0, src / "models" / "net.keras")
    build = tmp_path / "build"
    bare = {k: v for k, v in env.items() if k != "PYTHONPATH"}  # CMake finds kerasc through kerasc_DIR only
    out = _configure_build(src, build, f"-Dkerasc_DIR={cmake_dir}", env=bare)
    assert "kerasc: models/net.keras -> net.h" in out
    assert_close(_predict(build, x), y0, "installed package")
    cache = (build / "CMakeCache.txt").read_text()
    assert f"PYTHONPATH={site}" in cache  # the wheel's kerasc ran, not the checkout's


def test_missing_model_is_a_configure_error(tmp_path):
    require_tool("cmake")
    src = _project(tmp_path / "src", f'add_subdirectory("{ROOT}" kerasc)')
    p = subprocess.run(["cmake", "-S", str(src), "-B", str(tmp_path / "b"), f"-DPython3_EXECUTABLE={sys.executable}"],
                       capture_output=True, text=True, env=env_with_kerasc(), timeout=300)
    assert p.returncode != 0
    assert "kerasc_add_model(app): MODEL" in p.stderr and "does not exist" in p.stderr


def test_kerasc_executable_override(models, tmp_path):
    """KERASC_EXECUTABLE replaces the default command (here: this Python with -m kerasc)."""
    x, ((v0, y0), _) = models
    src = _project(tmp_path / "src", f'add_subdirectory("{ROOT}" kerasc)')
    shutil.copy(v0, src / "models" / "net.keras")
    build = tmp_path / "build"
    _configure_build(src, build, f"-DKERASC_EXECUTABLE={sys.executable};-m;kerasc")
    assert_close(_predict(build, x), y0, "KERASC_EXECUTABLE")
