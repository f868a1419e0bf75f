"""The bare-metal Cortex-M4F example (examples/firmware), built with CMake and arm-none-eabi-gcc:
its memory figures measured with nm/size agree with the generated macros and `kerasc inspect`,
it links no heap, and under qemu-system-arm (MPS2 AN386, semihosting) the streaming app agrees
with Keras and the on-target self-test passes."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from tests.support.env import require_tool, ROOT
from tests.support.programs import env_with_kerasc, kerasc_cli, run

FW = ROOT / "examples" / "firmware"
MODEL = ROOT / "examples" / "demo" / "activity.keras"


@pytest.fixture(scope="module")
def firmware(tmp_path_factory):
    """Configure and build the example (app + self-test firmware); returns the build directory."""
    require_tool("cmake")
    require_tool("arm-none-eabi-gcc")
    build = tmp_path_factory.mktemp("firmware")
    run(["cmake", "-S", FW, "-B", build, f"-DCMAKE_TOOLCHAIN_FILE={FW / 'arm-none-eabi-cortex-m4f.cmake'}",
         f"-DPython3_EXECUTABLE={sys.executable}", "-DFIRMWARE_SEMIHOSTING=ON", "-DFIRMWARE_SELFTEST=ON"],
        env=env_with_kerasc())
    run(["cmake", "--build", build], env=env_with_kerasc())
    return build


def _inspect():
    return json.loads(kerasc_cli("inspect", str(MODEL), "--json").stdout)


def test_weights_and_state_measured_with_nm_match_header_and_inspect(firmware):
    """Sum of the sizes of the activity__* const symbols == ACTIVITY_WEIGHT_BYTES == inspect's flash;
    the size of the application's activity_state variable == ACTIVITY_STATE_BYTES == inspect's state, its
    activity_scratch variable == ACTIVITY_SCRATCH_BYTES == inspect's scratch, and the two make inspect's RAM."""
    nm = require_tool("arm-none-eabi-nm")
    header = (firmware / "kerasc" / "activity" / "activity.h").read_text()
    weight_macro = int(re.search(r"#define ACTIVITY_WEIGHT_BYTES (\d+)", header).group(1))
    state_macro = int(re.search(r"#define ACTIVITY_STATE_BYTES (\d+)", header).group(1))
    scratch_macro = int(re.search(r"#define ACTIVITY_SCRATCH_BYTES (\d+)", header).group(1))
    scratch = None
    weights, state, kinds = 0, None, set()
    for line in run([nm, "-S", firmware / "activity_fw.elf"]).stdout.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[3].startswith("activity__") and parts[2] not in "tT":  # (t: a layer's step)
            weights += int(parts[1], 16)
            kinds.add(parts[2])
        if len(parts) == 4 and parts[3] == "model_state":
            state = int(parts[1], 16)
        if len(parts) == 4 and parts[3] == "model_scratch":
            scratch = int(parts[1], 16)
    info = _inspect()
    assert kinds == {"r"}, f"weights must be read-only data (flash), nm says {kinds}"
    assert weights == weight_macro == info["flash_bytes"]
    assert state == state_macro == info["state_bytes"]
    assert scratch == scratch_macro == info["scratch_bytes"]
    assert info["ram_bytes"] == state + scratch


def test_size_report(firmware):
    """The size report command agrees with nm, finds the model's code, and its stack is bounded."""
    require_tool("arm-none-eabi-size")
    p = run(["cmake", "--build", firmware, "--target", "size_report"], env=env_with_kerasc())
    assert "matches ACTIVITY_WEIGHT_BYTES" in p.stdout and "matches ACTIVITY_STATE_BYTES" in p.stdout
    r = json.loads(run([sys.executable, FW / "size_report.py", "--json", "--elf", firmware / "activity_fw.elf",
                        "--name", "activity", "--header", firmware / "kerasc" / "activity" / "activity.h",
                        "--state-symbol", "model_state", "--scratch-symbol", "model_scratch", "--objects", firmware / "CMakeFiles" / "activity_fw.dir",
                        "--objects", firmware / "CMakeFiles" / "board.dir", "--model-object", "model.c",
                        "--size", "arm-none-eabi-size", "--nm", "arm-none-eabi-nm"]).stdout)
    assert r["weights_bytes"] == r["weights_macro"] == r["model_object_rodata_bytes"]
    assert r["state_bytes"] == r["state_macro"] and r["scratch_bytes"] == r["scratch_macro"]
    assert 200 < r["code_bytes"] < 8000
    assert r["stack_bounded"] and 0 < r["stack_bytes"] < 1024 and r["stack_path"][0] == "activity_step"
    assert "expf" in r["library_functions"] and "malloc" not in r["library_functions"]


def test_firmware_links_no_heap_and_no_double_helpers(firmware):
    nm = require_tool("arm-none-eabi-nm")
    syms = set(line.split()[-1] for line in run([nm, firmware / "activity_fw.elf"]).stdout.splitlines())
    assert not syms & {"malloc", "calloc", "realloc", "free", "_malloc_r", "_sbrk"}
    assert not [s for s in syms if s.startswith("__aeabi_d")], "double-precision soft-float helpers linked"


def _qemu(elf) -> tuple[int, str]:
    """Exit status and semihosting output (QEMU writes it to stderr) of a firmware image."""
    qemu = require_tool("qemu-system-arm")
    p = run([qemu, "-M", "mps2-an386", "-display", "none", "-serial", "null", "-monitor", "none",
             "-semihosting-config", "enable=on,target=native", "-kernel", elf], check=False, timeout=120,
            stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout + p.stderr


def test_streaming_app_on_cortex_m4_matches_keras(firmware):
    """The app streams the held recording sample by sample on the emulated Cortex-M4; its
    probabilities (printed in millionths) agree with Keras' for the same recording."""
    from kerasc.keras_bridge import load_keras_model

    rc, out = _qemu(firmware / "activity_fw.elf")
    assert rc == 0, out
    m = re.search(r"50 samples -> (\w+); probabilities x 1e6: ([\d ]+)\n", out)
    assert m, out
    c = np.array([int(v) for v in m.group(2).split()]) / 1e6
    x = np.load(ROOT / "examples" / "demo" / "held_inputs.npy")[:1]
    k = np.asarray(load_keras_model(MODEL)(x, training=False))[0]
    assert np.abs(c - k).max() <= 1e-5 + 1e-4 * np.abs(k).max() + 1e-6, (c, k)
    assert m.group(1) == ["idle", "walking", "running", "stairs"][int(np.argmax(k))]
    # the painted peak holds the compiler's deepest path from activity_step (the size report, same
    # objects) plus main, the C library's frames and the startup code
    peak = int(re.search(r"stack peak: (\d+) bytes", out).group(1))
    r = json.loads(run([sys.executable, FW / "size_report.py", "--json", "--elf", firmware / "activity_fw.elf",
                        "--name", "activity", "--header", firmware / "kerasc" / "activity" / "activity.h",
                        "--state-symbol", "model_state", "--scratch-symbol", "model_scratch",
                        "--objects", firmware / "CMakeFiles" / "activity_fw.dir",
                        "--objects", firmware / "CMakeFiles" / "board.dir", "--model-object", "model.c",
                        "--size", "arm-none-eabi-size", "--nm", "arm-none-eabi-nm"]).stdout)
    assert r["stack_bytes"] <= peak < r["stack_bytes"] + 512, (peak, r["stack_bytes"])


def test_selftest_firmware_passes_on_cortex_m4(firmware):
    rc, out = _qemu(firmware / "activity_selftest_fw.elf")
    assert rc == 0 and "activity_selftest: PASS" in out, out


def test_recording_header_is_the_held_recording():
    """examples/firmware/recording.h is examples/demo/held_inputs.npy[0], exactly."""
    text = (FW / "recording.h").read_text()
    values = np.array([float(v) for v in re.findall(r"(-?[\d.]+(?:e-?\d+)?)f", text.split("= {", 1)[1])],
                      dtype=np.float32)
    x = np.load(ROOT / "examples" / "demo" / "held_inputs.npy")[0]
    np.testing.assert_array_equal(values, x.reshape(-1))
