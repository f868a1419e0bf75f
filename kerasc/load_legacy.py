"""load_legacy: whole-model HDF5 files (`model.save('x.h5')`) -> a ModelRecord, with h5py only.

Keras 2 (standalone 2.x, tf.keras, tf_keras) and Keras 3 both write this layout:

    /                  attrs: keras_version, backend, model_config (the model's JSON config)
    /model_weights     attrs: layer_names (saving order)
    /model_weights/L   attrs: weight_names (e.g. "lstm/lstm_cell/kernel:0"), in get_weights() order;
                       each name is the path of a dataset below the group L

The config is read as JSON, never through Keras, so options Keras 3 refuses (`time_major`,
activation layers given as activations, ...) are still readable. Whether a file follows Keras 2
semantics is decided by its `keras_version` attribute (see `is_keras2`), never by its extension.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .errors import ConversionError
from .h5safe import check_hdf5_file
from .jsonsafe import parse_json

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def keras_major(version: str) -> Optional[int]:
    """Major version of a `keras_version` string ("2.2.4", "2.4.0-tf", "3.15.1"), None if unknown."""
    m = re.match(r"\s*(\d+)\.", str(version))
    return int(m.group(1)) if m else None


def is_keras2(version: str) -> bool:
    """True when a model saved by this Keras version follows Keras 2 semantics.

    A file without a version (or with one we cannot parse) predates Keras 3, which always
    records it, so it is read as Keras 2."""
    major = keras_major(version)
    return major is None or major < 3


def saved_by_keras2(path: Path) -> bool:
    """Whether a model file (.h5 or .keras) was saved by Keras 2, from its recorded keras_version."""
    import zipfile

    with path.open("rb") as fh:
        magic = fh.read(8)
    if magic == HDF5_MAGIC:
        import h5py

        with h5py.File(path, "r") as h5:
            return is_keras2(_text(h5.attrs.get("keras_version", "unknown")))
    if magic.startswith(b"PK"):
        with zipfile.ZipFile(path) as zf:
            if "metadata.json" not in zf.namelist():
                return False
            meta = parse_json(zf.read("metadata.json"), f"{path}: metadata.json")
            major = keras_major(str(meta.get("keras_version", ""))) if isinstance(meta, dict) else None
            return major is not None and major < 3
    return False


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray) and value.shape == ():
        return _text(value.item())
    return str(value)


def _names(value: Any) -> list[str]:
    """An HDF5 attribute holding a list of names (numpy array of bytes or str; may be empty)."""
    if value is None:
        return []
    return [_text(v) for v in np.atleast_1d(np.asarray(value)).tolist()]


def load_h5(path: Path) -> Any:
    """Read a whole-model HDF5 file into a ModelRecord (Keras 2 or Keras 3 writer)."""
    import h5py

    from .load import _from_config

    try:
        h5 = h5py.File(path, "r")
    except OSError as exc:
        raise ConversionError(f"{path}: not a readable HDF5 file ({exc})") from None
    with h5:
        check_hdf5_file(h5, str(path))  # before reading any data
        if "model_config" not in h5.attrs:
            what = "a weights-only file (model.save_weights)" if "layer_names" in h5.attrs else "not a Keras model"
            raise ConversionError(f"{path}: this HDF5 file has no model_config attribute: it is {what}; "
                                  "supported: whole models saved with model.save('model.h5')")
        version = _text(h5.attrs.get("keras_version", "unknown"))
        major = keras_major(version)
        if major is not None and major < 2:
            raise ConversionError(f"{path}: saved by Keras {version}; supported: files saved by Keras 2.x "
                                  "(standalone, tf.keras, tf_keras) or Keras 3")
        try:
            text = _text(h5.attrs["model_config"])
        except (UnicodeDecodeError, OSError, TypeError) as exc:
            raise ConversionError(f"{path}: model_config is not text ({exc})") from None
        cfg = parse_json(text, f"{path}: model_config")
        if not isinstance(cfg, dict) or "config" not in cfg:
            raise ConversionError(f"{path}: model_config does not describe a Keras model")
        cfg = _normalize(cfg)
        weights = _read_weights(h5, path)
    record = _from_config(cfg, lambda lname, cls: weights.get(lname, []), path.stem, path.name, version)
    record.legacy = is_keras2(version)
    return record


def _normalize(cfg: dict[str, Any]) -> dict[str, Any]:
    """Keras 2.0/2.1 saved a Sequential model's config as a bare list of layers."""
    if cfg.get("class_name") == "Sequential" and isinstance(cfg.get("config"), list):
        return {"class_name": "Sequential", "config": {"name": "sequential", "layers": cfg["config"]}}
    return cfg


def _read_weights(h5: Any, path: Path) -> dict[str, list[np.ndarray]]:
    """{layer name: arrays in get_weights() order}, from the weight_names attribute of each layer group."""
    root = h5.get("model_weights", h5)
    out: dict[str, list[np.ndarray]] = {}
    for lname in _names(root.attrs.get("layer_names")):
        group = root.get(lname)
        if group is None:
            raise ConversionError(f"{path}: model_weights lists layer '{lname}' but has no group for it")
        arrays = []
        for wname in _names(group.attrs.get("weight_names")):
            data = group.get(wname)
            if data is None:
                raise ConversionError(f"{path}: layer '{lname}' names weight '{wname}' but the file has no such "
                                      "dataset")
            arrays.append(np.asarray(data))
        out[lname] = arrays
    return out
