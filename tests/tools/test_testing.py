"""Parity checks in users' own test suites and CI: kerasc.testing, the pytest plugin, `kerasc verify
--json/--junit/--inputs .npz`, and the example user project examples/ci (its own pytest run, its
CMake firmware build for Cortex-M with the self-test under QEMU, and its CI workflow's commands).

The "broken model" is the realistic one: C generated from an earlier retrain of the model (same
architecture, other weights) checked against the current Keras model. The numbers in the failure
message are checked against the real C and Keras outputs at the place it names."""

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import kerasc
from tests.support.env import require_tool, ROOT
from tests.support.programs import env_with_kerasc, kerasc_cli, run

EXAMPLE = ROOT / "examples" / "ci"
MODEL = EXAMPLE / "models" / "vibration.keras"
REFERENCE = EXAMPLE / "data" / "reference.npz"

FIRST = re.compile(r"first disagreement: layer \[(\d+)\] '(\w+)' \((\w+)\) at timestep (\d+), batch (\d+), "
                   r"output index (\d+): C (\S+) vs Keras (\S+) \(\|err\| (\S+) > tolerance (\S+)\)")


def earlier_retrain(keras, seed: int = 1):
    """The model as an earlier training run left it: same architecture, weights a little different."""
    m = keras.saving.load_model(MODEL)
    rng = np.random.default_rng(seed)
    m.set_weights([(w + rng.normal(0, 0.05, w.shape)).astype(np.float32) for w in m.get_weights()])
    return m


@pytest.fixture(scope="module")
def current(keras):
    return keras.saving.load_model(MODEL)


@pytest.fixture(scope="module")
def stale_header(keras, tmp_path_factory):
    """vibration.h (+ kc_runtime.h) generated from the earlier retrain."""
    out = tmp_path_factory.mktemp("stale")
    kerasc.convert(earlier_retrain(keras), out, name="vibration")
    return out / "vibration.h"


# ------------------------------------------------------------------ kerasc.testing

def test_assert_matches_keras_passes_on_file_and_live_model(current):
    from kerasc.testing import assert_matches_keras

    report = assert_matches_keras(MODEL)
    assert report.ok and report.seed == 0 and report.input_shape == (2, 16, 3)
    x = np.load(REFERENCE)["accel"]
    report = assert_matches_keras(current, x, name="vibration_live")
    assert report.ok and report.seed is None and report.input_shape == x.shape


def _check_message(msg: str, compiled, keras_model, x):
    """The message names layer, timestep, output index, both values and the error: all of them true."""
    m = FIRST.search(msg)
    assert m, msg
    layer, name, cls = int(m.group(1)), m.group(2), m.group(3)
    t, b, u = int(m.group(4)), int(m.group(5)), int(m.group(6))
    c_val, k_val, err = float(m.group(7)), float(m.group(8)), float(m.group(9))
    assert (name, cls) == (compiled.ir.nodes[layer].keras_name, compiled.ir.nodes[layer].keras_class)
    from kerasc.keras_bridge import keras_layer_outputs

    _, c_layers = compiled.trace(x)

    k_layer = keras_layer_outputs(keras_model, [name], x)[0]
    assert c_val == pytest.approx(float(c_layers[layer][b, t, u]), rel=1e-7)
    assert k_val == pytest.approx(float(k_layer[b, t, u]), rel=1e-7)
    assert err == pytest.approx(abs(c_val - k_val), rel=1e-2)
    # nothing out of tolerance before the timestep it names, in that layer
    d = np.abs(c_layers[layer].astype(np.float64) - k_layer)
    assert np.all(d[:, :t] <= 1e-5 + 1e-4 * np.abs(k_layer[:, :t]))
    assert "worst offenders:" in msg and "MISMATCH" in msg and "random inputs, seed 0" in msg


def test_old_retrain_compiled_against_new_model_names_layer_timestep_values(keras, current):
    from kerasc.testing import assert_matches_keras, compile_for_tests

    old = compile_for_tests(earlier_retrain(keras), name="vibration_old")
    with pytest.raises(AssertionError) as info:
        assert_matches_keras(current, compiled=old)
    from kerasc.verify import make_inputs

    _check_message(str(info.value), old, current, make_inputs(old.ir, None, None, 0))


def test_stale_header_against_model_file(stale_header, current):
    from kerasc.testing import assert_matches_keras, compile_for_tests

    with pytest.raises(AssertionError) as info:
        assert_matches_keras(MODEL, header=stale_header, timesteps=20)
    from kerasc.verify import make_inputs

    cm = compile_for_tests(MODEL, header=stale_header)
    _check_message(str(info.value), cm, current, make_inputs(cm.ir, 20, None, 0))
    # the current header passes
    fresh = kerasc.convert(MODEL, stale_header.parent.parent / "fresh", name="vibration")[0]
    assert assert_matches_keras(MODEL, header=fresh).ok


def test_header_of_another_architecture_is_refused(keras, tmp_path):
    from kerasc.testing import assert_matches_keras

    other = keras.Sequential([keras.Input((None, 3)), keras.layers.LSTM(7, return_sequences=True, name="lstm"),
                              keras.layers.Dense(3, activation="softmax", name="condition")])
    header = kerasc.convert(other, tmp_path, name="vibration")[0]
    with pytest.raises(AssertionError, match=r"does not come from this model's architecture.*\n  header: .*\n"
                                             r"  model: .*\nregenerate it"):
        assert_matches_keras(MODEL, header=header)


def test_weights_keyword(current):
    from kerasc.testing import assert_matches_keras, default_tolerance

    assert default_tolerance("float32") == default_tolerance(None) == (1e-5, 1e-4)
    assert assert_matches_keras(MODEL, weights="float32").ok
    assert default_tolerance("int8") == (0.2, 0.05)
    assert assert_matches_keras(MODEL, weights="int8").atol == 0.2
    with pytest.raises(kerasc.ConversionError, match=r"weights='int4' is not supported; supported weight types: "
                                                     r"'float32', 'float16', 'int8'"):
        assert_matches_keras(MODEL, weights="int4")


def test_tolerance_keywords_are_applied():
    from kerasc.testing import assert_matches_keras

    with pytest.raises(AssertionError, match=r"tolerance atol 0 \+ rtol 0 \* \|keras\|"):
        assert_matches_keras(MODEL, atol=0, rtol=0, timesteps=40, strict=True)


def test_compile_for_tests_caches_by_generated_code(keras, current):
    from kerasc.testing import compile_for_tests

    a = compile_for_tests(MODEL)
    assert compile_for_tests(str(MODEL)) is a
    live = keras.models.clone_model(current)
    live.set_weights(current.get_weights())
    b = compile_for_tests(live, name="vibration_cache")
    assert compile_for_tests(live, name="vibration_cache") is b is not a
    live.set_weights([w * 0.5 for w in live.get_weights()])  # retrained in place: new C
    assert compile_for_tests(live, name="vibration_cache") is not b


# ------------------------------------------------------------------ pytest plugin

def _pytest(args, cwd, env_extra=None, timeout=600):
    """pytest in a child process, with the plugin loaded whether or not kerasc is pip-installed."""
    env = env_with_kerasc()
    env.update(env_extra or {})
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:kerasc",
                           "-p", "kerasc.pytest_plugin", *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=timeout)


def test_plugin_is_declared_and_starts_without_tensorflow(tmp_path):
    """The pytest11 entry point names the plugin; loading it (and collecting and running a test that
    does not use it) imports neither TensorFlow nor Keras (only the kerasc package, which needs numpy)."""
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'\[project\.entry-points\.pytest11\]\nkerasc = "kerasc\.pytest_plugin"\n', pyproject)
    (tmp_path / "test_light.py").write_text(
        "import sys\n"
        "def test_nothing_heavy_loaded(request):\n"
        "    assert request.config.pluginmanager.hasplugin('kerasc.pytest_plugin')\n"
        "    heavy = [m for m in ('tensorflow', 'keras', 'tf_keras', 'jax', 'torch', 'kerasc.testing') if m in sys.modules]\n"
        "    assert heavy == []\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    r = _pytest(["-q", "--kerasc-out", tmp_path / "gen"], tmp_path)
    assert r.returncode == 0 and "1 passed" in r.stdout, r.stdout + r.stderr
    assert "kerasc parity" not in r.stdout  # no summary when nothing was checked


def test_fixture_keeps_generated_headers_with_kerasc_out(tmp_path):
    (tmp_path / "test_fixture.py").write_text(
        f"MODEL = {str(MODEL)!r}\n"
        "def test_twice_the_same(kerasc_model):\n"
        "    a = kerasc_model(MODEL)\n"
        "    assert kerasc_model(MODEL) is a and a.header.name == 'vibration.h'\n"
        "    assert (a.header.parent / 'kc_runtime.h').is_file()\n"
        "    a.assert_matches_keras()\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    r = _pytest(["-q", "--kerasc-out", tmp_path / "gen"], tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert list((tmp_path / "gen").glob("session-*/vibration/vibration.h"))
    assert re.search(r"kerasc parity =+\nok +vibration: max \|err\| \S+, random inputs seed 0", r.stdout), r.stdout


# ------------------------------------------------------------------ kerasc verify --json / --junit / --inputs

def test_verify_json_on_stdout_and_junit(tmp_path):
    r = kerasc_cli("verify", str(MODEL), "--json", "--junit", str(tmp_path / "v.xml"), "--seed", "7", check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(r.stdout)  # stdout is the JSON document alone; the table goes to stderr
    assert doc["schema"] == "kerasc-verify/1" and doc["ok"] is True and doc["exit_code"] == 0
    assert doc["seed"] == 7 and doc["inputs"] == "random N(0, 1), seed 7" and doc["weights"] == "float32"
    assert [(x["name"], x["class"], x["shape"]) for x in doc["layers"]] == [
        ("lstm", "LSTM", [2, 16, 12]), ("condition", "Dense", [2, 16, 3])]
    assert doc["first_disagreement"] is None and doc["worst"] == [] and 0 < doc["max_abs_err"] < 1e-5
    assert "PASS: vibration" in r.stderr and "seed 7" in r.stderr
    suite = ET.parse(tmp_path / "v.xml").getroot().find("testsuite")
    assert suite.get("tests") == "2" and suite.get("failures") == "0"
    assert [c.get("name") for c in suite.iter("testcase")] == ["[0] lstm (LSTM)", "[1] condition (Dense)"]


def test_verify_mismatch_json_file_and_junit_failures(tmp_path):
    """Zero tolerance: the C and Keras round differently somewhere (exit 1); the JSON and JUnit files
    locate it like the table does."""
    r = kerasc_cli("verify", str(MODEL), "--atol", "0", "--rtol", "0", "--strict", "--timesteps", "30",
                   "--json", str(tmp_path / "out" / "v.json"), "--junit", str(tmp_path / "v.xml"), check=False)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "FAIL: vibration" in r.stdout and "worst offenders:" in r.stdout
    doc = json.loads((tmp_path / "out" / "v.json").read_text())
    assert doc["ok"] is False and doc["exit_code"] == 1
    first = doc["first_disagreement"]
    assert set(first) == {"layer", "name", "class", "timestep", "batch", "index", "c", "keras", "abs_err",
                          "tolerance"}
    assert first["abs_err"] == pytest.approx(abs(first["c"] - first["keras"]), rel=1e-6)
    assert f"layer [{first['layer']}] '{first['name']}'" in r.stdout
    assert doc["worst"] and all(w["abs_err"] > w["tolerance"] for w in doc["worst"])
    suite = ET.parse(tmp_path / "v.xml").getroot().find("testsuite")
    failures = [c for c in suite.iter("testcase") if c.find("failure") is not None]
    assert int(suite.get("failures")) == len(failures) >= 1
    assert failures[0].find("failure").get("message").startswith(f"layer [{first['layer']}] '{first['name']}'")


def test_verify_inputs_npz(tmp_path):
    """The reference .npz holds 'accel' (the Keras input's name) and 'labels': the named array is used;
    an .npz with one array is used whatever its name; other .npz files are refused."""
    r = kerasc_cli("verify", str(MODEL), "--inputs", str(REFERENCE), "--json", check=False)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["input_shape"] == list(np.load(REFERENCE)["accel"].shape) and doc["seed"] is None
    assert doc["inputs"] == str(REFERENCE)
    from kerasc.cli import _read_inputs

    np.savez(tmp_path / "one.npz", whatever=np.load(REFERENCE)["accel"][:2, :5])
    assert _read_inputs(str(tmp_path / "one.npz"), str(MODEL)).shape == (2, 5, 3)
    np.savez(tmp_path / "two.npz", a=np.zeros((1, 4, 3), np.float32), b=np.zeros((1, 4, 3), np.float32))
    r = kerasc_cli("verify", str(MODEL), "--inputs", str(tmp_path / "two.npz"), check=False)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "holds 2 arrays ['a', 'b']" in r.stderr and "named 'accel'" in r.stderr


def test_verify_errors_still_write_machine_reports(tmp_path):
    bad = tmp_path / "not_a_model.keras"
    bad.write_text("hello")
    r = kerasc_cli("verify", str(bad), "--json", str(tmp_path / "v.json"), "--junit", str(tmp_path / "v.xml"),
                   check=False)
    assert r.returncode == 2 and r.stderr.startswith("kerasc: error:")
    doc = json.loads((tmp_path / "v.json").read_text())
    assert doc["ok"] is False and doc["exit_code"] == 2 and doc["error"] in r.stderr
    suite = ET.parse(tmp_path / "v.xml").getroot().find("testsuite")
    assert suite.get("errors") == "1" and suite.find("testcase/error").get("type") == "ConversionError"
    r = kerasc_cli("verify", str(MODEL), "--weights", "int4", check=False)
    assert r.returncode == 2 and "invalid choice: 'int4'" in r.stderr and "float32" in r.stderr and "int8" in r.stderr


# ------------------------------------------------------------------ the example user project

@pytest.fixture(scope="module")
def host_build(tmp_path_factory):
    """examples/ci built for the host with CMake (kerasc_add_model converts the model at build time)."""
    require_tool("cmake")
    build = tmp_path_factory.mktemp("ci-host")
    run(["cmake", "-S", EXAMPLE, "-B", build, f"-DPython3_EXECUTABLE={sys.executable}"], env=env_with_kerasc())
    run(["cmake", "--build", build], env=env_with_kerasc())
    return build


def test_example_project_host_build(host_build):
    """The host configuration of the example's CMakeLists.txt: the self-test program and the app."""
    assert "vibration_selftest: PASS" in run([host_build / "vibration_selftest"]).stdout
    assert run([host_build / "monitor"]).stdout == "condition: unbalance\n"


def test_example_project_catches_a_firmware_built_from_an_earlier_retrain(stale_header, tmp_path):
    """The firmware build's header comes from an earlier retrain: the project's header test fails,
    naming layer, timestep, output index and both values; its other tests still pass."""
    project = tmp_path / "project"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    r = _pytest(["-q"], project, {"VIBRATION_HEADER": str(stale_header)})
    out = r.stdout
    assert r.returncode == 1 and "1 failed, 3 passed" in out, out + r.stderr
    assert "FAILED tests/test_vibration_model.py::test_firmware_header_matches_keras" in out
    m = FIRST.search(out)
    assert m and m.group(2) == "lstm" and m.group(3) == "LSTM", out
    assert float(m.group(9)) > float(m.group(10))
    assert "worst offenders:" in out and "MISMATCH vibration" in out


def _workflow_steps() -> list[tuple[str, str]]:
    """(name, shell script) of the `run:` steps of the example's GitHub Actions workflow."""
    lines = (EXAMPLE / ".github" / "workflows" / "model-parity.yml").read_text().splitlines()
    steps, i = [], 0
    while i < len(lines):
        m = re.match(r"\s*- name: (.*)", lines[i])
        if m and i + 1 < len(lines) and re.match(r"\s*run:", lines[i + 1]):
            body = lines[i + 1].split("run:", 1)[1].strip()
            i += 2
            if body == "|":
                indent, script = None, []
                while i < len(lines) and (not lines[i].strip() or indent is None or lines[i].startswith(indent)):
                    indent = indent or re.match(r"\s*", lines[i]).group(0)
                    script.append(lines[i].strip())
                    i += 1
                body = "\n".join(script)
            steps.append((m.group(1), body))
        else:
            i += 1
    return steps


def test_ci_workflow_commands_run(tmp_path):
    """Every `run:` step of examples/ci/.github/workflows/model-parity.yml after the installs, executed
    as written in a copy of the project, with `kerasc` and `pytest` meaning this checkout's: convert,
    verify (JUnit + JSON), the Cortex-M4 build, its self-test under QEMU, the project's pytest run with
    the firmware's header. The app of that build runs under QEMU too."""
    require_tool("cmake")
    require_tool("arm-none-eabi-gcc")
    require_tool("qemu-system-arm")
    steps = _workflow_steps()
    names = [n for n, _ in steps]
    assert names == ["Install toolchains", "Install kerasc", "Convert", "Verify against Keras",
                     "Build the firmware for Cortex-M4", "Self-test on Cortex-M4 (QEMU)", "Parity tests"]
    project = tmp_path / "project"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrappers = {"kerasc": f'exec "{sys.executable}" -m kerasc "$@"',
                "pytest": f'exec "{sys.executable}" -m pytest -p no:cacheprovider -p no:kerasc '
                          f'-p kerasc.pytest_plugin "$@"',
                "python3": f'exec "{sys.executable}" "$@"'}
    for name, body in wrappers.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    env = env_with_kerasc()
    env.update(PATH=f"{bin_dir}{os.pathsep}{env['PATH']}", KERASC_SRC=str(ROOT), PYTHONDONTWRITEBYTECODE="1")
    for name, script in steps[2:]:
        p = subprocess.run(["bash", "-eo", "pipefail", "-c", script], cwd=project, env=env, capture_output=True,
                           text=True, timeout=600, stdin=subprocess.DEVNULL)
        assert p.returncode == 0, f"step '{name}' exited {p.returncode}:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
        if name == "Self-test on Cortex-M4 (QEMU)":
            assert "vibration_selftest: PASS" in p.stdout + p.stderr
        if name == "Parity tests":  # with the header of the Cortex-M build: nothing skipped
            assert "4 passed" in p.stdout and "skipped" not in p.stdout, p.stdout
    qemu = shutil.which("qemu-system-arm")
    p = run([qemu, "-M", "mps2-an386", "-display", "none", "-serial", "null", "-monitor", "none",
             "-semihosting-config", "enable=on,target=native", "-kernel", project / "build" / "m4" / "monitor.elf"],
            timeout=120, stdin=subprocess.DEVNULL)
    assert "condition: unbalance" in p.stdout + p.stderr
    assert json.loads((project / "reports" / "verify.json").read_text())["ok"] is True
    assert ET.parse(project / "reports" / "pytest.xml").getroot().find("testsuite").get("failures") == "0"
    assert (project / "build" / "generated" / "vibration_selftest.c").is_file()
