"""Smoke test of `kerasc bench` (tiny repetitions): it builds and runs the C timing program and
prints its tables. Benchmarks are not tests: no timing is asserted here."""

import re

from conftest import require_tool
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
    assert "| model | MACs/step | kerasc step -O3 -march=native |" in out
    row = next(line for line in out.splitlines() if line.startswith("| tiny.keras | 352 |"))
    assert re.search(r"\| \d+\.\d\d µs \|", row), row  # the kerasc column is filled in
    seq_row = [line for line in out.splitlines() if line.startswith("| tiny.keras |")][-1]
    errs = re.findall(r"\d\.\de-\d\d", seq_row)
    assert errs and float(errs[0]) < 1e-5, seq_row  # the timed C computed what Keras computes
    if bench.find_ref() is not None:  # the yardstick sits beside the repository (as on CI)
        assert re.search(r"\| \d+\.\d\dx \|", row), row


def test_bench_times_a_token_model(keras, tmp_path, capsys):
    """Embedding on token ids: the timing program reads int32 tokens, Keras' step model takes (1, 1) ids,
    and the timed C computes what Keras computes on the same tokens."""
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
    assert len(rows) == 2 and re.search(r"\| \d+\.\d\d µs \|", rows[0]), out
    assert "Keras step timings skipped" not in out, out
    errs = re.findall(r"\d\.\de-\d\d", rows[-1])
    assert errs and float(errs[0]) < 1e-5, rows[-1]


def test_bench_rejects_bad_timesteps(tmp_path, capsys):
    from kerasc.cli import main

    assert main(["bench", str(tmp_path / "missing.keras"), "--timesteps", "0"]) == 2
    assert "--timesteps" in capsys.readouterr().err
