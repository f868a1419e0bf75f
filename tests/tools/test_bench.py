"""Smoke test of `kerasc bench` (tiny repetitions): it builds and runs the C timing program and
prints its tables. Benchmarks are not tests: no timing is asserted here."""

import re

import pytest
from tests.support.env import ON_CI, require_tool
from tests.support.models import randomize

# A time as the tables print it, whatever the machine's speed: "4.78 µs", or two significant digits
# below a tenth of a microsecond ("0.088 µs", "0.0032 µs", "5e-05 µs"). Never "n/a".
TIME = r"\d+(?:\.\d+)?(?:e-\d+)? µs"


def _require_eigen():
    """gcc and the Eigen yardstick's headers and C++ compiler, or a skip that says why (a failure under CI)."""
    from kerasc import bench

    require_tool("gcc")
    src, _, why = bench.find_eigen()
    if src is None:
        if ON_CI:
            pytest.fail(why + "; CI must have it (make deps installs libeigen3-dev)")
        pytest.skip(why)


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
    assert re.search(rf"\| {TIME} \|", row), row  # the kerasc column is filled in
    seq_row = [line for line in out.splitlines() if line.startswith("| tiny.keras |")][-1]
    errs = re.findall(r"\d\.\de-\d\d", seq_row)
    assert errs and float(errs[0]) < 1e-5, seq_row  # the timed C computed what Keras computes
    # the memory-floor table: weight bytes ((3 + 8) * 32 + 32 floats), read floor, step, step / floor
    floor = next(line for line in out.splitlines() if line.startswith("| tiny.keras | 1,536 |"))
    assert re.search(rf"^\| tiny.keras \| 1,536 \| {TIME} \| {TIME} \| \d+\.\d\dx \|", floor), floor
    assert "| 0.00 µs |" not in floor, floor  # a floor of a few ns keeps its digits
    if bench.find_ref() is not None:  # the yardstick sits beside the repository (as on CI)
        assert re.search(r"\| \d+\.\d\dx \|", row), row


def test_bench_eigen_yardstick_computes_what_keras_computes(keras, tmp_path):
    """The hand-optimised C++/Eigen step (bench_c/eigen_rnn.cpp) is timed beside the generated C, in
    the same rounds, for LSTM and GRU(reset_after); its last h is checked against Keras, so the
    yardstick is honest."""
    from kerasc import bench

    _require_eigen()
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
    assert re.search(rf"\| {TIME} \|", rows[0]), out
    assert "Keras step timings skipped" not in out, out
    errs = re.findall(r"\d\.\de-\d\d", rows[-1])
    assert errs and float(errs[0]) < 1e-5, rows[-1]


def test_bench_rejects_bad_timesteps(tmp_path, capsys):
    from kerasc.cli import main

    assert main(["bench", str(tmp_path / "missing.keras"), "--timesteps", "0"]) == 2
    assert "--timesteps" in capsys.readouterr().err


def test_bench_goes_on_when_the_eigen_yardstick_does_not_build(keras, tmp_path, monkeypatch):
    """A C++ compiler that cannot build bench_c/eigen_rnn.cpp costs the Eigen column, with a note
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


def test_eigen_build_cache_covers_the_source_compiler_and_headers(tmp_path, monkeypatch):
    """build_eigen keeps one binary per flag set in the work directory; a changed source, Eigen include
    directory or C++ compiler must build again, never reuse the stale binary."""
    from kerasc import bench
    from kerasc.errors import ConversionError

    cxx = require_tool("g++")
    monkeypatch.setenv("CXX", cxx)
    good, bad = tmp_path / "good", tmp_path / "bad"
    for d, body in ((good, "#define KC_FAKE_EIGEN 1\n"), (bad, "#error headers changed\n")):
        (d / "Eigen").mkdir(parents=True)
        (d / "Eigen" / "Dense").write_text(body)
    src = tmp_path / "eigen_rnn.cpp"
    src.write_text("#include <Eigen/Dense>\nint main() { return KC_FAKE_EIGEN - 1; }\n")
    work = tmp_path / "work"
    work.mkdir()
    first = bench.build_eigen(src, good, work, ["-O2"])
    assert first.is_file()
    with pytest.raises(ConversionError, match="headers changed"):
        bench.build_eigen(src, bad, work, ["-O2"])
    src.write_text("#error source changed\n")
    with pytest.raises(ConversionError, match="source changed"):
        bench.build_eigen(src, good, work, ["-O2"])
    src.write_text("#include <Eigen/Dense>\nint main() { return KC_FAKE_EIGEN - 1; }\n")
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-c++"))
    with pytest.raises(ConversionError):
        bench.build_eigen(src, good, work, ["-O2"])


def test_bench_refuses_models_with_several_inputs_or_outputs(keras, tmp_path, capsys):
    """The timing program feeds one input and reads one output: a return_state model or one with
    initial-state inputs is refused with a message naming them, not a compiler or Keras traceback."""
    from kerasc.cli import main

    L = keras.layers
    i = keras.Input((None, 3))
    seq, h, c = L.LSTM(4, return_state=True)(i)
    two_out = keras.Model(i, [seq, c])
    h0, c0 = keras.Input((4,)), keras.Input((4,))
    three_in = keras.Model([i, h0, c0], L.LSTM(4)(i, initial_state=[h0, c0]))
    for label, m in (("two_out", two_out), ("three_in", three_in)):
        randomize(m, seed=11)
        path = tmp_path / f"{label}.keras"
        m.save(path)
        assert main(["bench", str(path), "--quick", "--no-ref"]) == 2, label
        err = capsys.readouterr().err
        assert "one input and one output" in err and "building the benchmark failed" not in err, err


def test_bench_without_keras_says_why_the_yardsticks_are_skipped(keras, tmp_path):
    """--no-keras: the yardsticks read the Keras weights, so they are skipped; the note must name
    --no-keras, not claim that TensorFlow is missing (it is installed here)."""
    from kerasc import bench

    require_tool("gcc")
    m = keras.Sequential([keras.Input((None, 3)), keras.layers.LSTM(4)])
    randomize(m, seed=12)
    s = bench.Settings.quick()
    s.keras = False
    s.flag_sets = {"-O2": ["-O2"]}
    rows, _ = bench.run([("lstm", m)], s, work=tmp_path)
    assert rows[0].kc_step["-O2"] and rows[0].ref_step["-O2"] is None, rows[0]
    assert any("--no-keras" in n for n in rows[0].notes), rows[0].notes
    assert not any("TensorFlow not installed" in n for n in rows[0].notes), rows[0].notes


def test_bench_stateful_model_with_fixed_batch_and_timesteps(keras, tmp_path):
    """A stateful model built for batch 1 and T=7: Keras cannot predict a batch of several sequences
    with it (the throughput column says so in a note instead of the run failing), and the tables name
    the T the model fixes, not the --timesteps default."""
    from kerasc import bench

    require_tool("gcc")
    m = keras.Sequential([keras.Input(batch_shape=(1, 7, 3)), keras.layers.GRU(4, stateful=True)])
    randomize(m, seed=13)
    s = bench.Settings.quick()
    s.flag_sets = {"-O2": ["-O2"]}
    rows, text = bench.run([("stateful", m)], s, ref=False, work=tmp_path)
    r = rows[0]
    assert r.kc_step["-O2"] and r.kc_err is not None and r.kc_err < 1e-5, r
    assert "kerasc" in r.throughput and any("throughput" in n for n in r.notes), r.notes
    assert "T=7" in text, text


def test_stream_bound_reports_fractions_of_a_nanosecond(tmp_path):
    """The memory floor of a small model is a few ns: stream_bound must not round it to whole ns
    (step / floor would be off by up to half)."""
    from kerasc import bench

    require_tool("gcc")
    exe = bench.build_floor(tmp_path)
    assert exe is not None
    out = __import__("subprocess").run([str(exe), "0.25"], capture_output=True, text=True, check=True).stdout
    assert re.search(r"\d\.\d ns per pass", out), out


def test_bench_without_a_c_compiler_is_a_conversion_error(keras, tmp_path, monkeypatch):
    """$CC naming no program: a ConversionError naming the command (the CLI prints it), not a traceback."""
    from kerasc import bench
    from kerasc.errors import ConversionError

    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    m = keras.Sequential([keras.Input((None, 3)), keras.layers.GRU(4)])
    s = bench.Settings.quick()
    s.keras = False
    s.flag_sets = {"-O2": ["-O2"]}
    with pytest.raises(ConversionError, match="no-such-cc"):
        bench.run([("gru", m)], s, ref=False, work=tmp_path)


def test_bench_checks_the_eigen_step_of_a_later_build_against_keras(keras, tmp_path):
    """When Eigen does not build with the first flag set but does with a later one, the Eigen time shown
    must still be checked against Keras (its error column filled)."""
    from kerasc import bench

    _require_eigen()
    m = keras.Sequential([keras.Input((None, 3)), keras.layers.GRU(4)])
    randomize(m, seed=14)
    s = bench.Settings.quick()
    # a macro that only C++ notices: the C builds are unchanged, Eigen does not compile
    s.flag_sets = {"-O2 -Dtemplate=x": ["-O2", "-Dtemplate=x"], "-O2": ["-O2"]}
    rows, _ = bench.run([("gru", m)], s, work=tmp_path)
    r = rows[0]
    assert r.eigen_step["-O2 -Dtemplate=x"] is None and r.eigen_step["-O2"], r.eigen_step
    assert r.eigen_err is not None and r.eigen_err < 1e-5, r
    # the note quotes the compiler's error, not the last line of its diagnostic (a caret or a context line)
    note = next(n for n in r.notes if n.startswith("Eigen yardstick not built with -O2 -Dtemplate=x"))
    assert "error" in note, note


def test_times_below_a_tenth_of_a_microsecond_keep_two_digits():
    """A small model's memory floor (or step) of a few ns must not print as 0.00 µs next to a ratio
    computed from the real value."""
    from kerasc import bench

    assert bench.us_text(3.2) == "0.0032 µs" and bench.us_text(86.6) == "0.087 µs"
    assert bench.us_text(4780.0) == "4.78 µs" and bench.us_text(None) == "n/a"


def test_the_time_pattern_of_these_tests_holds_on_any_machine_speed():
    """The table tests above must pass on a machine 3x (or 100x) faster or slower than today's: every
    time `_us` can print, from a fraction of a ns to seconds, is matched by TIME."""
    from kerasc import bench

    for ns in (0.05, 0.3, 3.2, 29.0, 86.6, 88.0, 99.99, 100.0, 263.0, 4780.0, 1.5e6, 3e9):
        assert re.fullmatch(TIME, bench.us_text(ns)), (ns, bench.us_text(ns))
