"""keras_bridge: the only module that imports Keras (or TensorFlow, or tf_keras).

Everything else in kerasc works on plain records (kerasc.load) and never touches a Keras object, so
`kerasc convert` runs without TensorFlow. What needs live Keras comes here: importing it quietly
(MissingExtraError when the `[verify]` extra is absent), loading a file with the Keras that saved it,
sub-models that give the output of every layer (verify's traces), stateful resets, and TensorFlow's
`tf.function` for bench's Keras timings."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from .errors import ConversionError, MissingExtraError


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null while native libraries initialise (Python exceptions
    are unaffected: they are raised, not printed, inside the block)."""
    if "tensorflow" in sys.modules:
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_keras() -> Any:
    """Keras with the TensorFlow backend, quietly; MissingExtraError if it is not installed."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        with _native_stderr_silenced():  # TensorFlow's C++ start-up chatter ignores TF_CPP_MIN_LOG_LEVEL
            import keras
    except ImportError as exc:
        raise MissingExtraError(
            f"this needs Keras and TensorFlow as ground truth, which are not installed ({exc}); "
            "install them with: pip install 'kerasc[verify]'"
        ) from None
    return keras


def import_tf_keras() -> Any:
    """tf_keras (Keras 2), the ground truth for files saved by Keras 2; MissingExtraError if absent."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        import tf_keras
    except ImportError as exc:
        raise MissingExtraError(
            f"this model was saved by Keras 2, so verifying it needs tf_keras (Keras 2) as ground truth, which is "
            f"not installed ({exc}); install it with: pip install 'kerasc[verify]'"
        ) from None
    return tf_keras


def load_keras_model(source: Any) -> Any:
    """A live model as is; a file loaded by the Keras that saved it (tf_keras for Keras 2 files)."""
    if not isinstance(source, (str, Path)):
        return source
    from .load import saved_by_keras2

    from .extend import custom_objects

    # The Keras classes of custom layers registered by plugins (kerasc.extend) load with the file.
    if saved_by_keras2(Path(source)):
        tf_keras = import_tf_keras()
        objs = custom_objects(tf_keras)
        load, who = (lambda: tf_keras.models.load_model(str(source), compile=False, custom_objects=objs)), "tf_keras"
    else:
        keras = import_keras()
        objs = custom_objects(keras)
        load, who = (lambda: keras.saving.load_model(str(source), compile=False, safe_mode=True,
                                                     custom_objects=objs)), "Keras"
    try:
        return load()
    except Exception as exc:  # Keras raises many types for unreadable files
        raise ConversionError(f"{source}: {who} could not load the model ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''})") from None


def framework(model: Any) -> Any:
    """The package a live model belongs to: tf_keras for Keras 2 models, else Keras 3."""
    if type(model).__module__.split(".")[0] == "tf_keras":
        return import_tf_keras()
    return import_keras()


def _keras_inputs(model: Any) -> Any:
    return model.inputs[0] if len(model.inputs) == 1 else model.inputs


def keras_layer_outputs(model: Any, names: list[str], x: Any) -> list[np.ndarray]:
    """Outputs of the named layers (their first output), from a sub-model called eagerly (DESIGN: not predict)."""
    return keras_tensor_outputs(model, [(n, 0) for n in names], x)


def keras_tensor_outputs(model: Any, refs: list[tuple[str, int]], x: Any) -> list[np.ndarray]:
    """Output `port` of each named layer, from one sub-model called eagerly; bool masks as 0.0/1.0."""
    keras = framework(model)
    nodes = _graph_nodes(model)
    tensors = [_own_output(model, nodes, name, port) for name, port in refs]
    sub = keras.Model(_keras_inputs(model), tensors)
    outs = sub(x, training=False)
    if not isinstance(outs, (list, tuple)):
        outs = [outs]
    return [numpy_of(o).astype(np.float32) for o in outs]


def _graph_nodes(model: Any) -> list[Any]:
    """The call nodes of `model`'s own graph, walked back from its outputs (Keras 3 and tf_keras nodes both
    have `parent_nodes`). A layer can have more nodes than the model uses: a loaded Sequential is built
    twice, and `layer.output` then names the node of the second build, outside the model's graph."""
    found: dict[int, Any] = {}
    stack = []
    for t in model.outputs:
        hist = getattr(t, "_keras_history", None)
        if hist is not None:
            stack.append(hist[0]._inbound_nodes[hist[1]])
    while stack:
        node = stack.pop()
        if id(node) not in found:
            found[id(node)] = node
            stack.extend(node.parent_nodes)
    return list(found.values())


def _own_output(model: Any, nodes: list[Any], name: str, port: int) -> Any:
    """Output `port` of layer `name` as the model computes it: from the layer's one node in the model's
    graph. A sub-model built on `layer.output` of another node calls that layer a second time, which
    advances a stateful layer's state twice (verify of a stateful Sequential compared the C with a
    second step). A layer the model calls twice (shared) keeps `layer.output`."""
    mine = [n for n in nodes if getattr(getattr(n, "operation", None) or getattr(n, "layer", None), "name", None) == name]
    if len(mine) == 1:
        out = mine[0].output_tensors
    else:
        out = model.get_layer(name).output
    return out[port] if isinstance(out, (list, tuple)) else out


def reset_keras_states(model: Any) -> None:
    """Keras' reset_states() on every stateful layer (Keras 3 models have no model-level call)."""
    for layer in model.layers:
        if getattr(layer, "stateful", False) and hasattr(layer, "reset_states"):
            layer.reset_states()


def numpy_of(t: Any) -> np.ndarray:
    return t.numpy() if hasattr(t, "numpy") else np.asarray(t)


def tf_function(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`tf.function(fn)` (bench's compiled Keras step)."""
    import_keras()
    import tensorflow as tf

    return tf.function(fn)
