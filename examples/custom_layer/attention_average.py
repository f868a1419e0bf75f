"""AttentionAverage: the custom Keras layer of this example (feed-forward attention, Raffel & Ellis 2015),
the kind of layer most text and sensor RNN models published since 2017 end with, usually as a class of
their own written for Keras 2.

For each sequence x of shape (T, F):

    e_t = tanh(x_t . w + b)            one score per timestep (w: (F, 1), b: (1,))
    e_t = e_t - 1e9  at masked steps   (when a mask arrives: padding never gets attention)
    a   = softmax(e) over the T steps
    y   = sum_t a_t * x_t              shape (F,)

kerasc knows nothing of this class: kerasc_attention_average.py (beside it) teaches it, through
kerasc.extend. The class is written once with TensorFlow ops and defined for both Keras 3 (`keras`) and
Keras 2 (`tf_keras`), so the same layer is in a .keras file and in a Keras 2 .h5 file.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

MASK_PENALTY = -1e9  # added to the score of a masked step; kerasc's C adds the same


def define(keras: Any) -> type:
    """The layer class for `keras` (the keras package, or tf_keras)."""

    class AttentionAverage(keras.layers.Layer):
        """Attention-weighted average over time: (batch, T, F) -> (batch, F)."""

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.supports_masking = True

        def build(self, input_shape: Any) -> None:
            features = int(input_shape[-1])
            self.w = self.add_weight(name="w", shape=(features, 1), initializer="glorot_uniform")
            self.b = self.add_weight(name="b", shape=(1,), initializer="zeros")
            super().build(input_shape)

        def call(self, x: Any, mask: Any = None) -> Any:
            e = tf.tanh(tf.matmul(x, self.w) + self.b)[..., 0]  # (batch, T)
            if mask is not None:
                e = e + (1.0 - tf.cast(mask, e.dtype)) * MASK_PENALTY
            a = tf.nn.softmax(e, axis=1)
            return tf.reduce_sum(a[..., None] * x, axis=1)

        def compute_mask(self, x: Any, mask: Any = None) -> None:
            return None  # the output is a vector: no time axis left to mask

        def compute_output_shape(self, input_shape: Any) -> tuple:
            return (input_shape[0], input_shape[-1])

    return AttentionAverage


_classes: dict[str, type] = {}


def keras_class(keras: Any) -> type:
    """The class for the Keras package loading a file (what kerasc_attention_average.py registers)."""
    key = keras.__name__
    if key not in _classes:
        cls = define(keras)
        if key == "keras":  # a .keras file names the class by its registered name, kerasc_example>AttentionAverage
            cls = keras.saving.register_keras_serializable(package="kerasc_example")(cls)
        _classes[key] = cls
    return _classes[key]
