"""Codegen details: golden headers (diffable, deterministic), float literals, comment safety.

Golden files: tests/c/golden/*.h. After an intended change to the generated C, regenerate with
    .venv/bin/python -m pytest tests/c/test_codegen.py --regen-golden
and review the diff like any code change."""

from pathlib import Path

import numpy as np
import pytest

import kerasc
from kerasc.codegen import ccomment, render_header
from kerasc.ir import c_float

GOLDEN = Path(__file__).resolve().parent / "golden"


def _fixed_weights(model, seed):
    rng = np.random.default_rng(seed)
    model.set_weights([np.round(rng.normal(0, 0.5, w.shape), 3).astype(np.float32) for w in model.get_weights()])
    return model


GOLDEN_MODELS = {
    "golden_lstm": lambda k: k.Sequential([k.Input((None, 2), name="x"), k.layers.LSTM(3, name="lstm"),
                                           k.layers.Dense(2, activation="softmax", name="head")], name="golden_lstm"),
    "golden_gru": lambda k: k.Sequential([k.Input((4, 1), name="x"), k.layers.GRU(2, return_sequences=True, name="gru"),
                                          k.layers.SimpleRNN(2, go_backwards=True, use_bias=False, name="rnn")],
                                         name="golden_gru"),
}


@pytest.mark.parametrize("name", sorted(GOLDEN_MODELS))
def test_golden_header(keras, name, request):
    model = _fixed_weights(GOLDEN_MODELS[name](keras), seed=len(name))
    text = render_header(kerasc.build_ir(model))
    path = GOLDEN / f"{name}.h"
    if request.config.getoption("--regen-golden"):
        path.write_text(text)
    assert path.exists(), f"{path} missing: run pytest {__file__} --regen-golden"
    assert text == path.read_text(), f"{path.name} changed: review, then regenerate with --regen-golden"


def test_generation_is_deterministic(keras):
    model = _fixed_weights(GOLDEN_MODELS["golden_lstm"](keras), seed=1)
    assert render_header(kerasc.build_ir(model)) == render_header(kerasc.build_ir(model))


def test_header_names_keras_layers_gates_and_shapes(keras):
    model = _fixed_weights(GOLDEN_MODELS["golden_lstm"](keras), seed=1)
    text = render_header(kerasc.build_ir(model))
    assert "Keras layer 'lstm' (LSTM) kernel, forget gate: [in=2][units=3]" in text
    assert "Gate order in Keras' fused kernel: i, f, c, o" in text
    assert "Weights SHA-256:" in text and "do not edit" in text.lower()


def test_float_literals_round_trip_every_float32():
    rng = np.random.default_rng(0)
    specials = np.array([0.0, -0.0, 1.0, -1.0, 1e-45, 1.17549435e-38, 3.4028235e38, -3.4028235e38, 0.1, 1 / 3],
                        dtype=np.float32)
    bits = rng.integers(0, 2**32, 200000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    values = np.concatenate([specials, bits[np.isfinite(bits)]])
    for v in values:
        lit = c_float(v)
        assert lit.endswith("f") and ("." in lit or "e" in lit)
        back = np.float32(float(lit[:-1]))
        assert back.tobytes() == np.float32(v).tobytes(), (v, lit)


@pytest.mark.parametrize("evil", ["*/ int x; /*", "a\nb", "naïve", "/* nested"])
def test_comment_text_cannot_escape(evil):
    safe = ccomment(evil)
    assert "*/" not in safe and "/*" not in safe and "\n" not in safe and safe.isascii()


def test_hostile_layer_names_stay_in_comments(keras):
    """A layer name is user data (a crafted file can hold anything): it may only appear inside
    comments, escaped, and the header still compiles and computes the same."""
    from kerasc.lower import lower
    from kerasc.harness import compile_models
    from kerasc.load import load

    m = keras.Sequential([keras.Input((None, 2)), keras.layers.GRU(2, name="g")])
    record = load(m)
    record.layers[1].name = "x*/ int evil; /*y\n#error"
    record.outputs = [(record.layers[1].name, 0, 0)]
    ir = lower(record, name="hostile")
    text = render_header(ir)
    assert "*/ int evil" not in text
    assert sum(line.startswith("#error") for line in text.splitlines()) == 1  # only our version lock
    for line in text.splitlines():
        if "evil" in line:
            assert line.lstrip().startswith(("/*", "*")) or "/* " in line, line
    cm = compile_models([ir])[0]
    x = np.random.default_rng(0).standard_normal((1, 3, 2)).astype(np.float32)
    np.testing.assert_allclose(cm.predict(x), m(x).numpy(), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_outputs_honour_the_umask_as_open_would(keras, tmp_path, umask):
    """Generated headers, the runtime, the self-test and the reports get 0666 less the umask (0644 at
    umask 022), not mkstemp's 0600: a firmware build run by another user must be able to read them.
    An overwritten file keeps the mode it had, as open("w") keeps it."""
    import os
    import stat

    from kerasc.cli import main

    model = keras.Sequential([keras.Input((None, 2)), keras.layers.GRU(3)], name="perm")
    path = tmp_path / "perm.keras"
    model.save(path)
    old = os.umask(umask)
    try:
        out = tmp_path / "out"
        assert main(["convert", str(path), "-o", str(out), "--self-test"]) == 0
        assert main(["verify", str(path), "--timesteps", "3", "--json", str(tmp_path / "r" / "v.json"),
                     "--junit", str(tmp_path / "r" / "v.xml"), "--report", str(tmp_path / "r")]) == 0
        written = sorted(out.iterdir()) + sorted((tmp_path / "r").iterdir())
        assert {p.name for p in written} >= {"perm.h", "kc_runtime.h", "perm_selftest.c", "v.json", "v.xml", "index.html"}
        for p in written:
            assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask, (p.name, oct(p.stat().st_mode))
        os.chmod(out / "perm.h", 0o600)  # a mode the user chose survives regeneration
        assert main(["convert", str(path), "-o", str(out)]) == 0
        assert stat.S_IMODE((out / "perm.h").stat().st_mode) == 0o600
        assert stat.S_IMODE((out / "kc_runtime.h").stat().st_mode) == 0o666 & ~umask
    finally:
        os.umask(old)
