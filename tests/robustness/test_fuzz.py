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
from robust import (NAME, finite_inputs, outcome_is_clean, same_computation_or_verified, valid_layers_model,  # noqa: F401
                    valid_model)

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
    status, text = outcome_is_clean(mutant, out / "c")
    if status == "error":
        assert "Traceback" not in text and text.strip(), text
        _Tally.counts["error"] += 1
        return
    reference = kerasc.convert(src, out / "ref", name=NAME)[0].read_text()
    _Tally.counts[same_computation_or_verified(mutant, text, reference, finite_inputs())] += 1


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
    status, text = outcome_is_clean(mutant, out / "c")
    if status == "error":
        _Tally.counts["error"] += 1
        return
    reference = kerasc.convert(src, out / "ref", name=NAME)[0].read_text()
    _Tally.counts[same_computation_or_verified(mutant, text, reference, finite_inputs())] += 1


def test_fuzz_counts(record_property):
    """Runs after the two fuzzers in this module: report what they saw (printed by the suite)."""
    total = sum(_Tally.counts.values())
    if total == 0:
        pytest.skip("the fuzz tests did not run in this process (selected alone); nothing to count")
    for key, value in _Tally.counts.items():
        record_property(f"robustness.fuzz_{key}", value)
    assert _Tally.counts["error"] > 0
