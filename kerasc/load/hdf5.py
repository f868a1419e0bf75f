"""hdf5: whole-model HDF5 files (`model.save('x.h5')`) -> a ModelRecord, with h5py only.

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

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConversionError
from ..h5safe import check_hdf5_file
from ..jsonsafe import parse_json
from .config import from_config
from .keras2 import attr_names, is_keras2, keras_major, text


def load_h5(path: Path) -> Any:
    """Read a whole-model HDF5 file into a ModelRecord (Keras 2 or Keras 3 writer)."""
    import h5py

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
        version = text(h5.attrs.get("keras_version", "unknown"))
        major = keras_major(version)
        if major is not None and major < 2:
            raise ConversionError(f"{path}: saved by Keras {version}; supported: files saved by Keras 2.x "
                                  "(standalone, tf.keras, tf_keras) or Keras 3")
        try:
            config_text = text(h5.attrs["model_config"])
        except (UnicodeDecodeError, OSError, TypeError) as exc:
            raise ConversionError(f"{path}: model_config is not text ({exc})") from None
        cfg = parse_json(config_text, f"{path}: model_config")
        if not isinstance(cfg, dict) or "config" not in cfg:
            raise ConversionError(f"{path}: model_config does not describe a Keras model")
        cfg = _normalize(cfg)
        weights = _read_weights(h5, path)
    record = from_config(cfg, lambda lname, cls: weights.get(lname, []), path.stem, path.name, version)
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
    for lname in attr_names(root.attrs.get("layer_names")):
        group = root.get(lname)
        if group is None:
            raise ConversionError(f"{path}: model_weights lists layer '{lname}' but has no group for it")
        arrays = []
        for wname in attr_names(group.attrs.get("weight_names")):
            data = group.get(wname)
            if data is None:
                raise ConversionError(f"{path}: layer '{lname}' names weight '{wname}' but the file has no such "
                                      "dataset")
            arrays.append(np.asarray(data))
        out[lname] = arrays
    return out
