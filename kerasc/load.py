"""load: any model source -> plain layer records (class name, config, weights, graph edges).

Nothing after this module touches a Keras object. A `.keras` file is read with zipfile, json
and h5py only, so conversion works without TensorFlow installed.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .errors import ConversionError
from .h5safe import check_hdf5_file
from .jsonsafe import parse_json
from .load_legacy import HDF5_MAGIC, keras_major, load_h5

MAX_CONFIG_BYTES = 64 << 20
MAX_WEIGHTS_BYTES = 1 << 30
MAX_ARRAY_ELEMENTS = 1 << 27  # 512 MiB of float32 in one weight array

# (layer name, node index, tensor index): one tensor flowing along a graph edge.
TensorRef = tuple[str, int, int]


@dataclass
class LayerRecord:
    name: str
    class_name: str
    config: dict[str, Any]
    weights: list[np.ndarray]
    # One entry per call of the layer: the tensors it was called on, and the call's kwargs.
    inbound: list[list[TensorRef]] = field(default_factory=list)
    call_kwargs: list[dict[str, Any]] = field(default_factory=list)
    # The positional arguments of each call as saved (tensors as Keras' __keras_tensor__ dicts,
    # constants as values), for op layers such as NotEqual(x, 0.0).
    call_args: list[list[Any]] = field(default_factory=list)
    # Set by kerasc.rnn_api for layers rewritten from Keras' generic RNN API: the form the model used
    # (e.g. "RNN(LSTMCell)"), and the Keras tensor (layer, output index) each output stands for
    # (None: a value inside a Keras layer, with no tensor of its own; default: this layer's outputs).
    origin: Optional[str] = None
    keras_ports: Optional[list[Optional[tuple[str, int]]]] = None


@dataclass
class ModelRecord:
    name: str
    source: str  # file name, or "<keras.Model NAME>"
    keras_version: str
    class_name: str  # Sequential / Functional
    layers: list[LayerRecord]
    inputs: list[TensorRef]
    outputs: list[TensorRef]
    # Saved by Keras 2 (decided by keras_version): Keras 2 semantics apply (see load_legacy.py).
    legacy: bool = False


def load(source: Any) -> ModelRecord:
    """Read a `keras.Model` (Keras 3 or tf_keras), a `.keras` file or an `.h5` file into a ModelRecord."""
    from .rnn_api import canonical

    if isinstance(source, (str, Path)):
        return canonical(_load_file(Path(source)))
    if hasattr(source, "get_config") and hasattr(source, "layers"):
        return canonical(_load_live(source))
    raise ConversionError(
        f"cannot read a model from {type(source).__name__}: pass a keras.Model or a path to a .keras or .h5 file"
    )


# ---------------------------------------------------------------------------- live models

def _load_live(model: Any) -> ModelRecord:
    import sys

    # The package the model comes from (keras, or tf_keras for a Keras 2 model) is imported already.
    framework = sys.modules.get(type(model).__module__.split(".")[0])
    version = str(getattr(framework, "__version__", "unknown"))
    cfg = {"class_name": model.__class__.__name__, "config": model.get_config()}
    if cfg["class_name"] not in ("Sequential", "Functional", "Model"):
        raise ConversionError(
            f"model '{model.name}' is a subclassed model ({cfg['class_name']}); kerasc converts Sequential "
            "and Functional models, whose structure is visible in their config"
        )
    by_name = {layer.name: layer for layer in model.layers}

    def weights_of(name: str, class_name: str) -> list[np.ndarray]:
        layer = by_name.get(name)
        return [np.asarray(w) for w in layer.get_weights()] if layer is not None else []

    record = _from_config(cfg, weights_of, model.name, f"<keras.Model '{model.name}'>", version)
    record.legacy = keras_major(version) is not None and keras_major(version) < 3
    return record


# ---------------------------------------------------------------------------- files

def _load_file(path: Path) -> ModelRecord:
    magic = read_magic(path)
    if magic.startswith(b"PK"):
        return _load_keras_zip(path)
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


def _load_keras_zip(path: Path) -> ModelRecord:
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            for needed in ("config.json", "model.weights.h5"):
                if needed not in names:
                    raise ConversionError(f"{path}: not a complete .keras file ({needed} is missing)")
            for info in zf.infolist():  # refuse before allocating (zip bombs, absurd files)
                limit = MAX_WEIGHTS_BYTES if info.filename == "model.weights.h5" else MAX_CONFIG_BYTES
                if info.filename in ("config.json", "metadata.json", "model.weights.h5") and info.file_size > limit:
                    raise ConversionError(f"{path}: {info.filename} is {info.file_size} bytes; kerasc reads at most "
                                          f"{limit}")
            cfg = parse_json(zf.read("config.json"), f"{path}: config.json")
            meta = parse_json(zf.read("metadata.json"), f"{path}: metadata.json") if "metadata.json" in names else {}
            weights_blob = zf.read("model.weights.h5")
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
        # NotImplementedError: a compression method zipfile lacks; RuntimeError: an encrypted member
        raise ConversionError(f"{path}: cannot read the .keras archive ({exc})") from None
    if not isinstance(cfg, dict) or "config" not in cfg:
        raise ConversionError(f"{path}: config.json does not describe a Keras model")
    if not isinstance(meta, dict):
        raise ConversionError(f"{path}: metadata.json is not a JSON object")
    weights = _KerasWeights(path, weights_blob, cfg)
    version = str(meta.get("keras_version", "unknown"))
    record = _from_config(cfg, weights.of, path.stem, path.name, version)  # DESIGN: default name = file stem
    # tf_keras 2.13+ writes .keras archives too; their metadata says which Keras saved them.
    record.legacy = keras_major(version) is not None and keras_major(version) < 3
    return record


class _KerasWeights:
    """Weights of a Keras 3 `.keras` file: model.weights.h5 keys layers by their class
    (`layers/lstm`, `layers/lstm_1`, ...) and, in recent versions, records the layer's
    name in the `name` attribute of each `vars` group."""

    # Child groups whose weights come first in get_weights() order (others: alphabetical).
    CHILD_ORDER = ("cell", "forward_layer", "backward_layer", "layer")

    def __init__(self, path: Path, blob: bytes, cfg: dict[str, Any]):
        import h5py

        self.path = path
        try:
            self.h5 = h5py.File(io.BytesIO(blob), "r")
        except OSError as exc:
            raise ConversionError(f"{path}: model.weights.h5 is not a readable HDF5 file ({exc})") from None
        check_hdf5_file(self.h5, f"{path}: model.weights.h5")  # before reading any data
        self.groups = self._map_groups(cfg)
        self.configs = {lc.get("config", {}).get("name") or lc.get("name"): lc.get("config")
                        for lc in cfg["config"].get("layers", []) if isinstance(lc, dict)}

    def _map_groups(self, cfg: dict[str, Any]) -> dict[str, Any]:
        root = self.h5.get("layers")
        if root is None:
            return {}
        by_attr: dict[str, Any] = {}
        for key in root:
            vars_group = root[key].get("vars")
            name = vars_group.attrs.get("name") if vars_group is not None else None
            if isinstance(name, bytes):
                name = name.decode()
            if isinstance(name, str):
                by_attr[name] = root[key]
        if by_attr:
            return by_attr
        # Older Keras 3 files: replay the saver's naming (snake_case of the class, _1, _2, ...).
        layers = cfg["config"].get("layers", [])
        if cfg.get("class_name") == "Sequential":
            layers = [lc for lc in layers if lc.get("class_name") != "InputLayer"]
        used: dict[str, int] = {}
        out: dict[str, Any] = {}
        for lc in layers:
            base = _snake_case(str(lc.get("class_name", "")))
            if base in used:
                used[base] += 1
                key = f"{base}_{used[base]}"
            else:
                used[base] = 0
                key = base
            name = lc.get("config", {}).get("name") or lc.get("name")
            if key in root:
                out[name] = root[key]
        return out

    def of(self, name: str, class_name: str) -> list[np.ndarray]:
        group = self.groups.get(name)
        return [] if group is None else self._collect(group, self.configs.get(name))

    def _collect(self, group: Any, cfg: Any = None) -> list[np.ndarray]:
        """The arrays of `group` in get_weights() order; `cfg`, the config of the object it saves,
        orders list containers (StackedRNNCells' `cells`)."""
        arrays: list[np.ndarray] = []
        own = group.get("vars")
        if own is not None:
            for key in sorted(own, key=lambda k: int(k) if k.isdigit() else 1 << 30):
                dataset = own[key]
                if not hasattr(dataset, "shape") or dataset.size > MAX_ARRAY_ELEMENTS:
                    raise ConversionError(f"{self.path}: weight array {dataset.name} is not a reasonable array "
                                          f"(shape {getattr(dataset, 'shape', '?')})")
                arrays.append(np.asarray(dataset))
        children = [k for k in group if k != "vars"]
        children.sort(key=lambda k: (self.CHILD_ORDER.index(k) if k in self.CHILD_ORDER else len(self.CHILD_ORDER), k))
        for key in children:
            sub = cfg.get(key) if isinstance(cfg, dict) else None
            if isinstance(sub, list):
                arrays.extend(self._collect_list(group[key], sub))
            else:
                arrays.extend(self._collect(group[key], sub.get("config") if isinstance(sub, dict) else None))
        return arrays

    def _collect_list(self, group: Any, specs: list[Any]) -> list[np.ndarray]:
        """A list of objects (e.g. cells): the saver keys them by class (`gru_cell`, `gru_cell_1`, ...),
        so their order is the config's, not the keys' alphabetical one."""
        used: dict[str, int] = {}
        arrays: list[np.ndarray] = []
        seen = set()
        for spec in specs:
            base = _snake_case(str(spec.get("class_name", ""))) if isinstance(spec, dict) else ""
            used[base] = used.get(base, -1) + 1
            key = base if used[base] == 0 else f"{base}_{used[base]}"
            if key in group:
                seen.add(key)
                arrays.extend(self._collect(group[key], spec.get("config")))
        for key in sorted(k for k in group if k not in seen):  # what the config does not name: as stored
            arrays.extend(self._collect(group[key]))
        return arrays


def _snake_case(name: str) -> str:
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    s = re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()
    return s


# ---------------------------------------------------------------------------- config -> records

def _from_config(cfg: dict[str, Any], weights_of: Any, name: str, source: str, keras_version: str) -> ModelRecord:
    class_name = cfg.get("class_name")
    config = cfg.get("config")
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ConversionError(f"{source}: model config has no layer list (class {class_name!r})")
    if class_name == "Sequential":
        return _sequential(config, weights_of, name, source, keras_version)
    if class_name in ("Functional", "Model"):
        return _functional(config, weights_of, name, source, keras_version)
    raise ConversionError(
        f"{source}: model class {class_name!r} is not supported; supported: Sequential, Functional"
    )


def _layer_name(lc: dict[str, Any]) -> str:
    name = lc.get("name") or lc.get("config", {}).get("name")
    if not isinstance(name, str):
        raise ConversionError(f"layer config without a name: {str(lc)[:200]}")
    return name


def _check_layer_config(lc: Any, source: str) -> None:
    if not isinstance(lc, dict) or not isinstance(lc.get("class_name"), str) or not isinstance(lc.get("config"), dict):
        raise ConversionError(f"{source}: malformed layer entry in the model config: {str(lc)[:200]}")


def _sequential(config: dict[str, Any], weights_of: Any, name: str, source: str, kv: str) -> ModelRecord:
    records: list[LayerRecord] = []
    layers = config["layers"]
    for lc in layers:
        _check_layer_config(lc, source)
    if not layers:
        raise ConversionError(f"{source}: the Sequential model has no layers")
    if layers[0]["class_name"] != "InputLayer":
        first = layers[0]["config"]
        shape = first.get("batch_shape") or first.get("batch_input_shape") or config.get("build_input_shape")
        if shape is None:
            raise ConversionError(
                f"{source}: the model has no input shape; start it with keras.Input((timesteps, features)) "
                "or build it before converting"
            )
        layers = [{"class_name": "InputLayer", "config": {"name": "input_layer", "batch_shape": list(shape)}}] + layers
    prev = None
    for lc in layers:
        lname = _layer_name(lc)
        rec = LayerRecord(lname, lc["class_name"], lc["config"], weights_of(lname, lc["class_name"]))
        if prev is not None:
            rec.inbound = [[(prev, 0, 0)]]
            rec.call_kwargs = [{}]
        records.append(rec)
        prev = lname
    return ModelRecord(name, source, kv, "Sequential", records, [(records[0].name, 0, 0)], [(prev, 0, 0)])


def tensor_refs(arg: Any) -> list[TensorRef]:
    """The tensors named in a saved call argument (nested lists of Keras tensor dicts)."""
    return _tensor_refs(arg)


def _tensor_refs(arg: Any) -> list[TensorRef]:
    """Keras 3 node args: nested lists of {'class_name': '__keras_tensor__', 'config': {'keras_history': [...]}}."""
    if isinstance(arg, dict) and arg.get("class_name") == "__keras_tensor__":
        hist = arg["config"]["keras_history"]
        return [(str(hist[0]), int(hist[1]), int(hist[2]))]
    if isinstance(arg, (list, tuple)):
        out: list[TensorRef] = []
        for a in arg:
            out.extend(_tensor_refs(a))
        return out
    return []


def _parse_node(node: Any, source: str, lname: str) -> tuple[list[TensorRef], dict[str, Any]]:
    if isinstance(node, dict):  # Keras 3
        return _tensor_refs(node.get("args", [])), dict(node.get("kwargs", {}) or {})
    if isinstance(node, list):  # Keras 2: [[name, node_index, tensor_index, kwargs], ...]
        refs, kwargs = [], {}
        for entry in node:
            refs.append((str(entry[0]), int(entry[1]), int(entry[2])))
            if len(entry) > 3 and isinstance(entry[3], dict):
                kwargs.update(entry[3])
        return refs, kwargs
    raise ConversionError(f"{source}: layer '{lname}' has a malformed inbound node: {str(node)[:200]}")


def _io_refs(value: Any) -> list[TensorRef]:
    """Model inputs/outputs: one [name, node, index] triple, or nested lists of them (a layer's nested
    outputs, e.g. RNN(StackedRNNCells) states [y, [h0, c0], h1]), flattened in Keras' order."""
    if isinstance(value, (list, tuple)) and len(value) == 3 and isinstance(value[0], str):
        return [(str(value[0]), int(value[1]), int(value[2]))]
    return [ref for v in value or [] for ref in _io_refs(v)]


def _functional(config: dict[str, Any], weights_of: Any, name: str, source: str, kv: str) -> ModelRecord:
    records = []
    for lc in config["layers"]:
        _check_layer_config(lc, source)
        lname = _layer_name(lc)
        rec = LayerRecord(lname, lc["class_name"], lc["config"], weights_of(lname, lc["class_name"]))
        for node in lc.get("inbound_nodes", []) or []:
            refs, kwargs = _parse_node(node, source, lname)
            rec.inbound.append(refs)
            rec.call_kwargs.append(kwargs)
            rec.call_args.append(list(node.get("args", [])) if isinstance(node, dict) else [])
        records.append(rec)
    return ModelRecord(name, source, kv, "Functional", records,
                       _io_refs(config.get("input_layers")), _io_refs(config.get("output_layers")))
