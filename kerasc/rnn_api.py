"""Keras' generic recurrent API rewritten into the layers kerasc lowers.

`keras.layers.RNN(cell)` computes what the matching layer computes (Keras' LSTM, GRU and SimpleRNN
are RNN subclasses that build that cell), so a record of `RNN(LSTMCell(...), options)` becomes an
`LSTM` record with the cell's config and the RNN's options. `RNN(StackedRNNCells([c0, c1, ...]))`
runs c0, c1, ... one after the other inside each timestep: the same as a stack of layers, all but
the last with return_sequences=True, where the first reads the input backwards when go_backwards.
Its outputs (`[output, *states of c0, *states of c1, ...]` with return_state) are mapped to the
sub-layers that compute them; verify still compares each with the Keras tensor it stands for.

Runs on plain records (load's output), so nothing later needs to know these forms exist.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, Callable

from .errors import ConversionError

CELLS = {"LSTMCell": "LSTM", "GRUCell": "GRU", "SimpleRNNCell": "SimpleRNN"}
N_STATES = {"LSTM": 2, "GRU": 1, "SimpleRNN": 1}
# RNN's own options, carried over to the layer (the others are the cell's)
RNN_OPTIONS = ("name", "trainable", "dtype", "return_sequences", "return_state", "go_backwards", "stateful",
               "unroll", "zero_output_for_mask", "time_major", "input_spec", "batch_input_shape", "input_shape",
               "input_dtype", "build_config")


def _cell(rec: Any, spec: Any, where: str) -> tuple[str, dict[str, Any]]:
    """(layer class, cell config) of one saved cell."""
    if not isinstance(spec, dict) or not isinstance(spec.get("config"), dict):
        raise ConversionError(f"layer '{rec.name}' (RNN): {where} is missing or malformed")
    cls = spec.get("class_name")
    if cls not in CELLS:
        supported = ", ".join(list(CELLS) + ["StackedRNNCells of them"])
        raise ConversionError(f"layer '{rec.name}' (RNN): cell {cls!r} is not supported; supported cells: {supported}"
                              + (" (a custom cell: plugins register layer classes, not cells; a layer class of your own that runs "
                                 "its recurrence converts through one: docs/extending.md)" if cls else ""))
    return CELLS[cls], dict(spec["config"])


def _layer_config(rnn_cfg: dict[str, Any], cell_cfg: dict[str, Any], **override: Any) -> dict[str, Any]:
    cfg = {k: v for k, v in cell_cfg.items() if k not in ("name", "trainable", "dtype", "build_config")}
    cfg.update({k: v for k, v in rnn_cfg.items() if k in RNN_OPTIONS})
    cfg.update(override)
    return cfg


def _n_weights(cfg: dict[str, Any]) -> int:
    return 2 + int(bool(cfg.get("use_bias", True)))


def _single(rec: Any, spec: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A wrapped layer config of class RNN with one cell -> (layer class, layer config)."""
    cfg = spec.get("config")
    if not isinstance(cfg, dict):
        raise ConversionError(f"layer '{rec.name}' ({rec.class_name}): its wrapped RNN is malformed")
    cell = cfg.get("cell")
    if isinstance(cell, dict) and cell.get("class_name") == "StackedRNNCells":
        raise ConversionError(f"layer '{rec.name}' ({rec.class_name}) wraps RNN(StackedRNNCells); supported: "
                              "Bidirectional(RNN(cell)) with one LSTMCell, GRUCell or SimpleRNNCell")
    cls, cell_cfg = _cell(rec, cell, "its cell")
    return cls, _layer_config(cfg, cell_cfg)


def _rewrite_refs(obj: Any, fn: Callable[[tuple[str, int, int]], tuple[str, int, int]]) -> Any:
    """`obj` (saved call arguments: nested lists and Keras tensor dicts) with every tensor reference mapped."""
    if isinstance(obj, dict) and obj.get("class_name") == "__keras_tensor__":
        hist = obj["config"]["keras_history"]
        name, node, port = fn((str(hist[0]), int(hist[1]), int(hist[2])))
        out = copy.deepcopy(obj)
        out["config"]["keras_history"] = [name, node, port]
        return out
    if isinstance(obj, dict):
        return {k: _rewrite_refs(v, fn) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_rewrite_refs(v, fn) for v in obj)
    return obj


def canonical(record: Any) -> Any:
    """`record` (a load.ModelRecord) with RNN(cell) layers as LSTM/GRU/SimpleRNN records."""
    from .load import LayerRecord, tensor_refs

    if not any(r.class_name in ("RNN", "Bidirectional") for r in record.layers):
        return record
    masked = any(r.class_name == "Masking" or (r.class_name == "Embedding" and r.config.get("mask_zero"))
                 for r in record.layers)
    moved: dict[tuple[str, int], tuple[str, int]] = {}  # (stacked RNN, its output k) -> (sub-layer, its port)
    layers = []
    for rec in record.layers:
        if rec.class_name == "Bidirectional":
            cfg = copy.deepcopy(rec.config)
            for key in ("layer", "backward_layer"):
                inner = cfg.get(key)
                if isinstance(inner, dict) and inner.get("class_name") == "RNN":
                    cls, inner_cfg = _single(rec, inner)
                    cfg[key] = {**inner, "class_name": cls, "config": inner_cfg}
            layers.append(dataclasses.replace(rec, config=cfg))
            continue
        if rec.class_name != "RNN":
            layers.append(rec)
            continue
        cell = rec.config.get("cell")
        if not (isinstance(cell, dict) and cell.get("class_name") == "StackedRNNCells"):
            cls, cell_cfg = _cell(rec, cell, "its cell")
            layers.append(dataclasses.replace(rec, class_name=cls, config=_layer_config(rec.config, cell_cfg),
                                              origin=f"RNN({cell.get('class_name')})"))
            continue
        specs = (cell.get("config") or {}).get("cells")
        if not isinstance(specs, list) or not specs:
            raise ConversionError(f"layer '{rec.name}' (RNN): StackedRNNCells holds no cells")
        cells = [_cell(rec, s, f"cell {k} of its StackedRNNCells") for k, s in enumerate(specs)]
        go_back = bool(rec.config.get("go_backwards", False))
        if go_back and masked:
            raise ConversionError(f"layer '{rec.name}' (RNN): StackedRNNCells with go_backwards=True in a masked "
                                  "model is not supported; supported: go_backwards without a mask, or a mask "
                                  "without go_backwards")
        ret_seq = bool(rec.config.get("return_sequences", False))
        ret_state = bool(rec.config.get("return_state", False))
        n_w = [_n_weights(c) for _, c in cells]
        if sum(n_w) != len(rec.weights):
            raise ConversionError(f"layer '{rec.name}' (RNN): its StackedRNNCells needs {sum(n_w)} weight arrays; "
                                  f"found {len(rec.weights)}")
        # initial states: one flat list in cell order (keyword or after the input)
        kwargs = dict(rec.call_kwargs[0]) if rec.call_kwargs else {}
        init = tensor_refs(kwargs.pop("initial_state", None))
        refs = list(rec.inbound[0]) if rec.inbound else []
        if len(refs) > 1:
            refs, init = refs[:1], refs[1:] + init
        need = sum(N_STATES[c] for c, _ in cells)
        if init and len(init) != need:
            raise ConversionError(f"layer '{rec.name}' (RNN): initial_state has {len(init)} tensors; its "
                                  f"StackedRNNCells needs {need} (each cell's states in order)")
        names = [f"{rec.name}/{c.get('name', f'cell_{k}')}" for k, (_, c) in enumerate(cells)]
        if len(set(names)) != len(names):
            names = [f"{rec.name}/cell_{k}" for k in range(len(cells))]
        w0, s0, prev = 0, 0, refs
        state_port = 1  # the RNN's outputs: [output, *states of cell 0, *states of cell 1, ...]
        for k, ((cls, cell_cfg), name) in enumerate(zip(cells, names)):
            last = k == len(cells) - 1
            cfg = _layer_config(rec.config, cell_cfg, name=name, return_sequences=ret_seq or not last,
                                return_state=ret_state, go_backwards=go_back and k == 0)
            n_s = N_STATES[cls]
            call_kwargs = {k2: v for k2, v in kwargs.items() if k2 != "initial_state"}
            if init:
                call_kwargs["initial_state"] = [{"class_name": "__keras_tensor__",
                                                 "config": {"keras_history": list(r)}} for r in init[s0:s0 + n_s]]
            ports = [(rec.name, 0) if last else None]  # the Keras tensor each output of this layer is
            if ret_state:
                ports += [(rec.name, state_port + j) for j in range(n_s)]
            layers.append(LayerRecord(name, cls, cfg, rec.weights[w0:w0 + n_w[k]], inbound=[list(prev)],
                                      call_kwargs=[call_kwargs], call_args=[], keras_ports=ports,
                                      origin=f"cell {k} of RNN(StackedRNNCells) '{rec.name}'"))
            if last:
                moved[(rec.name, 0)] = (name, 0)
            if ret_state:
                for j in range(n_s):
                    moved[(rec.name, state_port + j)] = (name, 1 + j)
            state_port += n_s
            w0, s0, prev = w0 + n_w[k], s0 + n_s, [(name, 0, 0)]
    if not moved:
        return dataclasses.replace(record, layers=layers)

    def fn(ref: tuple[str, int, int]) -> tuple[str, int, int]:
        to = moved.get((ref[0], ref[2]))
        return (to[0], ref[1], to[1]) if to else ref

    for i, rec in enumerate(layers):
        if any(r[0] in {m[0] for m in moved} for call in rec.inbound for r in call) or rec.call_kwargs:
            layers[i] = dataclasses.replace(rec, inbound=[[fn(r) for r in call] for call in rec.inbound],
                                            call_kwargs=[_rewrite_refs(c, fn) for c in rec.call_kwargs],
                                            call_args=[_rewrite_refs(c, fn) for c in rec.call_args])
    return dataclasses.replace(record, layers=layers, outputs=[fn(r) for r in record.outputs])
