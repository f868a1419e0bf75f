"""Fuzzing: hypothesis mutates a valid model's config (values of every type in every field, deleted
keys) and its bytes. Every outcome is a clean ConversionError, or a header that compiles and agrees
with Keras on that very file. Bounded here (KERASC_FUZZ_EXAMPLES, default 60); run longer with
    KERASC_FUZZ_EXAMPLES=5000 .venv/bin/python -m pytest tests/robustness/test_fuzz.py"""

import json
import os
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kerasc
from kerasc.ir import c_float
from tests.support.robust import NAME, finite_inputs, outcome_is_clean, same_computation_or_verified

EXAMPLES = int(os.environ.get("KERASC_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 10 ** 12) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12) | st.sampled_from(["tanh", "relu", "softmax", "sigmoid", "linear", "threshold", "glu"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=6)


def _paths(node, prefix=()):
    """Every path into a JSON document."""
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


def _write(src, dst, config_bytes):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.namelist():
            zout.writestr(item, config_bytes if item == "config.json" else zin.read(item))


class _Tally:
    counts = {"error": 0, "same": 0, "verified": 0}


def _judge(src, mutant, out, forbidden=None):
    """Tally one mutant of `src`: a clean one-line error, or a header computing what the original's
    computes; `forbidden`, text that must never reach the header (data from outside the model file)."""
    status, text = outcome_is_clean(mutant, out / "c")
    if status == "error":
        assert "Traceback" not in text and text.strip(), text
        _Tally.counts["error"] += 1
        return
    if forbidden is not None:
        assert forbidden not in text, "data from outside the model file reached the header"
    reference = kerasc.convert(src, out / "ref", name=NAME)[0].read_text()
    _Tally.counts[same_computation_or_verified(mutant, text, reference, finite_inputs())] += 1


def _config_fuzz(src, tmp_path_factory, data):
    with zipfile.ZipFile(src) as z:
        cfg = json.loads(z.read("config.json"))
    paths = [p for p in _paths(cfg) if p]
    path = data.draw(st.sampled_from(paths), label="path")
    parent = cfg
    for key in path[:-1]:
        parent = parent[key]
    if data.draw(st.booleans(), label="delete") and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = data.draw(json_values, label="value")
    out = tmp_path_factory.mktemp("fuzz")
    mutant = out / "mutant.keras"
    _write(src, mutant, json.dumps(cfg).encode())
    _judge(src, mutant, out)


@FUZZ
@given(data=st.data())
def test_config_fuzz(valid_model, tmp_path_factory, data):
    _config_fuzz(valid_model[1], tmp_path_factory, data)


@settings(FUZZ, max_examples=max(1, EXAMPLES // 2))
@given(data=st.data())
def test_config_fuzz_layers_around_rnns(valid_layers_model, tmp_path_factory, data):
    """The same on Conv1D, LayerNormalization, MaxPooling1D, BatchNormalization (folded) and ReLU."""
    _config_fuzz(valid_layers_model[1], tmp_path_factory, data)


@FUZZ
@given(cuts=st.lists(st.tuples(st.integers(0, 10 ** 6), st.integers(1, 255)), min_size=1, max_size=4))
def test_byte_fuzz(valid_model, tmp_path_factory, cuts):
    model, src = valid_model
    blob = bytearray(src.read_bytes())
    for pos, xor in cuts:
        blob[pos % len(blob)] ^= xor
    out = tmp_path_factory.mktemp("bytes")
    mutant = out / "mutant.keras"
    mutant.write_bytes(bytes(blob))
    _judge(src, mutant, out)


def test_fuzz_counts(record_property):
    """Runs after the two fuzzers in this module: report what they saw (printed by the suite)."""
    total = sum(_Tally.counts.values())
    if total == 0:
        pytest.skip("the fuzz tests did not run in this process (selected alone); nothing to count")
    for key, value in _Tally.counts.items():
        record_property(f"robustness.fuzz_{key}", value)
    assert _Tally.counts["error"] > 0


# ---------------------------------------------------------------------------- structure, not only values

def _json_nodes(node, prefix=()):
    """(path, value) of every list and dict in a JSON document."""
    if isinstance(node, (dict, list)):
        yield prefix, node
        for k, v in (node.items() if isinstance(node, dict) else enumerate(node)):
            yield from _json_nodes(v, prefix + (k,))


def _get(doc, path):
    for key in path:
        doc = doc[key]
    return doc


@FUZZ
@given(data=st.data())
def test_config_structure_fuzz(valid_model, tmp_path_factory, data):
    """Structural mutations of config.json: move a subtree elsewhere, duplicate or swap list entries,
    replace a dict by its values, wrap a subtree in deep nesting (up to past MAX_JSON_DEPTH)."""
    src = valid_model[1]
    with zipfile.ZipFile(src) as z:
        cfg = json.loads(z.read("config.json"))
    nodes = [p for p, _ in _json_nodes(cfg) if p]
    path = data.draw(st.sampled_from(nodes), label="path")
    parent, key, value = _get(cfg, path[:-1]), path[-1], _get(cfg, path)
    op = data.draw(st.sampled_from(["move", "duplicate", "swap", "values", "nest"]), label="op")
    if op == "move":
        target = data.draw(st.sampled_from([p for p, n in _json_nodes(cfg) if isinstance(n, dict)
                                            and p[:len(path)] != path]), label="to")  # not into itself
        dest = _get(cfg, target)
        if dest is not value:
            dest[data.draw(st.sampled_from(["layers", "config", "name", "inbound_nodes", "cell", "layer"]))] = value
    elif op in ("duplicate", "swap") and isinstance(value, list) and value:
        i, j = (data.draw(st.integers(0, len(value) - 1)) for _ in range(2))
        if op == "duplicate":
            value.insert(j, json.loads(json.dumps(value[i])))
        else:
            value[i], value[j] = value[j], value[i]
    elif op == "values" and isinstance(value, dict):
        parent[key] = list(value.values())
    elif op != "nest":
        op = "nest"
    deep = None
    if op == "nest":  # written as text: json.dumps itself would recurse too deep
        depth = data.draw(st.sampled_from([2, 20, 99, 101, 3000]), label="depth")
        lists = data.draw(st.booleans(), label="lists")
        head, tail = ("[", "]") if lists else ('{"config": ', "}")
        deep = head * depth + json.dumps(value) + tail * depth
        parent[key] = "@@DEEP@@"
    out = tmp_path_factory.mktemp("sfuzz")
    mutant = out / "mutant.keras"
    text_cfg = json.dumps(cfg)
    _write(src, mutant, (text_cfg.replace('"@@DEEP@@"', deep) if deep else text_cfg).encode())
    _judge(src, mutant, out)


SENTINEL = 1234.5678  # what the host file holds: never in a header (c_float: how a header prints it)


@pytest.fixture(scope="module")
def host_secret(tmp_path_factory):
    import h5py
    import numpy as np

    d = tmp_path_factory.mktemp("host")
    raw = d / "secret.bin"
    raw.write_bytes(np.full(4096, SENTINEL, np.float32).tobytes())
    with h5py.File(d / "secret.h5", "w") as h:
        h["data"] = np.full((64, 64), SENTINEL, np.float32)
    return raw, d / "secret.h5"


def _h5_mutate(h, data, host_secret):
    import h5py
    import numpy as np

    raw, host_h5 = host_secret
    objects = []
    h.visit(objects.append)
    datasets = [o for o in objects if isinstance(h[o], h5py.Dataset)]
    groups = ["/"] + [o for o in objects if isinstance(h[o], h5py.Group)]
    op = data.draw(st.sampled_from(["delete", "move", "hardlink", "cycle", "softlink", "extlink", "external",
                                    "virtual", "dtype", "shape", "group-for-dataset", "name-attr", "lzf"]), label="op")
    if not objects:  # earlier mutations deleted everything: nothing left to mutate
        return op
    obj = data.draw(st.sampled_from(datasets if op in ("external", "virtual", "dtype", "shape", "lzf") and datasets
                                    else objects), label="object")
    where = data.draw(st.sampled_from(groups), label="group")
    new = f"{where.rstrip('/')}/fz{data.draw(st.integers(0, 3))}"
    if new in h:
        del h[new]
    if obj not in h:  # it was below `new`: gone with it
        return op
    if op == "delete":
        del h[obj]
    elif op == "move" and not obj.startswith(new):
        h.move(obj, new)
    elif op == "hardlink":
        h[new] = h[obj]
    elif op == "cycle":
        h[new] = h[where]
    elif op == "softlink":
        h[new] = h5py.SoftLink("/" + obj)
    elif op == "extlink":
        h[new] = h5py.ExternalLink(str(host_h5), "/data")
        if data.draw(st.booleans()):
            del h[obj]
            h[obj] = h5py.ExternalLink(str(host_h5), "/data")
    elif op in ("external", "virtual", "lzf") and obj in datasets:
        shape, dtype = h[obj].shape, h[obj].dtype
        values = h[obj][...]
        del h[obj]
        size = int(np.prod(shape)) if shape else 1
        if op == "external":
            h.create_dataset(obj, shape, dtype, external=[(str(raw), 0, size * dtype.itemsize)])
        elif op == "virtual" and 0 < len(shape) <= 2 and all(0 < n <= 64 for n in shape):
            layout = h5py.VirtualLayout(shape, dtype)
            layout[...] = h5py.VirtualSource(str(host_h5), "data", shape=(64, 64))[tuple(slice(0, n) for n in shape)
                                                                               if len(shape) == 2 else (0, slice(0, shape[0]))]
            h.create_virtual_dataset(obj, layout)
        else:
            h.create_dataset(obj, data=values, compression="lzf" if values.ndim else None)
    elif op == "dtype" and obj in datasets:
        values = h[obj][...]
        del h[obj]
        kind = data.draw(st.sampled_from(["f8", "f2", "i4", "u1", "S3", "bool"]))
        h[obj] = values.astype(kind) if kind != "S3" else np.array([b"abc"] * max(1, values.size))
    elif op == "shape" and obj in datasets:
        values = h[obj][...]
        del h[obj]
        h[obj] = data.draw(st.sampled_from([values.T, values.reshape(-1), values[None], values[..., :1]]))
    elif op == "group-for-dataset":
        if obj in h:
            del h[obj]
        h.create_group(obj)
    elif op == "name-attr":
        group = h[where]
        group.attrs["name"] = data.draw(st.sampled_from(["lstm", "dense", "", "x" * 300, "lstm\nx"]))
    return op


@FUZZ
@given(data=st.data())
def test_h5_structure_fuzz(valid_model, host_secret, tmp_path_factory, data):
    """Structural mutations of model.weights.h5 (moved, deleted, re-linked, re-typed objects, links and
    storage leading outside the file, cycles): a clean error, or the original computation; and never a
    byte of the host file in a header."""
    import io

    import h5py

    src = valid_model[1]
    with zipfile.ZipFile(src) as z:
        blob = z.read("model.weights.h5")
    buf = io.BytesIO(blob)
    with h5py.File(buf, "r+") as h:
        for _ in range(data.draw(st.integers(1, 3), label="mutations")):
            _h5_mutate(h, data, host_secret)
    out = tmp_path_factory.mktemp("hfuzz")
    mutant = out / "mutant.keras"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(mutant, "w") as zout:
        for item in zin.namelist():
            zout.writestr(item, buf.getvalue() if item == "model.weights.h5" else zin.read(item))
    _judge(src, mutant, out, forbidden=c_float(SENTINEL))  # as the header would print it: 1234.56775f
