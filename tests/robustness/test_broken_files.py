"""Broken, truncated and mistyped model files: a one-line ConversionError naming the file, and no
partial header; or, when the damage is harmless, exactly the original computation."""

import json
import zipfile

import h5py
import numpy as np
import pytest

from tests.support.robust import NAME, finite_inputs, outcome_is_clean, same_computation_or_verified

import kerasc


def _rewrite(src, dst, member, transform):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.namelist():
            data = zin.read(item)
            if item == member:
                data = transform(data)
            if data is not None:
                zout.writestr(item, data)


def _config_mutation(fn):
    def transform(data):
        cfg = json.loads(data)
        fn(cfg)
        return json.dumps(cfg).encode()
    return transform


def _layer(cfg, i):
    return cfg["config"]["layers"][i]["config"]


CONFIG_MUTATIONS = {
    "units-string": lambda c: _layer(c, 1).__setitem__("units", "four"),
    "units-negative": lambda c: _layer(c, 1).__setitem__("units", -4),
    "units-float": lambda c: _layer(c, 1).__setitem__("units", 4.0),
    "units-bool": lambda c: _layer(c, 1).__setitem__("units", True),
    "units-missing": lambda c: _layer(c, 1).pop("units"),
    "units-huge": lambda c: _layer(c, 1).__setitem__("units", 10 ** 12),
    "activation-int": lambda c: _layer(c, 1).__setitem__("activation", 5),
    "activation-unknown": lambda c: _layer(c, 1).__setitem__("activation", "tanhh"),
    "activation-custom": lambda c: _layer(c, 1).__setitem__(
        "activation", {"module": None, "class_name": "function", "config": "my_act", "registered_name": "my_act"}),
    "flag-string": lambda c: _layer(c, 1).__setitem__("return_sequences", "yes"),
    "flag-int": lambda c: _layer(c, 1).__setitem__("go_backwards", 1),
    "stateful-int": lambda c: _layer(c, 1).__setitem__("stateful", 0),
    "unknown-option": lambda c: _layer(c, 1).__setitem__("peephole", True),
    "class-unknown": lambda c: c["config"]["layers"][1].__setitem__("class_name", "MyFancyLSTM"),
    "class-registered-custom": lambda c: c["config"]["layers"][2].update(class_name="Custom>Dense",
                                                                            registered_name="Custom>Dense"),
    "class-missing": lambda c: c["config"]["layers"][1].pop("class_name"),
    "layer-config-missing": lambda c: c["config"]["layers"][1].pop("config"),
    "layers-not-list": lambda c: c["config"].__setitem__("layers", {"a": 1}),
    "layers-empty": lambda c: c["config"].__setitem__("layers", []),
    "model-class-unknown": lambda c: c.__setitem__("class_name", "MyModel"),
    "config-missing": lambda c: c.pop("config"),
    "batch-shape-none": lambda c: _layer(c, 0).__setitem__("batch_shape", None),
    "batch-shape-rank4": lambda c: _layer(c, 0).__setitem__("batch_shape", [None, None, 3, 1]),
    "batch-shape-zero": lambda c: _layer(c, 0).__setitem__("batch_shape", [None, 5, 0]),
    "batch-shape-string": lambda c: _layer(c, 0).__setitem__("batch_shape", [None, "T", 3]),
    "batch-shape-features-none": lambda c: _layer(c, 0).__setitem__("batch_shape", [None, None, None]),
    "input-dtype-int": lambda c: _layer(c, 0).__setitem__("dtype", "int32"),
    "dtype-policy-f16": lambda c: _layer(c, 1).__setitem__("dtype", "float16"),
    "name-collision": lambda c: _layer(c, 2).__setitem__("name", "lstm"),
    "dense-units-mismatch": lambda c: _layer(c, 2).__setitem__("units", 3),
}

RAW_CONFIGS = {
    "not-json": b"{ this is not json",
    "json-list": b"[1, 2, 3]",
    "json-string": b'"model"',
    "binary": bytes(range(256)),
}


def _weights_mutation(kind):
    def transform(data):
        import io

        buf = io.BytesIO(data)
        with h5py.File(buf, "r+") as h:
            group = h["layers/lstm/cell/vars"]
            if kind == "drop-array":
                del group["1"]
            elif kind == "nan":
                arr = group["0"][...]
                arr[0, 0] = np.nan
                del group["0"]
                group["0"] = arr
            elif kind == "wrong-shape":
                del group["2"]
                group["2"] = np.zeros((7,), np.float32)
            elif kind == "string-array":
                del group["0"]
                group["0"] = np.array([b"abc"])
        return buf.getvalue()
    return transform


WEIGHT_MUTATIONS = ["drop-array", "nan", "wrong-shape", "string-array"]


def _check_error(path, out, kind):
    status, text = outcome_is_clean(path, out)
    assert status == "error", f"{kind}: converted a broken file"
    assert path.name in text, f"{kind}: message does not name the file: {text}"
    assert "\n" not in text.strip(), f"{kind}: not one line: {text}"
    return text


@pytest.mark.parametrize("kind", sorted(CONFIG_MUTATIONS))
def test_config_mutations(valid_model, tmp_path, kind, record_property):
    _, src = valid_model
    path = tmp_path / f"{kind}.keras"
    _rewrite(src, path, "config.json", _config_mutation(CONFIG_MUTATIONS[kind]))
    text = _check_error(path, tmp_path / "out", kind)
    if kind.startswith(("units", "activation", "flag", "stateful", "unknown-option", "class-unknown", "dtype")):
        assert "'lstm'" in text, f"{kind}: message does not name the layer: {text}"
    record_property("robustness.files", 1)


@pytest.mark.parametrize("kind", sorted(RAW_CONFIGS))
def test_unreadable_configs(valid_model, tmp_path, kind, record_property):
    _, src = valid_model
    path = tmp_path / f"{kind}.keras"
    _rewrite(src, path, "config.json", lambda data: RAW_CONFIGS[kind])
    _check_error(path, tmp_path / "out", kind)
    record_property("robustness.files", 1)


@pytest.mark.parametrize("kind", WEIGHT_MUTATIONS)
def test_weight_mutations(valid_model, tmp_path, kind, record_property):
    _, src = valid_model
    path = tmp_path / f"{kind}.keras"
    _rewrite(src, path, "model.weights.h5", _weights_mutation(kind))
    text = _check_error(path, tmp_path / "out", kind)
    assert "'lstm'" in text or "lstm" in text, text
    record_property("robustness.files", 1)


def test_missing_members(valid_model, tmp_path, record_property):
    _, src = valid_model
    for member in ("config.json", "model.weights.h5"):
        path = tmp_path / f"no-{member}.keras"
        _rewrite(src, path, member, lambda data: None)
        _check_error(path, tmp_path / f"out-{member}", member)
    record_property("robustness.files", 2)


def test_truncations_and_byte_flips(valid_model, tmp_path, record_property):
    """Every truncation and a spread of single-byte corruptions: a clean error, or (a flip in bytes
    nobody reads) exactly the original computation."""
    model, src = valid_model
    blob = src.read_bytes()
    reference = kerasc.build_ir(src, name=NAME)
    from kerasc.codegen import render_header

    ref_header = render_header(reference)
    cuts = sorted({0, 1, 2, 4, 10, 30, 100, 512} | {len(blob) * k // 16 for k in range(1, 16)} | {len(blob) - 1})
    flips = list(range(0, len(blob), max(1, len(blob) // 48)))
    outcomes = {"error": 0, "same": 0, "verified": 0}
    for i, cut in enumerate(cuts):
        path = tmp_path / f"cut{i}.keras"
        path.write_bytes(blob[:cut])
        status, _ = outcome_is_clean(path, tmp_path / f"o-cut{i}")
        assert status == "error", f"a truncated file ({cut} of {len(blob)} bytes) converted"
        outcomes["error"] += 1
    for i, pos in enumerate(flips):
        path = tmp_path / f"flip{i}.keras"
        mutated = bytearray(blob)
        mutated[pos] ^= 0x5A
        path.write_bytes(bytes(mutated))
        status, text = outcome_is_clean(path, tmp_path / f"o-flip{i}")
        if status == "error":
            outcomes["error"] += 1
        else:
            outcomes[same_computation_or_verified(path, text, ref_header, finite_inputs())] += 1
    record_property("robustness.files", len(cuts) + len(flips))
    assert outcomes["error"] >= len(cuts)


@pytest.mark.parametrize("content,needle", [
    (b"", "not a Keras model file"),
    (b"\x89PNG\r\n\x1a\n" + bytes(100), "not a Keras model file"),
    (b"\x89HDF\r\n\x1a\n" + bytes(100), "HDF5"),
])
def test_wrong_file_types(tmp_path, content, needle, record_property):
    path = tmp_path / "model.keras"
    path.write_bytes(content)
    status, text = outcome_is_clean(path, tmp_path / "out")
    assert status == "error" and path.name in text, text
    record_property("robustness.files", 1)


def test_directory_and_missing_file(tmp_path):
    for path, needle in ((tmp_path, "is a directory"), (tmp_path / "nope.keras", "no such file")):
        status, text = outcome_is_clean(path, tmp_path / "out")
        assert status == "error" and needle in text, text
