"""lower: a ModelRecord (layer records and edges) -> the nodes and tensors of the model, then kerasc.plan.

Lowering walks the Keras layers in topological order and turns each call into nodes wired by tensors
(a wrapper such as Bidirectional becomes several nodes; layers that compute nothing at inference are
skipped; a BatchNormalization after a linear Dense is folded into it). What it needs to know about a
layer class (mask role, token ids, initial_state, identity) it reads from the class's LayerTraits
(kerasc.layers); the nodes come from the layer handlers. It tracks the time axes (a layer that changes
the length makes a derived Domain) and Keras' implicit mask propagation, and hands the wired graph to
kerasc.plan, which orders it into phases and buffers.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Optional

from . import names, plan
from .errors import ConversionError
from .ir import TOKEN_CTYPE, Domain, ModelIR, Node, Tensor
from .layers import MAX_UNITS, REGISTRY, Context, Mask, to_node, traits
from .layers import noop
from .layers.merge import merge_node
from .layers.wrappers import bidirectional_parts
from .load import LayerRecord, ModelRecord, load, tensor_refs

MAX_TIMESTEPS = (1 << 31) - 1  # NAME_predict takes `int timesteps`
# InputLayer dtypes of token inputs: Keras' Embedding casts anything but int32/int64 to int32
# (float32 is what tf_keras' Sequential gives an Embedding-first model's input).
TOKEN_DTYPES = ("int32", "int64", "int16", "int8", "uint8", "uint16", "uint32", "uint64", "float32")
# mask_of value of a tensor whose Keras mask exists but is True everywhere (Keras 3's Concatenate of a
# masked and an unmasked input: any() over the features); the layers downstream run unmasked.
ALL_TRUE = -1


def token_readers() -> tuple[str, ...]:
    """The Keras classes that read token ids (LayerTraits.tokens), in registry order."""
    return tuple(c for c in REGISTRY if traits(c).tokens)


def _with_initial_state() -> tuple[str, ...]:
    return tuple(c for c in REGISTRY if traits(c).initial_state)


def build(source: Any, name: Optional[str] = None) -> ModelIR:
    """Load any model source and lower it to the IR.

    Errors name the source file: a file from a colleague or an old disk may hold anything, so
    a malformed config (a missing key, a value of the wrong type) is a ConversionError too."""
    where = str(source) if isinstance(source, (str, os.PathLike)) else None
    try:
        return lower(load(source), name)
    except ConversionError as exc:
        msg = str(exc)
        if where and not msg.startswith(where) and Path(where).name not in msg.split(":")[0]:
            msg = f"{where}: {msg}"
        raise ConversionError(msg) from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OSError) as exc:
        raise ConversionError(f"{where or 'model'}: malformed model ({type(exc).__name__}: {exc})") from None


@dataclasses.dataclass
class _T:
    """A tensor while the graph is being built (mutable; frozen into ir.Tensor at the end)."""

    width: int
    seq: bool
    producer: int
    port: int
    ref: str
    domain: int = -1
    keras_layer: Optional[str] = None
    keras_port: int = 0
    ctype: str = "float"


class _Builder:
    def __init__(self, prefix: str, source: str, legacy: bool = False):
        self.prefix = prefix
        self.source = source
        self.legacy = legacy  # saved by Keras 2: its definitions apply
        self.nodes: list[Node] = []
        self.tensors: list[_T] = []
        self.parent: list[int] = []  # union-find over time axes (model input indices, then derived axes)
        self.derived: dict[int, Domain] = {}  # time axes made by layers that change the length
        self.fixed: list[Optional[int]] = []  # per time axis: its length when fixed
        self.pins: Optional[int] = None  # set by _pinned: the length the node being added must check

    # -- time axes: inputs whose sequences meet in one node must have the same length
    def find(self, d: int) -> int:
        while self.parent[d] != d:
            d = self.parent[d]
        return d

    def unite(self, tensors: list[int], rec: LayerRecord) -> int:
        roots = sorted({self.find(self.tensors[t].domain) for t in tensors if self.tensors[t].seq})
        if len(roots) > 1:
            roots = self._same_derived(roots, rec)
        for r in roots[1:]:
            self.parent[r] = roots[0]
        return roots[0] if roots else -1

    def _key(self, d: int) -> Any:
        """What the length of time axis d is computed from, and how: equal keys, equal lengths."""
        root = self.find(d)
        if root not in self.derived:
            return root
        dom = self.derived[root]
        return (self._key(dom.parent) if dom.parent >= 0 else -1, dom.add, dom.div, dom.plus, dom.const)

    def _same_derived(self, roots: list[int], rec: LayerRecord) -> list[int]:
        """Sequences whose lengths a layer changed may meet only when their lengths are always equal: the
        same function of the same inputs, or the same constant (RepeatVector, Reshape, Permute). (A model
        input built for a fixed length still runs at any length the C caller passes.)"""
        derived = [r for r in roots if r in self.derived]
        keys = {self._key(r) for r in roots}
        consts = {k[4] if isinstance(k, tuple) and k[0] == -1 else None for k in keys}
        if self._pinned(roots, derived, consts):
            return roots
        if derived and len(keys) > 1 and (len(derived) != len(roots) or len(consts) > 1 or None in consts):
            whys = sorted({self.derived[r].why for r in derived})
            raise ConversionError(f"layer '{rec.name}' ({rec.class_name}) meets sequences whose lengths may differ "
                                  f"(changed by {', '.join(whys)}); supported: sequences of one time axis")
        return roots

    def _pinned(self, roots: list[int], derived: list[int], consts: set) -> bool:
        """A constant time axis (RepeatVector, Permute) meets model inputs built for that same fixed length
        (attention pooling: the weights repeated and permuted back onto the sequence). The node where they
        meet then checks, in C, that the inputs have that length (`pins`, read by `add`)."""
        plain = [r for r in roots if r not in self.derived]
        consts = {k[4] if isinstance(k, tuple) else None for k in map(self._key, derived)}  # const: any parent
        if not derived or not plain or len(consts) != 1 or None in consts:
            return False
        n = next(iter(consts))
        if any(self.fixed[r] != n for r in plain):
            return False
        self.pins = n
        return True

    def new_domain(self, dom: Domain) -> int:
        d = len(self.parent)
        self.parent.append(d)
        self.derived[d] = dataclasses.replace(dom, index=d)
        n = self.fixed[dom.parent] if dom.parent >= 0 else 0
        self.fixed.append(dom.of(n) if dom.const is not None or n is not None else None)
        return d

    def add_input(self, k: int, width: int, seq: bool, ref: str, keras_layer: str,
                  timesteps: Optional[int] = None, ctype: str = "float") -> int:
        self.parent.append(k)
        self.fixed.append(timesteps)
        self.tensors.append(_T(width, seq, -1, k, ref, k if seq else -1, keras_layer, 0, ctype))
        return len(self.tensors) - 1

    def add(self, make: Any, rec: LayerRecord, inputs: list[int], *, init: tuple[int, ...] = (),
            mask: Optional[int] = None, reversed_inputs: Optional[tuple[bool, ...]] = None,
            part: str = "", masks: tuple[bool, ...] = ()) -> list[int]:
        """Make the node for `rec` on these tensors; return the tensors of its output ports."""
        ins = [self.tensors[t] for t in inputs]
        if not traits(rec.class_name).tokens and any(t.ctype == TOKEN_CTYPE for t in ins):
            raise ConversionError(f"layer '{rec.name}' ({rec.class_name}) reads token ids (an integer input); "
                                  f"supported: token ids feed only {', '.join(token_readers())} layers")
        steps = self.fixed[self.find(ins[0].domain)] if ins[0].seq else None
        ctx = Context(index=len(self.nodes), prefix=self.prefix, in_width=ins[0].width, in_seq=ins[0].seq,
                      in_timesteps=steps, masks=masks,
                      in_steps=tuple(self.fixed[self.find(t.domain)] if t.seq else None for t in ins),
                      in_widths=tuple(t.width for t in ins), in_seqs=tuple(t.seq for t in ins),
                      masked=mask is not None, init_widths=tuple(self.tensors[t].width for t in init),
                      legacy=self.legacy, in_ctype=ins[0].ctype)
        node = make(rec, ctx)
        for t in init:
            if self.tensors[t].seq:
                raise ConversionError(f"layer '{rec.name}' ({rec.class_name}): an initial state has a time axis; "
                                      "supported: vectors (batch, units)")
        shared = list(inputs) if node.shared_time is None else [inputs[i] for i in node.shared_time]
        self.pins = None
        domain = self.unite(shared + ([mask] if mask is not None else []), rec)
        if self.pins is not None and node.fixed_in is None:
            node = dataclasses.replace(node, fixed_in=self.pins)
        if node.time is not None:  # the layer changes the length of the time axis
            domain = self.new_domain(Domain(0, domain if domain >= 0 else -1, why=f"'{rec.name}' ({rec.class_name})",
                                            **dataclasses.asdict(node.time)))
            if self.fixed[domain] is not None and self.fixed[domain] < 1:
                raise ConversionError(f"layer '{rec.name}' ({rec.class_name}) turns {steps} timesteps into "
                                      f"{self.fixed[domain]}; supported: at least one output timestep")
        if mask is not None and (not self.tensors[mask].seq or self.tensors[mask].width != 1):
            raise ConversionError(f"layer '{rec.name}' ({rec.class_name}): its mask is not a (batch, timesteps) "
                                  "mask; supported: the mask of a Masking layer")
        rev = reversed_inputs if reversed_inputs is not None else (node.go_backwards,) + (False,) * (len(inputs) - 1)
        node = dataclasses.replace(node, inputs=tuple(inputs), init=tuple(init), mask=mask,
                                   reversed_inputs=tuple(rev), part=part or node.part)
        outs = []
        for k, port in enumerate(node.ports):
            self.tensors.append(_T(port.width, port.seq, node.index, k, port.ref, domain if port.seq else -1))
            outs.append(len(self.tensors) - 1)
        self.nodes.append(dataclasses.replace(node, outputs=tuple(outs)))
        return outs


def lower(record: ModelRecord, name: Optional[str] = None) -> ModelIR:
    if name is not None:
        prefix = names.validate(name)
    else:
        prefix = names.check_file_safe(names.sanitize(record.name),
                                       f"{record.source}: the default name {names.sanitize(record.name)[:60]!r}")
    b = _Builder(prefix, record.source, record.legacy)
    by_name = {r.name: r for r in record.layers}
    if len(by_name) != len(record.layers):
        seen: set[str] = set()
        dup = next(r.name for r in record.layers if r.name in seen or seen.add(r.name))
        raise ConversionError(f"{record.source}: two layers are named '{dup}'; layer names must be unique")
    order = topological(record, by_name)
    produced: dict[tuple[str, int], int] = {}
    mask_of: dict[int, Optional[int]] = {}  # the mask a tensor carries (Keras' implicit propagation)
    if not record.inputs:
        raise ConversionError(f"{record.source}: the model has no inputs")
    single_in = len(record.inputs) == 1
    in_specs = []
    mask_only = mask_only_layers(record, order)
    reads = readers(record, order, mask_only)
    for k, ref in enumerate(record.inputs):
        rec = by_name.get(ref[0])
        if rec is None or rec.class_name != "InputLayer":
            raise ConversionError(f"{record.source}: model input '{ref[0]}' is not an InputLayer")
        width, seq, timesteps, ctype = input_spec(rec, record.source, layer_readers(reads, rec.name))
        t = b.add_input(k, width, seq, "x" if single_in else f"x{k}", rec.name, timesteps, ctype)
        produced[(rec.name, 0)] = t
        mask_of[t] = None
        in_specs.append((rec.name, timesteps))
    input_names = {r[0] for r in record.inputs}

    def tensor(ref: tuple[str, int, int], user: LayerRecord) -> int:
        if ref[1] != 0 or (ref[0], ref[2]) not in produced:
            raise ConversionError(f"layer '{user.name}' ({user.class_name}) reads output {ref[2]} of call {ref[1]} "
                                  f"of '{ref[0]}', which kerasc does not have; supported: each layer called once")
        return produced[(ref[0], ref[2])]

    functional = record.class_name != "Sequential"
    for rec in order:
        if rec.name in mask_only:
            continue
        if rec.class_name == "InputLayer":
            if rec.name not in input_names:
                raise ConversionError(f"{record.source}: InputLayer '{rec.name}' is not a model input")
            continue
        if len(rec.inbound) != 1:
            raise ConversionError(f"layer '{rec.name}' ({rec.class_name}) is called {len(rec.inbound)} times; "
                                  "supported: each layer called once (shared layers are not supported)")
        refs = rec.inbound[0]
        kwargs = dict(rec.call_kwargs[0]) if rec.call_kwargs else {}
        init_refs = tensor_refs(kwargs.pop("initial_state", None))
        mask_refs = tensor_refs(kwargs.pop("mask", None))
        kwargs.pop("training", None)
        rest = {k: v for k, v in kwargs.items() if v is not None}
        rest = {k: v for k, v in rest.items() if k not in traits(rec.class_name).call_args}  # its handler's
        if rest:
            raise ConversionError(f"layer '{rec.name}' ({rec.class_name}) is called with {', '.join(sorted(rest))}; "
                                  "supported call arguments: the inputs, initial_state (recurrent layers), mask")
        traits_ = traits(rec.class_name)
        if traits_.initial_state and len(refs) > 1:  # layer(x, [h, c]): states given positionally
            refs, init_refs = refs[:1], list(refs[1:]) + list(init_refs)
        if not refs:
            raise ConversionError(f"layer '{rec.name}' ({rec.class_name}) has no tensor input")
        inputs = [tensor(r, rec) for r in refs]
        init = tuple(tensor(r, rec) for r in init_refs)
        if init and not traits_.initial_state:
            raise ConversionError(f"layer '{rec.name}' ({rec.class_name}) is called with initial_state; supported "
                                  f"only for {', '.join(_with_initial_state())}")
        carried = _carried_mask(rec, inputs, mask_of) if traits_.mask is not Mask.ATTEND else None
        if mask_refs and carried is None and traits_.mask is not Mask.ATTEND:
            raise ConversionError(f"layer '{rec.name}' ({rec.class_name}) is called with a mask that does not come "
                                  "from a Masking layer; supported: masks made by Masking or Embedding(mask_zero=True)")
        # Keras propagates the mask (Sequential) or records, per call, that the layer receives one
        # (Functional: the `mask` argument, whose computation is saved as op layers). Keras 3.15 records
        # none for a call with initial_state, and such a layer then runs unmasked: so does kerasc. Keras 2
        # (tf_keras, legacy files) propagates masks implicitly in Functional models and saves no trace of it.
        # Dense and merges compute the same with or without the mask.
        receives = not functional or b.legacy or bool(mask_refs)
        mask = carried if traits_.mask.received and receives and carried != ALL_TRUE else None
        if traits_.mask is Mask.MERGE_VALUES and carried not in (None, ALL_TRUE):
            raise ConversionError(f"layer '{rec.name}' ({rec.class_name}) merges masked inputs, where Keras "
                                  "substitutes values at masked timesteps; supported: Add, Subtract, Average, "
                                  "Concatenate on masked inputs, or Multiply/Maximum/Minimum without a mask")
        if traits_.identity:  # identity at inference: the output is the input (and its mask)
            noop.check(rec, len(inputs))
            produced[(rec.name, 0)] = inputs[0]
            continue
        if rec.class_name == "BatchNormalization" and _fold_batch_norm(b, rec, inputs, reads):
            produced[(rec.name, 0)] = inputs[0]  # the Dense before it now computes its output (and keeps its mask)
            continue
        if rec.class_name == "Bidirectional":
            outs = _bidirectional(b, rec, inputs, init, mask)
        elif traits_.mask is Mask.ATTEND:
            outs, carried = _attend(b, rec, inputs, mask_of)
        else:
            outs = b.add(to_node, rec, inputs, init=init, mask=mask)
        for k, t in enumerate(outs):
            mask_of[t] = _out_mask(rec, k, b, outs, carried, [mask_of.get(i) for i in inputs])
            if traits_.mask is Mask.MAKE and k > 0:
                continue  # the mask: internal, Keras' Masking and Embedding have one output
            keras_ref = rec.keras_ports[k] if rec.keras_ports is not None else (rec.name, k)
            if keras_ref is not None:  # (None: a value inside a Keras layer, see rnn_api)
                b.tensors[t].keras_layer, b.tensors[t].keras_port = keras_ref
            produced[(rec.name, k)] = t
    outputs = []
    for ref in record.outputs:
        if (ref[0], ref[2]) not in produced or ref[1] != 0:
            raise ConversionError(f"{record.source}: model output {list(ref)} is not produced by the model's layers")
        t = produced[(ref[0], ref[2])]
        if b.tensors[t].producer < 0:
            raise ConversionError(f"{record.source}: model output '{ref[0]}' is a model input; supported: outputs "
                                  "computed by layers")
        if t in outputs:
            raise ConversionError(f"{record.source}: tensor {list(ref)} is a model output twice; supported: distinct "
                                  "outputs")
        outputs.append(t)
    if not outputs:
        raise ConversionError(f"{record.source}: the model has no outputs")
    if not b.nodes:
        raise ConversionError(f"{record.source}: the model has no layers to convert")
    return _finish(record, prefix, b, outputs, in_specs)


def mask_only_layers(record: ModelRecord, order: list[LayerRecord]) -> set[str]:
    """Layers that only compute masks (Functional configs record Keras' mask propagation as op layers:
    NotEqual, Any, ExpandDims, ZerosLike, LogicalOr, Concatenate on masks, ...). kerasc recomputes
    masks itself, so these are skipped."""
    uses: dict[str, list[tuple[str, bool]]] = {}  # producer -> [(consumer, as mask)]
    for rec in order:
        for node, kwargs in zip(rec.inbound, rec.call_kwargs or [{}] * len(rec.inbound)):
            for ref in node:
                uses.setdefault(ref[0], []).append((rec.name, False))
            for key, value in kwargs.items():
                for ref in tensor_refs(value):
                    uses.setdefault(ref[0], []).append((rec.name, key == "mask"))
    outputs = {r[0] for r in record.outputs}
    only: set[str] = set()
    for rec in reversed(order):
        use = uses.get(rec.name, [])
        if rec.class_name != "InputLayer" and rec.name not in outputs and use and \
                all(as_mask or consumer in only for consumer, as_mask in use):
            only.add(rec.name)
    return only


def readers(record: ModelRecord, order: list[LayerRecord], mask_only: set[str]
           ) -> dict[tuple[str, int], list[Optional[LayerRecord]]]:
    """Who reads each layer output (layer name, output index): the layers, once per read (mask-only op
    layers aside), and None once per time it is a model output."""
    reads: dict[tuple[str, int], list[Optional[LayerRecord]]] = {}
    for rec in order:
        if rec.name in mask_only:
            continue
        for node, kwargs in zip(rec.inbound, rec.call_kwargs or [{}] * len(rec.inbound)):
            for ref in list(node) + tensor_refs(list(kwargs.values())):
                reads.setdefault((ref[0], ref[2]), []).append(rec)
    for ref in record.outputs:
        reads.setdefault((ref[0], ref[2]), []).append(None)
    return reads


def layer_readers(reads: dict[tuple[str, int], list[Optional[LayerRecord]]], name: str) -> list[LayerRecord]:
    """The layers that read output 0 of layer `name` (a model input), from `readers`."""
    return [r for r in reads.get((name, 0), []) if r is not None]


def _fold_batch_norm(b: _Builder, rec: LayerRecord, inputs: list[int],
                     reads: dict[tuple[str, int], list[Optional[LayerRecord]]]) -> bool:
    """Fold BatchNormalization `rec` into the Dense that feeds it, when that Dense has a linear activation
    and nothing else reads its output: the Dense then computes the BatchNormalization's output (verify
    compares it there), with kernel and bias rescaled per unit. Returns whether it folded."""
    from .layers.normalization import fold_into_dense

    t = b.tensors[inputs[0]] if len(inputs) == 1 else None
    if t is None or t.producer < 0 or t.keras_layer is None:
        return False
    dense = b.nodes[t.producer]
    if dense.kind != "dense" or dense.keras_class != "Dense" or dense.options.get("activation") != "linear" \
            or dense.options.get("folded") or len(reads.get((t.keras_layer, t.keras_port), [])) != 1:
        return False
    ctx = Context(index=dense.index, prefix=b.prefix, in_width=t.width, in_seq=t.seq, in_widths=(t.width,),
                  in_seqs=(t.seq,), legacy=b.legacy)
    b.nodes[dense.index] = fold_into_dense(rec, dense, ctx)
    t.keras_layer, t.keras_port = rec.name, 0
    return True


def _carried_mask(rec: LayerRecord, inputs: list[int], mask_of: dict[int, Optional[int]]) -> Optional[int]:
    masks = {mask_of.get(t) for t in inputs} - {None}
    if len(masks) > 1 and ALL_TRUE in masks and traits(rec.class_name).mask is not Mask.MERGE_VALUES:
        return ALL_TRUE  # only Keras 3 makes ALL_TRUE; its merges OR the masks of their inputs
    if len(masks) > 1:
        raise ConversionError(f"layer '{rec.name}' ({rec.class_name}) merges tensors masked by different Masking "
                              "layers; supported: one mask per time axis")
    return next(iter(masks), None)


def _attend(b: _Builder, rec: LayerRecord, inputs: list[int],
            mask_of: dict[int, Optional[int]]) -> tuple[list[int], Optional[int]]:
    """An attention layer [query, value(, key)]: Keras hands its call the mask of each input (Keras 3 and
    tf_keras alike, also in Functional models that record none), uses the query's and the value's, and
    gives its output the query's. The masks follow the data inputs; returns the outputs and the query's mask."""
    ms = [mask_of.get(t) for t in inputs[:2]]
    ms = [None if m == ALL_TRUE else m for m in ms]
    extra = [m for m in ms if m is not None]
    outs = b.add(to_node, rec, list(inputs) + extra, masks=tuple(m is not None for m in ms)
                 + (False,) * (len(inputs) - 2))
    return outs, ms[0]


def _out_mask(rec: LayerRecord, port: int, b: _Builder, outs: list[int], carried: Optional[int],
              in_masks: list[Optional[int]]) -> Optional[int]:
    """The mask Keras attaches to output `port` (compute_mask), for Sequential models and checks."""
    t = b.tensors[outs[port]]
    if not t.seq:
        return None
    role = traits(rec.class_name).mask
    if role is Mask.ATTEND:
        return carried if port == 0 else None
    if role is Mask.MAKE:
        return outs[1] if port == 0 and len(outs) > 1 else None
    if role is Mask.CONCAT and not b.legacy and carried is not None \
            and (None in in_masks or ALL_TRUE in in_masks):
        return ALL_TRUE  # Keras 3 ORs the feature masks (ones for an unmasked input); Keras 2 ANDs them
    if role.merges and not b.legacy and None in in_masks:
        return None  # Keras 3's other merges drop the mask when an input has none; Keras 2 keeps the others'
    if role.passed:
        return carried
    return None


def _bidirectional(b: _Builder, rec: LayerRecord, inputs: list[int], init: tuple[int, ...],
                   mask: Optional[int]) -> list[int]:
    if len(inputs) != 1:
        raise ConversionError(f"layer '{rec.name}' (Bidirectional) is called on {len(inputs)} tensors; supported: one")
    fwd, bwd, mode = bidirectional_parts(rec)
    if len(init) % 2:
        raise ConversionError(f"layer '{rec.name}' (Bidirectional): initial_state has {len(init)} tensors; supported: "
                              "the forward states followed by the backward states")
    half = len(init) // 2
    f_outs = b.add(to_node, fwd, inputs, init=init[:half], mask=mask, part="forward")
    b_outs = b.add(to_node, bwd, inputs, init=init[half:], mask=mask, part="backward")
    f_node, b_node = b.nodes[-2], b.nodes[-1]
    for n in (f_node, b_node):
        b.nodes[n.index] = dataclasses.replace(n, keras_name=rec.name, keras_class="Bidirectional",
                                               inner_class=n.keras_class,
                                               summary=f"{n.summary} [{n.part}]")
    y, y_rev = f_outs[0], b_outs[0]
    seq = b.tensors[y].seq
    flip = (False, True) if seq else (False, False)  # Keras flips y_rev along time when it is a sequence

    def merge(op: str, ins: list[int], rev: tuple[bool, ...], part: str) -> int:
        def make(r: LayerRecord, ctx: Context) -> Node:
            return merge_node(ctx, op, rec.name, "Bidirectional", ctx.in_widths, ctx.in_seqs, part=part)

        return b.add(make, rec, ins, reversed_inputs=rev, part=part)[0]

    if mode == "none":
        outs = [y, merge("copy", [y_rev], (True,), "backward output in input order") if seq else y_rev]
    else:
        outs = [merge(mode, [y, y_rev], flip, f"merge_mode {rec.config.get('merge_mode')!r}")]
    return outs + list(f_outs[1:]) + list(b_outs[1:])


def topological(record: ModelRecord, by_name: dict[str, LayerRecord]) -> list[LayerRecord]:
    order: list[LayerRecord] = []
    state: dict[str, int] = {}

    def visit(rec: LayerRecord, path: tuple[str, ...]) -> None:
        s = state.get(rec.name, 0)
        if s == 2:
            return
        if s == 1:
            raise ConversionError(f"{record.source}: the layer graph has a cycle through {' -> '.join(path)}")
        state[rec.name] = 1
        for node, kwargs in zip(rec.inbound, rec.call_kwargs or [{}] * len(rec.inbound)):
            for ref in list(node) + tensor_refs(list(kwargs.values())):
                dep = by_name.get(ref[0])
                if dep is None:
                    raise ConversionError(f"layer '{rec.name}' ({rec.class_name}) reads '{ref[0]}', which is not a "
                                          "layer of the model")
                visit(dep, path + (dep.name,))
        state[rec.name] = 2
        order.append(rec)

    for rec in record.layers:
        visit(rec, (rec.name,))
    return order


def _input_dtype(rec: LayerRecord) -> Any:
    dtype = rec.config.get("dtype", "float32")
    if isinstance(dtype, dict):
        dtype = dtype.get("config", {}).get("name", "float32")
    return "float32" if dtype is None else dtype


def input_spec(rec: LayerRecord, source: str, readers: list[LayerRecord]) -> tuple[int, bool, Optional[int], str]:
    """(features, has a time axis, fixed timesteps or None, C type) of a model input.

    An input read only by Embedding layers holds token ids: Keras' shape (batch, timesteps) is a
    sequence of one int32_t per timestep."""
    shape = rec.config.get("batch_shape") or rec.config.get("batch_input_shape")
    if shape is None and rec.config.get("shape") is not None:
        shape = [None] + list(rec.config["shape"])
    dtype = _input_dtype(rec)
    tokens = bool(readers) and all(traits(r.class_name).tokens for r in readers)
    if dtype != "float32" and not (tokens and dtype in TOKEN_DTYPES):
        if not tokens and dtype in TOKEN_DTYPES and readers:
            other = next(r for r in readers if not traits(r.class_name).tokens)
            raise ConversionError(f"{source}: input '{rec.name}' has dtype {dtype!r} and feeds '{other.name}' "
                                  f"({other.class_name}); supported: integer inputs feed only "
                                  f"{', '.join(token_readers())} layers, other inputs are float32")
        raise ConversionError(f"{source}: input '{rec.name}' has dtype {dtype!r}; supported: float32, or token ids "
                              f"({', '.join(TOKEN_DTYPES[:-1])}) read by {', '.join(token_readers())} layers")
    if rec.config.get("sparse") or rec.config.get("ragged"):
        raise ConversionError(f"{source}: input '{rec.name}' is sparse or ragged; supported: dense tensors")
    if tokens:
        if not isinstance(shape, (list, tuple)) or len(shape) != 2:
            raise ConversionError(f"{source}: input '{rec.name}' of token ids has shape {shape!r}; supported: "
                                  "(batch, timesteps), one token per timestep")
        T = shape[1]
        if not (T is None or (isinstance(T, int) and not isinstance(T, bool) and 0 < T <= MAX_TIMESTEPS)):
            raise ConversionError(f"{source}: input '{rec.name}' has shape {shape!r}; timesteps must be a positive "
                                  f"integer up to {MAX_TIMESTEPS} or None")
        return 1, True, (int(T) if T is not None else None), TOKEN_CTYPE
    if not isinstance(shape, (list, tuple)) or len(shape) not in (2, 3):
        raise ConversionError(f"{source}: input '{rec.name}' has shape {shape!r}; supported: (batch, timesteps, "
                              "features) for sequences or (batch, features) for vectors")
    dims = list(shape[1:])
    limits = [MAX_TIMESTEPS] * (len(dims) - 1) + [MAX_UNITS]
    if not all(d is None or (isinstance(d, int) and not isinstance(d, bool) and 0 < d <= lim)
               for d, lim in zip(dims, limits)):
        raise ConversionError(f"{source}: input '{rec.name}' has shape {shape!r}; features must be a positive "
                              f"integer up to {MAX_UNITS}, timesteps one up to {MAX_TIMESTEPS} or None")
    if dims[-1] is None:
        raise ConversionError(f"{source}: input '{rec.name}' has an unknown feature size; it must be fixed")
    if len(dims) == 2:
        return int(dims[1]), True, (int(dims[0]) if dims[0] is not None else None), "float"
    return int(dims[0]), False, None, "float"


def _finish(record: ModelRecord, prefix: str, b: _Builder, outputs: list[int],
            in_specs: list[tuple[str, Optional[int]]]) -> ModelIR:
    """Resolve the time axes, freeze the tensors and hand the graph to kerasc.plan."""
    for t in b.tensors:
        if t.seq:
            t.domain = b.find(t.domain)
    domains = tuple(dataclasses.replace(b.derived[d], parent=b.find(b.derived[d].parent)
                                        if b.derived[d].parent >= 0 else -1)
                    if d in b.derived else Domain(d, -1) for d in range(len(b.parent)))
    tensors = tuple(Tensor(i, t.width, t.seq, t.producer, t.port, t.keras_layer, t.keras_port, t.domain, t.ref,
                           t.ctype) for i, t in enumerate(b.tensors))
    return plan.plan(plan.Graph(prefix, record.source, record.keras_version, tuple(b.nodes), tensors, tuple(outputs),
                                tuple(in_specs), domains))


def lower_alone(rec: LayerRecord, shapes: list[tuple[int, bool, Optional[int]]], record: ModelRecord,
                prefix: str) -> ModelIR:
    """`rec` lowered as the only layer of a model whose inputs have these (width, has a time axis, timesteps)
    shapes (its call's other arguments, initial states and masks, are left out: they do not change the
    layer's nodes). Inspect lists a model convert refuses layer by layer this way."""
    taken = {r.name for r in record.layers}
    in_names = []
    for k in range(len(shapes)):
        base = f"{rec.name}_input_{k}"
        while base in taken:
            base += "_"
        taken.add(base)
        in_names.append(base)
    tokens = traits(rec.class_name).tokens  # reads token ids (batch, timesteps)

    def spec(width: int, seq: bool, steps: Optional[int]) -> dict:
        if tokens:
            return {"batch_shape": [None, steps], "dtype": "int32"}
        return {"batch_shape": [None, steps, width] if seq else [None, width]}

    inputs = [LayerRecord(n, "InputLayer", {"name": n, **spec(*s)}, []) for n, s in zip(in_names, shapes)]
    alone = dataclasses.replace(rec, inbound=[[(n, 0, 0) for n in in_names]], call_kwargs=[{}], call_args=[])
    mini = ModelRecord(record.name, record.source, record.keras_version, "Functional", inputs + [alone],
                       [(n, 0, 0) for n in in_names], [(rec.name, 0, 0)], record.legacy)
    return lower(mini, prefix)
