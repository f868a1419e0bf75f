"""Shared pieces of the robustness suite: a valid model file to break in many ways, and the rule
every outcome must follow."""

import re

import numpy as np
import pytest

from .models import randomize


@pytest.fixture(scope="session")
def valid_model(keras, tmp_path_factory):
    """A small LSTM + Dense model saved as .keras; returns (keras model, path)."""
    path = tmp_path_factory.mktemp("valid") / "valid.keras"
    m = keras.Sequential([keras.Input((None, 3)), keras.layers.LSTM(4, return_sequences=True, name="lstm"),
                          keras.layers.Dense(2, name="dense")], name="valid")
    randomize(m, seed=5)
    m.save(path)
    return m, path


@pytest.fixture(scope="session")
def valid_layers_model(keras, tmp_path_factory):
    """The layers around RNNs (causal Conv1D, LayerNormalization, pooling, BatchNormalization) in one
    .keras file; returns (keras model, path)."""
    path = tmp_path_factory.mktemp("valid") / "layers.keras"
    m = keras.Sequential([keras.Input((None, 3)), keras.layers.Conv1D(4, 3, padding="causal", name="conv"),
                          keras.layers.LayerNormalization(name="norm"),
                          keras.layers.LSTM(4, return_sequences=True, name="lstm"),
                          keras.layers.MaxPooling1D(2, name="pool"), keras.layers.Dense(3, name="dense"),
                          keras.layers.BatchNormalization(name="bn"), keras.layers.ReLU(name="relu")],
                         name="layers")
    randomize(m, seed=6)
    bn = m.get_layer("bn")  # statistics a BatchNormalization can have (a positive variance)
    bn.set_weights([np.full(3, 1.5, np.float32), np.full(3, 0.2, np.float32), np.full(3, -0.1, np.float32),
                    np.full(3, 2.0, np.float32)])
    m.save(path)
    return m, path


NAME = "probe"  # every file is converted under one C prefix, so headers compare code to code


def outcome_is_clean(path, out_dir):
    """Convert `path` through the command line (in this process); return ('error', the one stderr line)
    for exit 2, or ('ok', header text) for exit 0. Anything else fails: an exception escaping main()
    (a traceback), another exit code, more than one line on stderr, or a partial output after an error."""
    rc, _, err = run_cli("convert", path, "-o", out_dir, "--name", NAME)
    if rc == 2:
        line = assert_one_line_error(rc, err)
        assert not out_dir.exists() or not any(out_dir.iterdir()), f"{path}: partial output after an error"
        return "error", line[len("kerasc: error: "):]
    assert rc == 0, f"{path}: exit {rc}: {err}"
    return "ok", (out_dir / f"{NAME}.h").read_text()


def same_computation_or_verified(path, header, reference_header, x):
    """A converted mutant must compute exactly the original model, or verify against Keras itself."""
    import kerasc

    if _code(header) == _code(reference_header):  # names only appear in comments
        return "same"
    report = kerasc.verify(path, x=x)
    assert report.ok, f"{path}: converted, but disagrees with Keras:\n{report.table()}"
    return "verified"


def _code(header: str) -> str:
    """The C code of a header without its comments: equal code computes equally."""
    return re.sub(r"/\*.*?\*/", "", header, flags=re.S)


def finite_inputs(seed=0, T=5):
    return np.random.default_rng(seed).standard_normal((2, T, 3)).astype(np.float32)


@pytest.fixture(scope="session")
def valid_h5_model(valid_model, tmp_path_factory):
    """The valid model saved as a whole-model HDF5 file (the layout Keras 2 writes, read by load_h5)."""
    model, _ = valid_model
    path = tmp_path_factory.mktemp("valid") / "valid.h5"
    model.save(path)
    return model, path


def run_cli(*args):
    """kerasc's command line in this process: (exit code, stdout, stderr). An exception escaping main()
    (a traceback for the user) fails the test."""
    import contextlib
    import io
    import warnings

    from kerasc import cli

    out, err = io.StringIO(), io.StringIO()
    shown = warnings.showwarning
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = cli.main([str(a) for a in args])
            except SystemExit as exc:  # argparse
                rc = exc.code
    finally:
        warnings.showwarning = shown
    return rc, out.getvalue(), err.getvalue()


def assert_one_line_error(rc, err, *needles):
    """Exit 2, exactly one line on stderr, `kerasc: error: ...` holding every needle, nothing unprintable."""
    assert rc == 2, f"exit {rc}, stderr {err!r}"
    lines = err.splitlines()
    assert len(lines) == 1 and err.endswith("\n") and err.count("\n") == 1, f"not one line: {err!r}"
    assert lines[0].startswith("kerasc: error: "), err
    assert all(ch.isprintable() for ch in lines[0]), f"unprintable characters in {err!r}"
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {err!r}"
    return lines[0]
