"""`.keras` archives (Keras 3, and tf_keras 2.13+): config.json, metadata.json and model.weights.h5, read with
zipfile, json and h5py only."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConversionError
from ..h5safe import check_hdf5_file
from ..jsonsafe import parse_json
from .config import from_config, snake_case
from .keras2 import is_keras2
from .records import MAX_ARRAY_ELEMENTS, MAX_CONFIG_BYTES, MAX_WEIGHTS_BYTES, ModelRecord


def load_keras_zip(path: Path) -> ModelRecord:
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
    record = from_config(cfg, weights.of, path.stem, path.name, version)  # DESIGN: default name = file stem
    # tf_keras 2.13+ writes .keras archives too; their metadata says which Keras saved them.
    record.legacy = is_keras2(version, unknown=False)
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
            base = snake_case(str(lc.get("class_name", "")))
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
            base = snake_case(str(spec.get("class_name", ""))) if isinstance(spec, dict) else ""
            used[base] = used.get(base, -1) + 1
            key = base if used[base] == 0 else f"{base}_{used[base]}"
            if key in group:
                seen.add(key)
                arrays.extend(self._collect(group[key], spec.get("config")))
        for key in sorted(k for k in group if k not in seen):  # what the config does not name: as stored
            arrays.extend(self._collect(group[key]))
        return arrays
