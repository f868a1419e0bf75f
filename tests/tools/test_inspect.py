"""kerasc inspect: every layer with shapes, options, sizes, streaming and a status; unsupported layers
are listed with the reason convert gives, and convert still refuses. Works without TensorFlow."""

import json

import pytest

from tests.support.env import DEMO
from tests.support.programs import kerasc

from kerasc.layers import DOCS, supported_layers


@pytest.fixture(scope="module")
def mixed(keras, tmp_path_factory):
    """Supported layers between three unsupported ones, a training-only option and a go_backwards layer."""
    m = keras.Sequential([keras.Input((None, 3)), keras.layers.Conv1DTranspose(4, 3, name="conv"),
                          keras.layers.LSTM(8, return_sequences=True, dropout=0.2, name="lstm"),
                          keras.layers.UnitNormalization(name="norm"),
                          keras.layers.GRU(5, go_backwards=True, name="gru"),
                          keras.layers.GroupNormalization(groups=1, name="bn"),
                          keras.layers.Dense(2, name="out")], name="mixed")
    path = tmp_path_factory.mktemp("inspect") / "mixed.keras"
    m.save(path)
    return path


@pytest.fixture(scope="module")
def branched(keras, tmp_path_factory):
    i = keras.Input((7, 3))
    a = keras.layers.LSTM(4, return_sequences=True, name="a")(i)
    b = keras.layers.GRU(4, return_sequences=True, name="b")(i)
    o = keras.layers.Dense(1, name="d")(keras.layers.Add(name="add")([a, b]))
    path = tmp_path_factory.mktemp("inspect") / "branched.keras"
    keras.Model(i, o, name="branched").save(path)
    return path


@pytest.fixture(scope="module")
def shared(keras, tmp_path_factory):
    i = keras.Input((7, 3))
    rnn = keras.layers.LSTM(4, return_sequences=True, name="a")
    d = keras.layers.Dense(3, name="d")(i)
    o = keras.layers.Dense(1, name="out")(keras.layers.Add(name="add")([rnn(i), rnn(d)]))
    path = tmp_path_factory.mktemp("inspect") / "shared.keras"
    keras.Model(i, o, name="shared").save(path)
    return path


@pytest.fixture(scope="module")
def bidi(keras, tmp_path_factory):
    L = keras.layers
    m = keras.Sequential([keras.Input((None, 3)), L.Bidirectional(L.GRU(3, return_sequences=True), name="bi"),
                          L.Dense(2, name="out")], name="bidi")
    path = tmp_path_factory.mktemp("inspect") / "bidi.keras"
    m.save(path)
    return path


def test_demo_table():
    r = kerasc("inspect", DEMO, no_tf=True)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    head = next(line for line in lines if line.startswith("#"))
    assert head.split() == ["#", "layer", "class", "input", "output", "params", "flash", "B", "RAM", "B", "stream",
                            "status", "options"]
    gru = next(line for line in lines if "gru_features" in line).split()
    assert gru[:10] == ["0", "gru_features", "GRU", "(T,", "3)", "(T,", "24)", "2088", "8352", "96"]
    assert gru[10:] == ["yes", "ok", "activation=tanh", "recurrent_activation=sigmoid", "return_sequences=True"]
    assert "total: 4780 parameters; flash 19120 bytes" in r.stdout and "streaming (activity_step): yes" in r.stdout


def test_every_layer_listed_with_why_it_is_unsupported(mixed):
    r = kerasc("inspect", mixed, no_tf=True)
    assert r.returncode == 2, r.stdout + r.stderr
    rows = {line.split()[1]: line for line in r.stdout.splitlines() if line[:1].isdigit()}
    assert list(rows) == ["conv", "lstm", "norm", "gru", "bn", "out"]
    assert "NO [1]" in rows["conv"] and "NO [2]" in rows["norm"] and "NO [3]" in rows["bn"]
    for name in ("lstm", "gru", "out"):
        assert " ok " in rows[name], rows[name]
    assert "go_backwards=True" in rows["gru"] and rows["gru"].split()[8] == "no"  # cannot stream
    assert "1664" in rows["lstm"]  # flash bytes: its kernel width (4) was read from its weights
    assert "[1] layer 'conv' (Conv1DTranspose) is not supported; supported layers: LSTM" in r.stdout
    assert "[3] layer 'bn' (GroupNormalization) is not supported" in r.stdout
    assert "cannot convert: 3 problems" in r.stdout
    # stderr: the one line convert prints, and convert still refuses
    keras2 = [c for c in supported_layers() if c in DOCS and DOCS[c].keras2_only]
    keras3 = [c for c in supported_layers() if c not in keras2]
    assert keras3[:5] == ["LSTM", "GRU", "SimpleRNN", "RNN", "Dense"] and "InputLayer" in keras3
    assert r.stderr.strip().splitlines() == [f"kerasc: error: {mixed}: layer 'conv' (Conv1DTranspose) is not "
                                             f"supported; supported layers: {', '.join(keras3)} "
                                             f"(and from Keras 2 files: {', '.join(keras2)}); a layer class of "
                                             "your own can be added with a plugin (kerasc.extend, docs/extending.md)"]
    c = kerasc("convert", mixed, "-o", mixed.parent / "out", no_tf=True)
    assert c.returncode == 2 and c.stderr == r.stderr


def test_json_lists_statuses(mixed):
    r = kerasc("inspect", mixed, "--json", no_tf=True)
    assert r.returncode == 2
    info = json.loads(r.stdout)
    assert info["convertible"] is False and len(info["problems"]) == 3
    assert info["params"] is None and info["flash_bytes"] is None
    status = {layer["name"]: layer["status"] for layer in info["layers"]}
    assert status["lstm"] == status["gru"] == status["out"] == "ok"
    assert "(UnitNormalization) is not supported" in status["norm"]
    lstm = next(layer for layer in info["layers"] if layer["name"] == "lstm")
    assert lstm["options"] == {"activation": "tanh", "recurrent_activation": "sigmoid", "return_sequences": True}
    assert lstm["ignored_options"] == ["dropout=0.2"] and lstm["streaming"] is True
    norm = next(layer for layer in info["layers"] if layer["name"] == "norm")
    assert norm["flash_bytes"] is None and norm["streaming"] is None and norm["output"] == "?"


def test_json_of_a_convertible_model_keeps_its_keys():
    info = json.loads(kerasc("inspect", DEMO, "--json", no_tf=True).stdout)
    for key in ("name", "source", "keras_version", "input", "output", "params", "flash_bytes", "ram_bytes",
                "scratch_bytes", "streaming", "streaming_note", "layers"):
        assert key in info
    assert info["convertible"] is True and info["problems"] == []
    assert [layer["status"] for layer in info["layers"]] == ["ok", "ok", "ok"]
    assert info["flash_bytes"] == sum(layer["flash_bytes"] for layer in info["layers"])


def test_a_graph_that_is_not_a_chain(branched):
    """Branches joined by Add convert: one row per Keras layer, in graph order, with the merge's two inputs."""
    r = kerasc("inspect", branched, no_tf=True)
    assert r.returncode == 0, r.stdout + r.stderr
    rows = {line.split()[1]: line for line in r.stdout.splitlines() if line[:1].isdigit()}
    assert list(rows) == ["a", "b", "add", "d"]
    assert all(" ok " in row + " " for row in rows.values())  # the status column (add has no options after it)
    assert "[(7, 4), (7, 4)]" in rows["add"] and "streaming (branched_step): yes" in r.stdout


def test_a_shared_layer_is_listed_with_why(shared):
    """A layer called twice is refused by convert: its row gets convert's error, the other layers are checked."""
    r = kerasc("inspect", shared, no_tf=True)
    assert r.returncode == 2, r.stdout + r.stderr
    rows = {line.split()[1]: line for line in r.stdout.splitlines() if line[:1].isdigit()}
    assert list(rows) == ["d", "a", "add", "out"]
    assert " ok " in rows["d"] and " ok " in rows["add"] + " " and " ok " in rows["out"]
    assert "NO [1]" in rows["a"]
    assert rows["add"].split()[3:5] == ["?", "?"]  # its inputs come from the refused layer: width unknown
    assert "[1] layer 'a' (LSTM) is called 2 times; supported: each layer called once" in r.stdout
    assert "cannot convert: 1 problem listed above" in r.stdout
    assert r.stderr.strip().splitlines() == [f"kerasc: error: {shared}: layer 'a' (LSTM) is called 2 times; "
                                             "supported: each layer called once (shared layers are not supported)"]
    c = kerasc("convert", shared, "-o", shared.parent / "out", no_tf=True)
    assert c.returncode == 2 and c.stderr == r.stderr


def test_bidirectional_is_one_row_with_the_work_buffer(bidi):
    r = kerasc("inspect", bidi, "--json", no_tf=True)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert [layer["name"] for layer in info["layers"]] == ["bi", "out"]
    bi = info["layers"][0]
    assert bi["class"] == "Bidirectional" and bi["streaming"] is False and bi["output"] == "(T, 6)"
    assert bi["options"]["layer"] == "GRU" and bi["params"] == 2 * (3 * (3 * 3 + 3 * 3 + 2 * 3))
    assert info["flash_bytes"] == sum(layer["flash_bytes"] for layer in info["layers"])
    assert info["streaming"] is False and "reads the sequence backwards" in info["streaming_note"]
    assert info["work_bytes_per_timestep"] > 0 and info["stateful"] is False


def test_unreadable_file_is_one_line(tmp_path):
    bad = tmp_path / "x.keras"
    bad.write_text("not a model")
    r = kerasc("inspect", bad, no_tf=True)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip() == f"kerasc: error: {bad}: not a Keras model file (expected a .keras zip archive or an " \
                               "HDF5 .h5 model)"


def test_summary_never_states_a_shape_it_did_not_compute(keras, tmp_path):
    """LSTM(4) with a NaN in its kernel cannot be lowered: the summary must not guess that the Dense
    after it outputs (5, 2) (its output is (2,)); unknown shapes print as ?."""
    import numpy as np

    m = keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(4, name="lstm"), keras.layers.Dense(2, name="d")],
                         name="nanlstm")
    w = m.get_weights()
    w[0][0, 0] = np.nan
    m.set_weights(w)
    path = tmp_path / "nanlstm.keras"
    m.save(path)
    r = kerasc("inspect", path)
    assert r.returncode != 0 or "not convertible" in r.stdout.lower() or "NaN" in r.stdout, r.stdout + r.stderr
    assert "input (5, 3) -> output ?" in r.stdout, r.stdout
    assert "(5, 2)" not in r.stdout, r.stdout
    assert "gate i (input), unit 0" in r.stdout, r.stdout  # the refusal says where the NaN is
    d = json.loads(kerasc("inspect", "--json", path).stdout)
    assert d["output"] == "?" and d["layers"][1]["output"] == "?", d


def test_stack_is_what_the_compiler_reports(tmp_path):
    """inspect's stack figure for the demo step is the sum of the frames arm-none-eabi-gcc writes in its
    -fstack-usage (.su) file along the deepest call path of its call graph (-fcallgraph-info): compiled
    here independently, the same path's .su frames add up to inspect's figure, and the step's own frame
    and the product kernel's are on it."""
    import re
    import subprocess

    from tests.support.env import require_tool

    from kerasc import stack

    cc = require_tool("arm-none-eabi-gcc")
    info = json.loads(kerasc("inspect", DEMO, "--json", no_tf=True).stdout)["stack"]
    assert info is not None and info["target"] == "cortex-m4f"
    step = info["entry_points"]["activity_step"]
    kerasc("convert", DEMO, "-o", tmp_path, no_tf=True)
    (tmp_path / "unit.c").write_text('#define ACTIVITY_IMPLEMENTATION\n#include "activity.h"\n')
    subprocess.run([cc, *info["flags"], "-fstack-usage", "-c", "unit.c", "-o", "unit.o"], cwd=tmp_path, check=True)
    su = {m[0]: int(m[1]) for m in re.findall(r"^[^\t]*:\d+:\d+:(\w+)\t(\d+)\t", (tmp_path / "unit.su").read_text(),
                                             re.M)}
    path = [name for name, _ in step["path"]]
    assert path[0] == "activity_step" and any(n.startswith("kc_preact") for n in path), path
    assert [size for _, size in step["path"]] == [su[n] for n in path]
    assert step["bytes"] == sum(su[n] for n in path) and step["bounded"]
    text = kerasc("inspect", DEMO, no_tf=True).stdout
    assert f"activity_step {step['bytes']} bytes" in text
    assert stack.describe_peak(stack.Peak("x", 1, (("x", 1),), (), True)) == "x 1 bytes (x 1)"
