"""The compiled-extension cache: safe under concurrent processes, keyed on everything that changes
the code (generated source, runtime, compiler flags, macros)."""

import os
import subprocess
import sys

import numpy as np

from tests.support.env import ROOT

CHILD = r"""
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np
import keras, kerasc
keras.utils.set_random_seed(1)
m = keras.Sequential([keras.Input((None, 3)), keras.layers.GRU(6, return_sequences=True), keras.layers.Dense(2)])
cm = kerasc.compile(m, name="cache_probe")
x = np.linspace(-1, 1, 2 * 5 * 3, dtype=np.float32).reshape(2, 5, 3)
np.save(sys.argv[1], cm.predict(x))
"""


def test_two_processes_build_the_same_extension_at_once(tmp_path, record_property):
    cache = tmp_path / "cache"
    env = dict(os.environ, KERASC_CACHE_DIR=str(cache), PYTHONPATH=str(ROOT))
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path / f"y{i}.npy")], env=env,
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    y0, y1 = np.load(tmp_path / "y0.npy"), np.load(tmp_path / "y1.npy")
    np.testing.assert_array_equal(y0, y1)
    built = list(cache.glob("_kc_*"))
    assert len(built) == 1, built  # one module, no half-written leftovers
    assert not list(cache.glob("build-*")), "temporary build directories left behind"
    record_property("robustness.concurrent_builds", 2)


def test_cache_key_covers_flags_macros_and_source(keras, tmp_path, monkeypatch):
    import kerasc
    from kerasc import harness

    monkeypatch.setenv("KERASC_CACHE_DIR", str(tmp_path))
    m = keras.Sequential([keras.Input((None, 2)), keras.layers.SimpleRNN(3)])
    ir = kerasc.build_ir(m, name="keyed")
    for defines in ((), ("KC_EXACT_MATH",)):
        harness.compile_models([ir], defines)
    monkeypatch.setattr(harness, "CFLAGS", harness.CFLAGS + ["-O1"])
    harness.compile_models([ir])
    ir2 = kerasc.build_ir(m, name="keyed_other")
    harness.compile_models([ir2])
    assert len(list(tmp_path.glob("_kc_*"))) == 4  # exact math, fast math, -O1, another source: 4 modules
