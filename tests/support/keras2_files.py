"""Keras 2 files written by hand, as versions no longer installable wrote them (Keras 2.2.4 with
CuDNNLSTM / CuDNNGRU layers), for the loaders to read and tf_keras to check."""

import json

import h5py
import numpy as np


def _cudnn_config(cls, name, units, return_sequences, features):
    cfg = {"name": name, "trainable": True, "batch_input_shape": [None, None, features], "dtype": "float32",
           "return_sequences": return_sequences, "return_state": False, "stateful": False, "units": units}
    for key in ("kernel_initializer", "recurrent_initializer", "bias_initializer"):
        cfg[key] = {"class_name": "Zeros", "config": {}}
    for key in ("kernel_regularizer", "recurrent_regularizer", "bias_regularizer", "activity_regularizer",
                "kernel_constraint", "recurrent_constraint", "bias_constraint"):
        cfg[key] = None
    if cls == "CuDNNLSTM":
        cfg["unit_forget_bias"] = True
    return {"class_name": cls, "config": cfg}


def write_cudnn_h5(path, cls, units, features, return_sequences, head_units, seed):
    """A whole-model file as Keras 2.2.4 wrote it for Sequential([CuDNNxxx, Dense])."""
    rng = np.random.default_rng(seed)
    gates = 4 if cls == "CuDNNLSTM" else 3
    rnn = "cu_dnnlstm_1" if cls == "CuDNNLSTM" else "cu_dnngru_1"
    weights = {
        rnn: [("kernel:0", rng.normal(0, 1.75 / np.sqrt(features), (features, gates * units))),
              ("recurrent_kernel:0", rng.normal(0, 1.75 / np.sqrt(units), (units, gates * units))),
              ("bias:0", rng.normal(0, 0.4, (2 * gates * units,)))],
        "dense_1": [("kernel:0", rng.normal(0, 1.75 / np.sqrt(units), (units, head_units))),
                    ("bias:0", rng.normal(0, 0.5, (head_units,)))],
    }
    dense = {"class_name": "Dense", "config": {"name": "dense_1", "trainable": True, "units": head_units,
                                               "activation": "linear", "use_bias": True,
                                               "kernel_initializer": None, "bias_initializer": None,
                                               "kernel_regularizer": None, "bias_regularizer": None,
                                               "activity_regularizer": None, "kernel_constraint": None,
                                               "bias_constraint": None}}
    config = {"class_name": "Sequential", "config": {"name": "sequential_1", "layers": [
        _cudnn_config(cls, rnn, units, return_sequences, features), dense]}}
    with h5py.File(path, "w") as h5:
        h5.attrs["keras_version"] = b"2.2.4"
        h5.attrs["backend"] = b"tensorflow"
        h5.attrs["model_config"] = json.dumps(config).encode()
        mw = h5.create_group("model_weights")
        mw.attrs["layer_names"] = np.array([rnn.encode(), b"dense_1"])
        mw.attrs["keras_version"] = b"2.2.4"
        mw.attrs["backend"] = b"tensorflow"
        for lname, arrays in weights.items():
            g = mw.create_group(lname)
            g.attrs["weight_names"] = np.array([f"{lname}/{w}".encode() for w, _ in arrays])
            for w, a in arrays:
                g.create_dataset(f"{lname}/{w}", data=a.astype(np.float32))
