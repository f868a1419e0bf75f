"""Saved by Keras 2? One rule (is_keras2), from the `keras_version` a file or live model records, never from
the file's extension; and the magic bytes that tell the containers apart."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..jsonsafe import parse_json

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def keras_major(version: str) -> Optional[int]:
    """Major version of a `keras_version` string ("2.2.4", "2.4.0-tf", "3.15.1"), None if unknown."""
    m = re.match(r"\s*(\d+)\.", str(version))
    return int(m.group(1)) if m else None


def is_keras2(version: str, unknown: bool = True) -> bool:
    """The one rule: a model saved by Keras `version` follows Keras 2 semantics when its major version is
    below 3. `unknown` is the answer when the version is missing or unreadable: True for an HDF5 file (Keras 3
    always records its version there, so a file without one predates it), False for a `.keras` archive or a
    live model (Keras 3's formats; tf_keras 2.13+ records its version in the archive's metadata)."""
    major = keras_major(version)
    return unknown if major is None else major < 3


def saved_by_keras2(path: Path) -> bool:
    """Whether a model file (.h5 or .keras) was saved by Keras 2, from its recorded keras_version."""
    import zipfile

    with path.open("rb") as fh:
        magic = fh.read(8)
    if magic == HDF5_MAGIC:
        import h5py

        with h5py.File(path, "r") as h5:
            return is_keras2(text(h5.attrs.get("keras_version", "unknown")))
    if magic.startswith(b"PK"):
        with zipfile.ZipFile(path) as zf:
            if "metadata.json" not in zf.namelist():
                return False
            meta = parse_json(zf.read("metadata.json"), f"{path}: metadata.json")
            return isinstance(meta, dict) and is_keras2(str(meta.get("keras_version", "")), unknown=False)
    return False


def text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray) and value.shape == ():
        return text(value.item())
    return str(value)


def attr_names(value: Any) -> list[str]:
    """An HDF5 attribute holding a list of names (numpy array of bytes or str; may be empty)."""
    if value is None:
        return []
    return [text(v) for v in np.atleast_1d(np.asarray(value)).tolist()]
