"""A Keras model config (JSON, as every source records it) -> ModelRecord: Sequential and Functional graphs,
Keras 3 and Keras 2 node formats."""

from __future__ import annotations

import re
from typing import Any

from ..errors import ConversionError
from .records import LayerRecord, ModelRecord, TensorRef


def from_config(cfg: dict[str, Any], weights_of: Any, name: str, source: str, keras_version: str) -> ModelRecord:
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


def _record(lname: str, lc: dict[str, Any], weights_of: Any) -> LayerRecord:
    """The record of one layer entry; Keras 3's `module` and `registered_name` say whether its class is Keras' own
    or a user's (a custom layer, converted through kerasc.extend)."""
    module, registered = lc.get("module"), lc.get("registered_name")
    module = module if isinstance(module, str) else None
    registered = registered if isinstance(registered, str) else None
    class_name = lc["class_name"]
    # A user's class, never one of Keras' own even when it has the same name: Keras 2 saves a registered custom
    # class as "package>Class"; Keras 3 records the module of every class ('keras.layers', ...) and a registered
    # name ("package>Class", or the bare name of an unregistered class) for custom ones.
    custom = ">" in class_name or (not (module or "").startswith(("keras", "tf_keras"))
                                   and (module is not None or registered is not None))
    if ">" in class_name:
        registered, class_name = class_name, class_name.rpartition(">")[2]
    return LayerRecord(lname, class_name, lc["config"], weights_of(lname, lc["class_name"]),
                       keras_module=module, registered_name=registered, custom=custom)


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
        rec = _record(lname, lc, weights_of)
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
        rec = _record(lname, lc, weights_of)
        for node in lc.get("inbound_nodes", []) or []:
            refs, kwargs = _parse_node(node, source, lname)
            rec.inbound.append(refs)
            rec.call_kwargs.append(kwargs)
            rec.call_args.append(list(node.get("args", [])) if isinstance(node, dict) else [])
        records.append(rec)
    return ModelRecord(name, source, kv, "Functional", records,
                       _io_refs(config.get("input_layers")), _io_refs(config.get("output_layers")))


def snake_case(name: str) -> str:
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    s = re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()
    return s
