"""layers: one module per family turns a LayerRecord into an IR Node.

This package is the only place that knows how Keras packs its weights. Each handler is
registered under its Keras class name, with a LayerDoc saying which options it implements:
check_options() accepts exactly those, and the table of supported layers (docs/layers.md) is
generated from them (`python -m kerasc.docs`), so the two cannot disagree.
"""

from __future__ import annotations

import contextlib
import contextvars
import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np

from ..errors import ConversionError
from ..ir import CArray, Node
from ..load import LayerRecord

# Options that only matter for training (or only for speed in Keras); they never change what
# inference computes. Listed in docs/layers.md; a node records which ones its layer carried.
TRAINING_ONLY = (
    "trainable", "dropout", "recurrent_dropout", "seed",
    "kernel_initializer", "recurrent_initializer", "bias_initializer", "unit_forget_bias",
    "kernel_regularizer", "recurrent_regularizer", "bias_regularizer", "activity_regularizer",
    "kernel_constraint", "recurrent_constraint", "bias_constraint",
    "unroll", "implementation",
    "embeddings_initializer", "embeddings_regularizer", "embeddings_constraint",
)
# Of those, the ones a user may wonder about when set (initializers are always present).
_WORTH_NOTING = (
    "dropout", "recurrent_dropout", "kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
    "activity_regularizer", "kernel_constraint", "recurrent_constraint", "bias_constraint", "unroll",
    "embeddings_regularizer", "embeddings_constraint",
)
# Bookkeeping keys that carry no computation.
BOOKKEEPING = ("name", "dtype", "batch_input_shape", "batch_shape", "input_shape", "input_dtype")


@dataclass(frozen=True)
class Context:
    """What a handler needs besides the record: where the layer sits and what flows in."""

    index: int
    prefix: str  # the model's C prefix
    in_width: int
    in_seq: bool
    # Every data input (merge layers take several); the first is (in_width, in_seq).
    in_widths: tuple[int, ...] = ()
    in_seqs: tuple[bool, ...] = ()
    masked: bool = False  # the call receives a mask (Masking upstream)
    init_widths: tuple[int, ...] = ()  # widths of the initial_state tensors of the call
    legacy: bool = False  # the model was saved by Keras 2: its definitions apply
    in_ctype: str = "float"  # C type of the first input: float, or ir.TOKEN_CTYPE (token ids)
    in_timesteps: Optional[int] = None  # fixed length of the first input's time axis (None: any)
    in_steps: tuple[Optional[int], ...] = ()  # per data input: the fixed length of its time axis (None: any)
    # Mask.ATTEND layers: per data input, whether its Keras mask follows the data inputs (as one more input)
    masks: tuple[bool, ...] = ()

    def activation(self, rec: LayerRecord, option: str, default: str, allowed: tuple[str, ...]) -> str:
        """The runtime name of the activation `option` of `rec` (Keras 2 names when legacy)."""
        from .. import activations

        return activations.resolve(rec.config.get(option, default), layer=rec.name, option=option,
                                   allowed=allowed, legacy=self.legacy)

    @property
    def cid(self) -> str:
        return f"l{self.index}"

    def array(self, what: str, values: np.ndarray, comment: str) -> CArray:
        return CArray(f"{self.prefix}__{self.cid}_{what}", np.ascontiguousarray(values, dtype=np.float32), comment)


@dataclass(frozen=True)
class Option:
    """One Keras option a handler implements."""

    name: str
    values: Optional[tuple] = None  # the values accepted (check_options refuses others); None: the handler checks
    doc: str = ""  # what is supported, in words, for docs/layers.md (default: derived from `values`)
    default: Any = None  # Keras' default: inspect shows only the options that differ from it


@dataclass(frozen=True)
class LayerDoc:
    """What a handler implements, for check_options, inspect and the table in docs/layers.md."""

    options: tuple[Option, ...]
    notes: str = ""
    keras2_only: bool = False  # a layer only Keras 2 had (listed after the others)

    def known(self) -> dict[str, Optional[tuple]]:
        return {o.name: o.values for o in self.options}


class Mask(enum.Enum):
    """What a layer does with a Keras mask (Keras' compute_mask and the `mask` argument of call)."""

    DROP = "drop"  # its output carries no mask
    PASS = "pass"  # its output carries the mask of its (first) input; its computation ignores it
    TAKE = "take"  # its call receives the mask (GlobalAveragePooling1D; Softmax, to refuse it); output: none
    TAKE_PASS = "take, pass"  # receives the mask and passes it on (recurrent layers)
    MAKE = "make"  # makes a mask: a second, internal output port (Masking, Embedding(mask_zero=True))
    MERGE = "merge"  # a merge: Keras 3 drops the mask when one input has none, Keras 2 keeps the others'
    MERGE_VALUES = "merge, values"  # a merge whose formula substitutes 1 or 0 at masked steps: refused masked
    CONCAT = "concat"  # Concatenate: Keras 3 ORs the masks of its inputs (ones for an unmasked one)
    ATTEND = "attend"  # Attention: receives the mask of each input (as more inputs); output: the first's

    @property
    def received(self) -> bool:
        return self in (Mask.TAKE, Mask.TAKE_PASS)

    @property
    def passed(self) -> bool:
        return self in (Mask.PASS, Mask.TAKE_PASS, Mask.MERGE, Mask.MERGE_VALUES, Mask.CONCAT)

    @property
    def merges(self) -> bool:
        return self in (Mask.MERGE, Mask.MERGE_VALUES)


def _kernel_rows(rec: LayerRecord) -> Optional[int]:
    """The input width a 2-D first weight array (a kernel [in][out]) implies."""
    w = rec.weights[0] if rec.weights else None
    return int(w.shape[0]) if getattr(w, "ndim", 0) == 2 else None


@dataclass(frozen=True)
class LayerTraits:
    """What the rest of kerasc needs to know about a Keras layer class, declared where the class is
    registered (next to its lowering). Facts that depend on the config (kernel arrays, scratch, time-axis
    changes, streaming) are typed fields of the Node the lowering returns (ir.Node: window, gather, time,
    fixed_in, stream_why, scratch, kernels)."""

    kinds: tuple[str, ...] = ()  # the node kinds its lowering makes; kind K is emitted by layers/K.c.j2
    mask: Mask = Mask.DROP
    tokens: bool = False  # reads token ids (an integer model input, int32_t in C)
    recurrent: bool = False  # a recurrent layer with `stateful` (bench makes a stateful copy of it)
    initial_state: bool = False  # its call takes initial_state (and states given positionally)
    identity: bool = False  # computes nothing at inference: its output is its input (Dropout, ...)
    # The input width its weights imply, for inspect when the input width is unknown (None: no guess).
    in_width: Callable[[LayerRecord], Optional[int]] = _kernel_rows
    template_dir: Optional[Path] = None  # the directory of K.c.j2 for its kinds K (None: kerasc's templates/layers/)
    call_args: tuple[str, ...] = ()  # call arguments its handler reads (and checks) from rec.call_kwargs


Handler = Callable[[LayerRecord, Context], Node]
REGISTRY: dict[str, Handler] = {}
DOCS: dict[str, LayerDoc] = {}
TRAITS: dict[str, LayerTraits] = {}
CUSTOM: set[str] = set()  # classes registered by plugins (kerasc.extend): the only ones a custom record may use
DEFAULT_TRAITS = LayerTraits()
# The model input is not a handler (lower.py reads it), but it belongs in the table.
INPUT_DOC = LayerDoc(options=(Option("shape", doc="`(timesteps, features)` with fixed or `None` timesteps, or "
                                                   "`(features,)`; token ids for Embedding: `(timesteps,)`"),
                              Option("dtype", doc="`float32`; an input read only by Embedding layers holds token ids "
                                                  "(any integer dtype, or float32 as Keras 2's Sequential makes it), "
                                                  "`int32_t` in C"),
                              Option("sparse", (False,)), Option("ragged", (False,))),
                     notes="one input")


def register(*class_names: str, doc: Union[LayerDoc, dict[str, LayerDoc], None] = None,
             traits: Union[LayerTraits, dict[str, LayerTraits], None] = None) -> Callable[[Handler], Handler]:
    """Register a handler for Keras classes; `doc` and `traits` are one record for all, or one per class.

    This is all a layer module does to join kerasc: lower, plan, codegen, quant, inspect and bench read
    the handler, its LayerDoc and its LayerTraits from here (see docs/architecture.md)."""
    def deco(fn: Handler) -> Handler:
        for c in class_names:
            REGISTRY[c] = fn
            spec = doc.get(c) if isinstance(doc, dict) else doc
            if spec is not None:
                DOCS[c] = spec
            t = traits.get(c) if isinstance(traits, dict) else traits
            if t is not None:
                TRAITS[c] = t
        return fn

    return deco


def unregister(*class_names: str) -> None:
    """Forget the handlers of these classes (a layer registered for a test)."""
    for c in class_names:
        REGISTRY.pop(c, None)
        DOCS.pop(c, None)
        TRAITS.pop(c, None)
        CUSTOM.discard(c)


def traits(class_name: str) -> LayerTraits:
    """The declared traits of a Keras class (defaults for InputLayer and unsupported classes)."""
    return TRAITS.get(class_name, DEFAULT_TRAITS)


def kinds() -> dict[str, Path]:
    """Every node kind the registered layers make -> the template that emits its C (codegen includes it as
    layers/<kind>.c.j2): templates/layers/<kind>.c.j2, or <kind>.c.j2 in the layer's own template_dir."""
    from .._resources import templates_dir

    out: dict[str, Path] = {}
    for t in TRAITS.values():
        for k in t.kinds:
            out[k] = (t.template_dir if t.template_dir is not None else templates_dir() / "layers") / f"{k}.c.j2"
    return out


def known_options(class_name: str) -> dict[str, Optional[tuple]]:
    """The options the handler of `class_name` implements, as check_options() takes them."""
    return DOCS[class_name].known()


def supported_layers() -> list[str]:
    """Keras class names kerasc converts: Keras 3 layers in registry order, InputLayer, then layers only
    Keras 2 had."""
    keras2 = [c for c in REGISTRY if c in DOCS and DOCS[c].keras2_only]
    return [c for c in REGISTRY if c not in keras2] + ["InputLayer"] + keras2


def to_node(rec: LayerRecord, ctx: Context) -> Node:
    handler = REGISTRY.get(rec.class_name)
    if rec.custom and rec.class_name not in CUSTOM:  # a user's class named like one of Keras' is not Keras'
        handler = None
    if handler is None:
        keras2 = [c for c in REGISTRY if c in DOCS and DOCS[c].keras2_only]
        also = f" (and from Keras 2 files: {', '.join(keras2)})" if keras2 else ""
        names = [c for c in supported_layers() if c not in keras2]
        module = rec.keras_module or ""
        if rec.custom:
            shown = rec.registered_name or rec.class_name
            raise ConversionError(
                f"layer '{rec.name}' ({rec.class_name}) is a custom layer class ({shown!r}"
                f"{f', module {module!r}' if module else ''}) that no plugin registers; to convert it, register "
                "a lowering and a C template for it with kerasc.extend.register_layer and load that plugin "
                "(--plugin MODULE|FILE.py): see docs/extending.md"
            )
        raise ConversionError(
            f"layer '{rec.name}' ({rec.class_name}) is not supported; supported layers: {', '.join(names)}{also}; "
            "a layer class of your own can be added with a plugin (kerasc.extend, docs/extending.md)"
        )
    return handler(rec, ctx)


def check_options(rec: LayerRecord, known: dict[str, Any]) -> tuple[str, ...]:
    """Refuse options kerasc does not implement, return the training-only ones present.

    `known` maps each option the handler understands to the values it supports (a tuple),
    or to None when the handler reads the value itself."""
    ignored = []
    for key, value in rec.config.items():
        if key in BOOKKEEPING:
            continue
        if key in TRAINING_ONLY:
            if key in _WORTH_NOTING and value not in (None, 0, 0.0, False):
                ignored.append(f"{key}={value!r}" if not isinstance(value, dict) else key)
            continue
        if key == "time_major":  # Keras 2: only the default layout is meaningful for a saved model
            if value:
                raise ConversionError(f"layer '{rec.name}' ({rec.class_name}): time_major=True is not supported; "
                                      "supported: time_major=False")
            continue
        if key in ("lora_rank", "lora_alpha", "quantization_config") and value in (None, 0):
            continue
        if key not in known:
            raise ConversionError(
                f"layer '{rec.name}' ({rec.class_name}): option {key}={value!r} is not supported by kerasc; "
                f"supported options: {', '.join(sorted(known))}"
            )
        allowed = known[key]
        if allowed is not None and not any(type(value) is type(a) and value == a for a in allowed):
            raise ConversionError(
                f"layer '{rec.name}' ({rec.class_name}): {key}={value!r} is not supported; "
                f"supported: {' or '.join(repr(a) for a in allowed)}"
            )
    dtype = rec.config.get("dtype")
    policy = dtype.get("config", {}).get("name") if isinstance(dtype, dict) else dtype
    if policy not in (None, "float32"):
        raise ConversionError(f"layer '{rec.name}' ({rec.class_name}): dtype policy {policy!r} is not supported; "
                              "supported: 'float32'")
    return tuple(ignored)


MAX_UNITS = 1 << 16  # far beyond any model for a microcontroller; keeps every C size an int


def positive_int(rec: LayerRecord, key: str) -> int:
    value = rec.config.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConversionError(f"layer '{rec.name}' ({rec.class_name}): {key}={value!r} must be a positive integer")
    if value > MAX_UNITS:
        raise ConversionError(f"layer '{rec.name}' ({rec.class_name}): {key}={value} is larger than kerasc supports "
                              f"({MAX_UNITS})")
    return value


def flag(rec: LayerRecord, key: str, default: bool) -> bool:
    """A boolean option; a value of another type is a malformed config, not a truthy guess."""
    value = rec.config.get(key, default)
    if not isinstance(value, bool):
        raise ConversionError(f"layer '{rec.name}' ({rec.class_name}): {key}={value!r} must be true or false")
    return value


# `kerasc gates` shows the statistics of a model with NaN/Inf weights: it lowers with the finite check off
# (the per-gate split is the same); convert, verify and inspect never do.
_NON_FINITE_OK: contextvars.ContextVar[bool] = contextvars.ContextVar("kerasc_non_finite_ok", default=False)


@contextlib.contextmanager
def non_finite_allowed():
    """Within this block, expect_weights accepts NaN/Inf weights (for `kerasc gates`' statistics only:
    a header written from such weights would not compile)."""
    token = _NON_FINITE_OK.set(True)
    try:
        yield
    finally:
        _NON_FINITE_OK.reset(token)


def expect_weights(rec: LayerRecord, shapes: list[tuple[int, ...]], names: list[str],
                   gates: Sequence[str] = ()) -> list[np.ndarray]:
    """Check the weight arrays against the shapes the config implies; refuse NaN/Inf, saying where.

    `gates`: Keras' gate order along the last axis of every array (LSTM "ifco", GRU "zrh"), so a bad
    value is reported by gate and unit, not only by its column in the fused kernel."""
    ws = rec.weights
    if len(ws) != len(shapes) or any(tuple(w.shape) != s for w, s in zip(ws, shapes)):
        got = [tuple(w.shape) for w in ws]
        raise ConversionError(
            f"layer '{rec.name}' ({rec.class_name}): weights do not match the config: expected "
            f"{', '.join(f'{n} {s}' for n, s in zip(names, shapes))}; found {got}"
        )
    out = []
    for w, n in zip(ws, names):
        w = np.asarray(w, dtype=np.float32)
        if not np.all(np.isfinite(w)) and not _NON_FINITE_OK.get():
            raise ConversionError(_non_finite(rec, n, w, gates))
        out.append(w)
    return out


# Keras' gate letters (LSTM i, f, c, o; GRU z, r, h; SimpleRNN's one unnamed gate) in words.
GATE_WORDS = {"i": "input", "f": "forget", "c": "cell candidate", "o": "output",
              "z": "update", "r": "reset", "h": "candidate", "": "cell"}
_AXES = {"kernel": ("input feature", "column"), "recurrent_kernel": ("unit of h_tm1", "column")}


def _non_finite(rec: LayerRecord, name: str, w: np.ndarray, gates: Sequence[str]) -> str:
    """Where the NaN/Inf values of weight array `name` are: how many, the first one's row and column,
    and (fused recurrent kernels) its gate and unit; the direction inside a Bidirectional."""
    bad = ~np.isfinite(w)
    n_nan, n_inf = int(np.isnan(w).sum()), int(np.isinf(w).sum())
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    counts = ", ".join(f"{k} {what}" for k, what in ((n_nan, "NaN"), (n_inf, "Inf")) if k)
    if w.ndim == 1:
        pos = f"index {first[0]}"
    elif w.ndim == 2 and name in _AXES:
        pos = f"row {first[0]} ({_AXES[name][0]} {first[0]}), column {first[1]}"
    elif w.ndim == 2 and name == "bias":  # GRU reset_after (2, 3U): row 0 input bias, row 1 recurrent bias
        pos = f"row {first[0]} ({('input', 'recurrent')[first[0]]} bias), column {first[1]}"
    else:
        pos = "index " + ", ".join(map(str, first))
    where = ""
    if gates and w.ndim >= 1 and w.shape[-1] % len(gates) == 0:
        units = w.shape[-1] // len(gates)
        g = gates[first[-1] // units]
        where = f": gate {g} ({GATE_WORDS[g]}), unit {first[-1] % units}"
    owner = f"layer '{rec.name}' ({rec.class_name})"
    parent, _, leaf = rec.name.rpartition("/")
    direction = leaf.split("_", 1)[0]
    if parent and direction in ("forward", "backward"):
        owner = f"layer '{rec.name}' ({rec.class_name}, the {direction} direction of '{parent}')"
    return (f"{owner}: {name} {tuple(w.shape)} has {counts} value(s) of {w.size}; the first at {pos}{where}; "
            "a model with NaN or Inf weights computes NaN (retrain, or fix the weights)")


from . import cudnn, dense, embedding, merge, masking, noop, recurrent, wrappers  # noqa: E402,F401  (register the handlers)
from . import activation, normalization, pooling_global  # noqa: E402,F401  (per-timestep layers)
from . import conv, pooling, reshaping  # noqa: E402,F401  (layers that change the time axis)
from . import attention  # noqa: E402,F401  (Softmax over time, Dot, Attention, AdditiveAttention)
