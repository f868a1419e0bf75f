"""load: any model source -> plain layer records (class name, config, weights, graph edges).

Nothing after this package touches a Keras object. Files are read with zipfile, json and h5py only, so
conversion works without TensorFlow installed. One module per source: keras_zip (.keras archives), hdf5
(whole-model .h5 files, Keras 2 or 3), live (a keras.Model), all through config (the model config ->
records); keras2 holds the one "saved by Keras 2?" rule; records the dataclasses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ConversionError
from .config import from_config, tensor_refs
from .hdf5 import load_h5
from .keras2 import HDF5_MAGIC, is_keras2, keras_major, saved_by_keras2
from .keras_zip import load_keras_zip
from .live import load_live
from .records import MAX_ARRAY_ELEMENTS, MAX_CONFIG_BYTES, MAX_WEIGHTS_BYTES, LayerRecord, ModelRecord, TensorRef

__all__ = ["HDF5_MAGIC", "MAX_ARRAY_ELEMENTS", "MAX_CONFIG_BYTES", "MAX_WEIGHTS_BYTES", "LayerRecord", "ModelRecord",
           "TensorRef", "from_config", "is_keras2", "keras_major", "load", "load_file", "load_h5", "load_keras_zip",
           "load_live", "saved_by_keras2", "tensor_refs"]


def load(source: Any) -> ModelRecord:
    """Read a `keras.Model` (Keras 3 or tf_keras), a `.keras` file or an `.h5` file into a ModelRecord."""
    from ..rnn_api import canonical

    if isinstance(source, (str, Path)):
        return canonical(load_file(Path(source)))
    if hasattr(source, "get_config") and hasattr(source, "layers"):
        return canonical(load_live(source))
    raise ConversionError(
        f"cannot read a model from {type(source).__name__}: pass a keras.Model or a path to a .keras or .h5 file"
    )


def load_file(path: Path) -> ModelRecord:
    magic = read_magic(path)
    if magic.startswith(b"PK"):
        return load_keras_zip(path)
    if magic == HDF5_MAGIC:
        return load_h5(path)
    raise ConversionError(f"{path}: not a Keras model file (expected a .keras zip archive or an HDF5 .h5 model)")


def read_magic(path: Path) -> bytes:
    """The first 8 bytes of a model file, refusing anything that is not a regular file (a FIFO or a
    device would block or never end) before reading it."""
    import os
    import stat

    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ConversionError(f"{path}: no such file") from None
    except OSError as exc:
        raise ConversionError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise ConversionError(f"{path}: is a directory (TensorFlow SavedModel directories are not supported; "
                              "save the model as a .keras file)")
    if not stat.S_ISREG(st.st_mode):
        kind = ("a FIFO" if stat.S_ISFIFO(st.st_mode) else "a device" if stat.S_ISCHR(st.st_mode)
                or stat.S_ISBLK(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
        raise ConversionError(f"{path}: is {kind}; kerasc reads regular files only")
    try:  # O_NONBLOCK: should the path have been swapped for a FIFO since the stat, the open does not wait
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise ConversionError(f"{path}: is not a regular file; kerasc reads regular files only")
            return fh.read(8)
    except OSError as exc:
        raise ConversionError(f"{path}: cannot read it ({exc.strerror or exc})") from None
