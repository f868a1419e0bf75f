"""`kerasc convert --package KIND`: PlatformIO, Arduino, Zephyr and ESP-IDF library layouts. PlatformIO
and the Arduino CLI download their toolchains at run time and Zephyr/ESP-IDF are not packaged here, so
each package is checked by its layout and manifest, and its example is built from the package's own
files with the compilers we have (gcc on the host, where its output is compared with Keras;
arm-none-eabi-gcc for a Cortex-M4F); the Zephyr and ESP-IDF CMake files run against stand-ins for
the two functions they call."""

import configparser
import json
import subprocess

import numpy as np
import pytest
import yaml

from tests.support.env import require_tool
from tests.support.flags import STRICT
from tests.support.models import randomize
from tests.support.parity import assert_close
from tests.support.programs import kerasc

KINDS = ("platformio", "arduino", "zephyr", "esp-idf")


def _example_input(T, F):
    t, k = np.meshgrid(np.arange(T), np.arange(F), indexing="ij")
    return (0.25 * ((t + 3 * k) % 7) - 0.75).astype(np.float32)[None]


@pytest.fixture(scope="module")
def models(keras, tmp_path_factory):
    """A streaming model (LSTM -> Dense, any length) and one that is not (Bidirectional GRU over a
    fixed length, which needs the caller's work buffer), with the output of the example's input."""
    d = tmp_path_factory.mktemp("pkg")
    L = keras.layers
    out = {}
    for name, m, T in (
        ("kws", keras.Sequential([keras.Input((None, 3)), L.LSTM(5), L.Dense(2)], name="kws"), 8),
        ("bigru", keras.Sequential([keras.Input((6, 2)), L.Bidirectional(L.GRU(3, return_sequences=True)),
                                    L.Dense(2)], name="bigru"), 6),
    ):
        randomize(m, seed=len(name))
        m.save(d / f"{name}.keras")
        y = np.asarray(m(_example_input(T, m.inputs[0].shape[-1]), training=False))[0]
        out[name] = (d / f"{name}.keras", y[-1] if y.ndim == 2 else y)
    return out


def _convert(models, name, kind, out, *extra):
    r = kerasc("convert", models[name][0], "-o", out, "--package", kind, *extra)
    assert r.returncode == 0, r.stderr
    return out / name


def _run_c(main, include, tmp_path):
    exe = tmp_path / "example"
    subprocess.run(["gcc", *STRICT, "-O2", f"-I{include}", str(main), "-o", str(exe), "-lm"], check=True,
                   capture_output=True, text=True, timeout=120)
    return np.array([float(v) for v in subprocess.run([str(exe)], capture_output=True, text=True, check=True,
                                                      timeout=60).stdout.split()], dtype=np.float32)


def _cross_compile(main, include, tmp_path):
    r = subprocess.run([require_tool("arm-none-eabi-gcc"), *STRICT, "-O2", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard",
                        "-mfpu=fpv4-sp-d16", f"-I{include}", "-c", str(main), "-o", str(tmp_path / "ex.o")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("name", ["kws", "bigru"])
def test_platformio_library(models, tmp_path, name):
    require_tool("gcc")
    root = _convert(models, name, "platformio", tmp_path)
    manifest = json.loads((root / "library.json").read_text())
    assert manifest["name"] == name and manifest["version"] == "0.1.0" and manifest["build"]["includeDir"] == "src"
    assert set(manifest["headers"]) == {f"{name}.h", "kc_runtime.h"}
    for h in manifest["headers"]:
        assert (root / "src" / h).is_file()
    ex = manifest["examples"][0]
    main = root / ex["base"] / ex["files"][0]
    assert_close(_run_c(main, root / "src", tmp_path), models[name][1], f"{name} PlatformIO example")
    _cross_compile(main, root / "src", tmp_path)


ARDUINO_STUB = r"""
#include <stdio.h>
struct SerialPort {
    void begin(long) {}
    void println(float v, int digits) { printf("%.*f\n", digits, (double)v); }
};
static SerialPort Serial;
"""


@pytest.mark.parametrize("name", ["kws", "bigru"])
def test_arduino_library(models, tmp_path, name):
    """library.properties has the fields the Arduino library specification requires; the sketch, built
    as the Arduino core builds it (C++, the library's src/ on the include path) against a stand-in
    Serial, prints what Keras computes."""
    require_tool("g++")
    root = _convert(models, name, "arduino", tmp_path)
    props = configparser.ConfigParser()
    props.read_string("[library]\n" + (root / "library.properties").read_text())
    lib = props["library"]
    for key in ("name", "version", "author", "maintainer", "sentence", "paragraph", "category", "url",
                "architectures", "includes"):
        assert lib.get(key), key
    assert lib["name"] == name and lib["includes"] == f"{name}.h" and lib["architectures"] == "*"
    sketch = root / "examples" / f"{name}_basic" / f"{name}_basic.ino"
    (tmp_path / "Arduino.h").write_text(ARDUINO_STUB)
    prog = tmp_path / "sketch.cpp"
    prog.write_text('#include "Arduino.h"\n' + sketch.read_text() + "\nint main() { setup(); loop(); return 0; }\n")
    exe = tmp_path / "sketch"
    subprocess.run(["g++", "-std=c++11", "-Wall", "-Wextra", "-Werror", f"-I{root / 'src'}", f"-I{tmp_path}",
                    str(prog), "-o", str(exe), "-lm"], check=True, capture_output=True, text=True, timeout=120)
    got = np.array(subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split(), float)
    assert_close(got.astype(np.float32), models[name][1], f"{name} Arduino sketch", atol=2e-6 + 1e-5)
    # an Arduino Mega build (avr-g++, 16-bit int): the sketch asks for the weights in flash there
    r = subprocess.run([require_tool("avr-g++"), "-mmcu=atmega2560", "-Os", "-std=gnu++11", "-Wall", "-Wextra",
                        "-Werror", f"-I{root / 'src'}", f"-I{tmp_path}", "-c", str(prog), "-o", str(tmp_path / "s.o")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    nm = subprocess.run([require_tool("avr-nm"), "-S", str(tmp_path / "s.o")], capture_output=True, text=True).stdout
    weights = [line for line in nm.splitlines() if f"{name}_" in line and line.split()[2:3] in (["r"], ["R"])]
    assert weights, nm  # the weight arrays are read-only data (.progmem), not initialised SRAM (d)


CMAKE_STUBS = """
function(zephyr_include_directories)
  foreach(d ${ARGN})
    get_filename_component(abs "${d}" ABSOLUTE BASE_DIR "${MODULE}")
    message(STATUS "INCLUDE ${abs}")
  endforeach()
endfunction()
function(idf_component_register)
  cmake_parse_arguments(ARG "" "" "INCLUDE_DIRS;SRCS;REQUIRES" ${ARGN})
  foreach(d ${ARG_INCLUDE_DIRS})
    get_filename_component(abs "${d}" ABSOLUTE BASE_DIR "${MODULE}")
    message(STATUS "INCLUDE ${abs}")
  endforeach()
endfunction()
include("${MODULE}/CMakeLists.txt")
"""


def _cmake_includes(root, tmp_path, *defs):
    require_tool("cmake")
    script = tmp_path / "stubs.cmake"
    script.write_text(CMAKE_STUBS)
    r = subprocess.run(["cmake", f"-DMODULE={root}", *defs, "-P", str(script)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    return [line.split("INCLUDE ", 1)[1] for line in (r.stdout + r.stderr).splitlines() if "INCLUDE " in line]


def test_zephyr_module(models, tmp_path):
    require_tool("gcc")
    root = _convert(models, "kws", "zephyr", tmp_path)
    module = yaml.safe_load((root / "zephyr" / "module.yml").read_text())
    assert module == {"name": "kws", "build": {"cmake": ".", "kconfig": "Kconfig"}}
    kconfig = (root / "Kconfig").read_text()
    assert "config KERASC_KWS\n\tbool " in kconfig
    assert _cmake_includes(root, tmp_path) == []  # the option off: nothing added
    (inc,) = _cmake_includes(root, tmp_path, "-DCONFIG_KERASC_KWS=y")
    assert inc == str(root / "include") and (root / "include" / "kws.h").is_file()
    main = root / "examples" / "basic" / "main.c"
    assert_close(_run_c(main, root / "include", tmp_path), models["kws"][1], "Zephyr example")
    _cross_compile(main, root / "include", tmp_path)


def test_esp_idf_component(models, tmp_path):
    require_tool("gcc")
    root = _convert(models, "bigru", "esp-idf", tmp_path, "--package-version", "2.3.4")
    manifest = yaml.safe_load((root / "idf_component.yml").read_text())
    assert manifest["version"] == "2.3.4" and manifest["license"] == "MIT"
    assert "bigru.keras" in manifest["description"] and "kerasc-generated" in manifest["description"]
    (inc,) = _cmake_includes(root, tmp_path)
    assert inc == str(root / "include") and (root / "include" / "bigru.h").is_file()
    assert_close(_run_c(root / "examples" / "basic" / "main.c", root / "include", tmp_path), models["bigru"][1],
                 "ESP-IDF example")


def test_package_refusals_and_regeneration(models, tmp_path):
    path = models["kws"][0]
    r = kerasc("convert", path, "-o", tmp_path, "--package", "platformio", "--package-version", "v1")
    assert r.returncode == 2 and "--package-version 'v1' is not a version" in r.stderr and r.stderr.count("\n") == 1
    assert not (tmp_path / "kws").exists()  # nothing written
    r = kerasc("convert", path, "-o", tmp_path, "--package", "keil")
    assert r.returncode == 2 and "--package" in r.stderr
    _convert(models, "kws", "platformio", tmp_path)
    _convert(models, "kws", "platformio", tmp_path)  # regenerating over its own files is fine
    (tmp_path / "kws" / "library.json").write_text('{"name": "mine"}')
    r = kerasc("convert", path, "-o", tmp_path, "--package", "platformio")
    assert r.returncode == 2 and "was not generated by kerasc" in r.stderr
    assert (tmp_path / "kws" / "library.json").read_text() == '{"name": "mine"}'
