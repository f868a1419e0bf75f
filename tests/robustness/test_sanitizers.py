"""The generated C under AddressSanitizer and UndefinedBehaviorSanitizer: standalone executables fed
from files (not ASan inside the Python process), outputs compared with Keras in Python; and a
10^5-step sequence on a stable model stays finite and matches Keras."""

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

import kerasc
from tests.support.env import require_tool
from tests.support.models import keras_truth, randomize
from tests.support.parity import assert_close

HERE = Path(__file__).resolve().parent
SAN = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g", "-O1"]

MODELS = {
    "san_lstm_stack": lambda k: k.Sequential([k.Input((None, 3)), k.layers.LSTM(7, return_sequences=True),
                                              k.layers.LSTM(5), k.layers.Dense(3, activation="softmax")]),
    "san_gru_back": lambda k: k.Sequential([k.Input((None, 2)), k.layers.GRU(4, return_sequences=True,
                                                                              go_backwards=True, reset_after=False),
                                            k.layers.Dense(2)]),
    "san_rnn_sparsemax": lambda k: k.Sequential([k.Input((None, 4)), k.layers.SimpleRNN(6, return_sequences=True),
                                                 k.layers.Dense(5, activation="sparsemax")]),
    "san_gru_unit": lambda k: k.Sequential([k.Input((None, 1)), k.layers.GRU(1)]),
    "san_bidi": lambda k: k.Sequential([k.Input((None, 3)), k.layers.Bidirectional(k.layers.LSTM(3)),
                                        k.layers.Dense(2)]),
}


def build_and_run(ir, out_dir: Path, x: np.ndarray, flags) -> np.ndarray:
    cc = require_tool("gcc")
    kerasc.convert  # noqa: B018  (the header is written from the same IR the harness uses)
    from kerasc.codegen import write_files

    write_files(ir, out_dir, force=True)
    exe = out_dir / f"{ir.name}_driver"
    subprocess.run([cc, "-std=c99", "-Wall", "-Wextra", "-Werror", *flags, f"-I{out_dir}",
                    f"-DKC_HEADER=\"{ir.name}.h\"", f"-DKC_MODEL={ir.name}", f"-DKC_MODEL_UPPER={ir.NAME}",
                    f"-DKC_NEEDS_WORK={int(ir.needs_work)}", f"-DKC_CAN_STREAM={int(ir.causal)}",
                    str(HERE / "driver.c"), "-o", str(exe), "-lm"], check=True)
    x.astype(np.float32).tofile(out_dir / "in.bin")
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=1", UBSAN_OPTIONS="print_stacktrace=1")
    res = subprocess.run([str(exe), str(out_dir / "in.bin"), str(out_dir / "out.bin"), str(x.shape[0]),
                          str(x.shape[1])], capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0 and "runtime error" not in res.stderr and "Sanitizer" not in res.stderr, res.stderr
    return np.fromfile(out_dir / "out.bin", dtype=np.float32)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_sanitized_build_matches_keras(keras, name, tmp_path, record_property):
    model = MODELS[name](keras)
    randomize(model, seed=len(name))
    x = np.random.default_rng(len(name)).standard_normal((3, 9, model.inputs[0].shape[-1])).astype(np.float32)
    want = keras_truth(model, x)
    ir = kerasc.build_ir(model, name=name)
    got = build_and_run(ir, tmp_path, x, SAN)
    n = want.size
    assert_close(got[:n].reshape(want.shape), want, f"{name} under ASan+UBSan")
    if ir.causal:  # the streamed last step equals predict's last output
        last = want[:, -1] if ir.output_seq else want
        assert_close(got[n:].reshape(last.shape), last, f"{name} streamed under ASan+UBSan")
    record_property("robustness.sanitizer_runs", 1)


def test_hundred_thousand_steps_stay_finite_and_match_keras(keras, tmp_path, record_property):
    T = 100_000
    model = keras.Sequential([keras.Input((T, 3)), keras.layers.LSTM(8, return_sequences=True),
                              keras.layers.GRU(4, return_sequences=True), keras.layers.Dense(2)])
    randomize(model, seed=3, gain=0.9)  # a contractive (stable) model: errors cannot grow without bound
    x = np.random.default_rng(3).standard_normal((1, T, 3)).astype(np.float32)
    want = model.predict(x, verbose=0)  # one fixed length on a fresh model (DESIGN: eager is too slow here)
    ir = kerasc.build_ir(model, name="long_run")
    got = build_and_run(ir, tmp_path, x, ["-O2"]).reshape(-1)
    got_seq = got[:want.size].reshape(want.shape)
    assert np.all(np.isfinite(got_seq))
    assert_close(got_seq, want, "10^5 steps")
    record_property("robustness.sanitizer_runs", 0)
