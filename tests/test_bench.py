"""Smoke test of `kerasc bench` (tiny repetitions): it builds and runs the C timing program and
prints its tables. Benchmarks are not tests: no timing is asserted here."""

import re

import pytest
from conftest import ON_CI, require_tool
from helpers import randomize


def test_bench_cli_prints_tables(keras, tmp_path, capsys):
    from kerasc import bench
    from kerasc.cli import main

    require_tool("gcc")
    model = keras.Sequential([keras.Input((None, 3)), keras.layers.LSTM(8, return_sequences=True)])
    randomize(model, seed=7)
    path = tmp_path / "tiny.keras"
    model.save(path)
    assert main(["bench", str(path), "--quick", "--timesteps", "5"]) == 0
    out = capsys.readouterr().out
    assert f"CPU: {bench.cpu_model()}" in out
    assert "Build `-O3 -march=native`:" in out and "| model | MACs/step | kerasc step |" in out
    row = next(line for line in out.splitlines() if line.startswith("| tiny.keras | 352 |"))
    assert re.search(r"\| \d+\.\d\d µs \|", row), row  # the kerasc column is filled in
    seq_row = [line for line in out.splitlines() if line.startswith("| tiny.keras |")][-1]
    errs = re.findall(r"\d\.\de-\d\d", seq_row)
    assert errs and float(errs[0]) < 1e-5, seq_row  # the timed C computed what Keras computes
    # the memory-floor table: weight bytes ((3 + 8) * 32 + 32 floats), read floor, step, step / floor
    floor = next(line for line in out.splitlines() if line.startswith("| tiny.keras | 1,536 |"))
    assert re.search(r"^\| tiny.keras \| 1,536 \| \d+\.\d\d µs \| \d+\.\d\d µs \| \d+\.\d\dx \|", floor), floor
    if bench.find_ref() is not None:  # the yardstick sits beside the repository (as on CI)
        assert re.search(r"\| \d+\.\d\dx \|", row), row


def test_bench_eigen_yardstick_computes_what_keras_computes(keras, tmp_path):
    """The hand-optimised C++/Eigen step (benchmarks/eigen_rnn.cpp) is timed beside the generated C, in
    the same rounds, for LSTM and GRU(reset_after); its last h is checked against Keras, so the
    yardstick is honest."""
    from kerasc import bench

    require_tool("gcc")
    src, inc, why = bench.find_eigen()
    if src is None:
        if ON_CI:
            pytest.fail(why + "; CI must have it (make deps installs libeigen3-dev)")
        pytest.skip(why)
    models = []
    for layer in (keras.layers.LSTM(6), keras.layers.GRU(5)):
        m = keras.Sequential([keras.Input((None, 4)), layer])
        randomize(m, seed=9)
        models.append((type(layer).__name__, m))
    s = bench.Settings.quick()
    s.keras = True
    s.flag_sets = {"-O2": ["-O2"]}
    rows, text = bench.run(models, s, work=tmp_path)
    assert "| model | MACs/step | kerasc step |" in text and "Eigen (C++) | speed-up vs Eigen |" in text, text
    for r in rows:
        assert r.eigen_step["-O2"] and r.eigen_step["-O2"] > 0, (r.label, r.eigen_step)
        assert r.eigen_err is not None and r.eigen_err < 1e-5, (r.label, r.eigen_err)
        assert r.kc_err is not None and r.kc_err < 1e-5, (r.label, r.kc_err)


def test_bench_times_a_token_model(keras, tmp_path, capsys):
    """Embedding on token ids: the timing program reads int32 tokens, Keras' step model takes (1, 1) ids,
    and the timed C computes what Keras computes on the same tokens."""
    from kerasc import bench
    from kerasc.cli import main

    require_tool("gcc")
    model = keras.Sequential([keras.Input((None,), dtype="int32"), keras.layers.Embedding(40, 6),
                              keras.layers.Conv1D(5, 3, padding="causal"), keras.layers.GRU(7)], name="kws")
    randomize(model, seed=8)
    path = tmp_path / "kws.keras"
    model.save(path)
    assert main(["bench", str(path), "--quick", "--timesteps", "6"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| kws.keras |")]
    # a step row per build, a memory-floor row, then the sequence row
    assert len(rows) == len(bench.FLAG_SETS) + 2, out
    assert re.search(r"\| \d+\.\d\d µs \|", rows[0]), out
    assert "Keras step timings skipped" not in out, out
    errs = re.findall(r"\d\.\de-\d\d", rows[-1])
    assert errs and float(errs[0]) < 1e-5, rows[-1]


def test_bench_rejects_bad_timesteps(tmp_path, capsys):
    from kerasc.cli import main

    assert main(["bench", str(tmp_path / "missing.keras"), "--timesteps", "0"]) == 2
    assert "--timesteps" in capsys.readouterr().err


def test_bench_goes_on_when_the_eigen_yardstick_does_not_build(keras, tmp_path, monkeypatch):
    """A C++ compiler that cannot build benchmarks/eigen_rnn.cpp costs the Eigen column, with a note
    naming the build, not the benchmark."""
    from kerasc import bench

    require_tool("gcc")
    fake_inc = tmp_path / "eigen3"
    (fake_inc / "Eigen").mkdir(parents=True)
    (fake_inc / "Eigen" / "Dense").write_text("#error not a real Eigen\n")
    monkeypatch.setenv("EIGEN_INCLUDE_DIR", str(fake_inc))
    monkeypatch.setenv("CXX", require_tool("g++"))
    m = keras.Sequential([keras.Input((None, 3)), keras.layers.GRU(4)])
    randomize(m, seed=10)
    s = bench.Settings.quick()
    s.flag_sets = {"-O2": ["-O2"]}
    rows, text = bench.run([("gru", m)], s, work=tmp_path / "work")
    assert rows[0].kc_step["-O2"] and rows[0].eigen_step.get("-O2") is None, rows[0]
    assert any(n.startswith("Eigen yardstick not built with -O2") for n in rows[0].notes), rows[0].notes
    assert "Eigen yardstick not built with -O2" in text
