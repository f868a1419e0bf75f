"""The intermediate representation: the single source of truth for codegen, memory
accounting, inspect and verify. Small frozen dataclasses; the C names and sizes are
decided here (Python), so templates only loop and substitute."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

FLOAT_BYTES = 4
# NAME_predict's blocks of timesteps (kc_project): the blocks' input projections fill at most this many bytes of
# NAME_scratch, and a block has 2..PREDICT_BLOCK_MAX timesteps (kerasc convert --predict-block overrides it).
PREDICT_BLOCK_BUDGET = 16384
PREDICT_BLOCK_MAX = 16
# By default only layers whose kernels are at least this large get blocks: below it the weights stay in cache
# between steps and the split form measured no faster (benchmarks/bench_sequence.py; docs/performance.md).
PREDICT_BLOCK_MIN_WEIGHTS = 262144
TOKEN_CTYPE = "int32_t"  # C type of token-id inputs (the integer inputs of Embedding layers)


@dataclass(frozen=True, eq=False)
class CArray:
    """One `static const` array of the generated header: float, or a quantized kernel (kerasc.quant)."""

    cname: str  # full C identifier
    values: np.ndarray  # as stored in C (float32; uint16 half bit patterns; int8), shape as declared in C
    comment: str  # what it is: Keras array, gate, layout
    ctype: str = "float"  # C element type: float, uint16_t (float16 bits) or int8_t
    scale: Optional["CArray"] = None  # int8: float scale per output (last axis), W = scale * values

    @property
    def fn(self) -> str:
        """Suffix of the runtime product kernel that reads this array (kc_preact, kc_preact_f16, ...)."""
        return {"float": "", "uint16_t": "_f16", "int8_t": "_i8"}[self.ctype]

    @property
    def ref(self) -> str:
        """Arguments passing this kernel to its product kernel: the first element, then the scales (int8)."""
        return self.first + (f", {self.scale.cname}" if self.scale is not None else "")

    @property
    def null_ref(self) -> str:
        """`ref` for an absent second kernel of the same type."""
        return "NULL, NULL" if self.scale is not None else "NULL"

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.values.shape)

    @property
    def dims(self) -> str:
        """C declarator suffix, e.g. `[3][24]`."""
        return "".join(f"[{d}]" for d in self.shape)

    @property
    def first(self) -> str:
        """Pointer to the first element, e.g. `&name[0][0]`."""
        return "&" + self.cname + "[0]" * len(self.shape) if len(self.shape) > 1 else self.cname

    @property
    def nbytes(self) -> int:
        """Bytes of flash: the values at their C type, plus the scales of an int8 kernel."""
        own = int(self.values.size) * (FLOAT_BYTES if self.ctype == "float" else int(self.values.dtype.itemsize))
        return own + (self.scale.nbytes if self.scale is not None else 0)

    def literals(self) -> list[list[str]]:
        """The values as C literals, one list per row of the last axis: `%.9g` + `f` so every float32
        round-trips exactly (integers as they are)."""
        flat = self.values.reshape(-1, self.shape[-1]) if self.values.ndim > 1 else self.values.reshape(1, -1)
        fmt = c_float if self.ctype == "float" else (lambda v: str(int(v)))
        return [[fmt(v) for v in row] for row in flat]

    def definition(self, attr: str) -> str:
        """The C definition `static const T name[..] attr = {...};`, wrapped at LINE_COLUMNS columns with
        the literals right-aligned in columns (one row of the last axis per brace, several lines per row
        when it is long)."""
        rows = self.literals()
        head = f"static const {'kc_float' if self.ctype == 'float' else self.ctype} {self.cname}{self.dims} {attr} = "
        # one column width per C type, so the layout depends on the shapes only: a retrained model's
        # header differs from the old one in its numbers, line for line
        width = max([LITERAL_WIDTH[self.ctype]] + [len(v) for row in rows for v in row])
        if self.values.ndim <= 1 and len(head) + 4 + len(rows[0]) * (width + 2) <= LINE_COLUMNS:
            return head + "{ " + ", ".join(rows[0]) + " };"
        cells = [[v.rjust(width) for v in row] for row in rows]
        if self.values.ndim <= 1:
            per = max(1, (LINE_COLUMNS - 3) // (width + 2))
            vals = cells[0]
            lines = ["    " + ", ".join(vals[i:i + per]) for i in range(0, len(vals), per)]
            return head + "{\n" + ",\n".join(lines) + "\n};"
        per = max(1, (LINE_COLUMNS - 6 - 1) // (width + 2))
        out = []
        for row in cells:
            chunks = [", ".join(row[i:i + per]) for i in range(0, len(row), per)]
            out.append("    { " + ",\n      ".join(chunks) + " }")
        return head + "{\n" + ",\n".join(out) + "\n};"


LINE_COLUMNS = 100  # generated weight rows wrap before this column
LITERAL_WIDTH = {"float": 16, "uint16_t": 5, "int8_t": 4}  # widest literal: -1.17549435e-38f, 65535, -127


def c_float(v: float) -> str:
    """A float32 value as a C literal that round-trips exactly (STYLE: %.9g + f)."""
    s = "%.9g" % float(np.float32(v))
    if not any(ch in s for ch in ".en"):
        s += ".0"
    return s + "f"


@dataclass(frozen=True)
class StateVar:
    """A member of the caller-owned state struct."""

    cname: str  # member name, e.g. l0_h
    size: int
    comment: str
    persistent: bool  # True: recurrent state (zeroed by reset); False: per-step buffer


@dataclass(frozen=True)
class Gate:
    """One gate of a recurrent cell: its kernel, recurrent kernel, biases and activation."""

    name: str  # i, f, c, o / z, r, h / (SimpleRNN: "")
    activation: str
    W: CArray
    U: CArray
    b: Optional[CArray]
    rb: Optional[CArray] = None  # GRU reset_after: the recurrent bias


@dataclass(frozen=True)
class Port:
    """One output of a node: its width, whether it has a time axis, and where one step of it lives."""

    width: int
    seq: bool
    ref: str  # C expression of the buffer holding one step (or the vector), e.g. st->l0_h


@dataclass(frozen=True)
class TimeMap:
    """How a layer changes the length of the time axis: T' = (T + add) // div + plus, or the constant
    `const` (Keras' conv_output_length; RepeatVector(n), Reshape and Permute give constants)."""

    add: int = 0
    div: int = 1
    plus: int = 0
    const: Optional[int] = None


@dataclass(frozen=True)
class Node:
    """One kerasc layer block, made from one Keras layer (a wrapper such as Bidirectional
    becomes several nodes, each naming the Keras layer it is part of)."""

    index: int
    kind: str  # lstm, gru, simple_rnn, dense
    keras_name: str
    keras_class: str
    cid: str  # short C-safe id used in member and function names, e.g. l0
    in_width: int
    out_width: int
    in_seq: bool  # input has a time axis
    out_seq: bool  # output has a time axis
    out_ref: str  # where the output of one step lives, e.g. st->l0_h
    state: tuple[StateVar, ...]
    arrays: tuple[CArray, ...]
    options: dict = field(default_factory=dict)  # kind-specific, read by the kind's template
    gates: tuple[Gate, ...] = ()
    summary: str = ""  # one line for comments and inspect
    ignored: tuple[str, ...] = ()  # training-only options that do not change inference
    # Outputs beyond the first (return_state h, c; masks); port 0 is (out_width, out_seq, out_ref).
    extra_ports: tuple[Port, ...] = ()
    # Graph wiring, filled in by lower.py: tensor indices of the data inputs (in call order),
    # the initial-state inputs, the mask input, and the outputs (one per port).
    inputs: tuple[int, ...] = ()
    init: tuple[int, ...] = ()
    mask: Optional[int] = None
    outputs: tuple[int, ...] = ()
    # Per data input: read at timestep T-1-t instead of t (go_backwards, Bidirectional's flip).
    reversed_inputs: tuple[bool, ...] = ()
    part: str = ""  # which part of its Keras layer this node is (Bidirectional: forward, backward, merge)
    # What the planner (kerasc.plan) and codegen need to know, set by the layer's lowering:
    window: bool = False  # reads its whole stored input to compute each output step (non-causal conv, pooling, ...)
    gather: bool = False  # turns a whole stored sequence into one vector, once (Flatten)
    time: Optional[TimeMap] = None  # changes the length of the time axis: its output lives on a new one
    fixed_in: Optional[int] = None  # needs its input sequence to have exactly this many timesteps
    stream_why: str = ""  # why a model with this node has no NAME_step (window or time nodes), for inspect
    # The data inputs whose time axes are the output's and must have one length (None: every sequence
    # input). Attention's value and Dot's second operand keep their own time axes.
    shared_time: Optional[tuple[int, ...]] = None
    scratch: int = 0  # floats of the shared NAME_scratch it uses while it runs (0: its step takes none)
    kernels: tuple[str, ...] = ()  # cnames of the arrays that are kernels (kerasc.quant stores them as f16/i8)
    inner_class: str = ""  # the Keras class a wrapper node computes (Bidirectional(LSTM): LSTM), else ""

    @property
    def ports(self) -> tuple[Port, ...]:
        return (Port(self.out_width, self.out_seq, self.out_ref),) + self.extra_ports

    @property
    def causal(self) -> bool:
        """Output step t depends only on input steps up to t (no input read backwards)."""
        return not any(self.reversed_inputs) and not self.window

    @property
    def stateful(self) -> bool:
        return bool(self.options.get("stateful", False))

    @property
    def label(self) -> str:
        return f"{self.keras_name} ({self.part})" if self.part else self.keras_name

    @property
    def uses_scratch(self) -> bool:
        """Its step function takes the caller's NAME_scratch (gate pre-activations, convolution taps)."""
        return self.scratch > 0

    @property
    def recurrent(self) -> bool:
        return self.kind in ("lstm", "gru", "simple_rnn")

    @property
    def go_backwards(self) -> bool:
        return bool(self.options.get("go_backwards", False))

    @property
    def collapses(self) -> bool:
        """Consumes a sequence and gives one vector (an RNN without return_sequences)."""
        return self.in_seq and not self.out_seq

    @property
    def weight_bytes(self) -> int:
        return sum(a.nbytes for a in self.arrays)

    @property
    def state_floats(self) -> int:
        return sum(s.size for s in self.state)

    @property
    def params(self) -> int:
        return sum(int(a.values.size) for a in self.arrays)


@dataclass(frozen=True)
class Tensor:
    """One value flowing between nodes: a sequence [T][width] or a vector [width]."""

    index: int
    width: int
    seq: bool
    producer: int  # node index, or -1 for a model input
    port: int  # output port of the producer (model input: its index in model.inputs)
    keras_layer: Optional[str]  # the Keras layer whose output this is (None: internal to a wrapper)
    keras_port: int  # which output of that Keras layer
    domain: int  # sequences: its time axis (ModelIR.domains; model input k is domain k); vectors: -1
    ref: str  # C expression of one step of it (model inputs: the argument name)
    ctype: str = "float"  # C element type: float, or TOKEN_CTYPE for token ids read by Embedding layers


@dataclass(frozen=True)
class Domain:
    """A time axis. Model input k has domain k (length: its `timesteps` argument); a layer that changes
    the length (strided or unpadded convolution, pooling, cropping, padding, RepeatVector) makes a
    derived one: length = (parent + add) // div + plus, valid when parent + add >= 0 (else 0), or
    the constant `const` (parent -1)."""

    index: int
    parent: int  # the domain it is computed from; -1: a model input, or a constant length
    add: int = 0
    div: int = 1
    plus: int = 0
    const: Optional[int] = None
    why: str = ""  # the layer that made it, for comments

    @property
    def derived(self) -> bool:
        return self.parent >= 0 or self.const is not None

    def of(self, n: int) -> int:
        """The length given the parent's length n (0: too short)."""
        if self.const is not None:
            return self.const
        return (n + self.add) // self.div + self.plus if n + self.add >= 0 else 0

    def c_of(self, n: str) -> str:
        """The same as a C expression of the parent length `n` (an int expression)."""
        if self.const is not None:
            return str(self.const)
        n = n if n.isidentifier() else f"({n})"
        shifted = n + (f" + {self.add}" if self.add > 0 else f" - {-self.add}" if self.add < 0 else "")
        q = f"({shifted}) / {self.div}" if self.div != 1 else f"({shifted})"
        q += f" + {self.plus}" if self.plus else ""
        return f"({shifted} >= 0 ? {q} : 0)" if self.add < 0 else f"({q})"


@dataclass(frozen=True)
class Phase:
    """A group of nodes run together by NAME_predict, in order.

    loop:  causal nodes of one time axis, timestep by timestep (state carries the per-step values)
    whole: one node that reads some input backwards, over the whole sequence
    once:  nodes on vectors, run once"""

    kind: str
    domain: int  # time axis (model input index) of loop/whole phases; -1 for once
    nodes: tuple[int, ...]


@dataclass(frozen=True)
class Stored:
    """A sequence kept whole [T][width] because a later phase (or the caller) reads it."""

    tensor: int
    base: str  # C name of its buffer: x<k>/y<k> argument, or a slice of `work`
    work_offset: Optional[int]  # floats per timestep before it in `work` (None: not in work)


@dataclass(frozen=True)
class ModelIR:
    name: str  # C prefix, lower case
    source: str
    keras_version: str
    kerasc_version: str
    input_width: int
    input_seq: bool
    timesteps: Optional[int]  # fixed sequence length, or None (variable)
    nodes: tuple[Node, ...]
    scratch_floats: int
    tensors: tuple[Tensor, ...] = ()
    inputs: tuple[int, ...] = ()  # tensor indices, in model.inputs order
    outputs: tuple[int, ...] = ()  # tensor indices, in model.outputs order
    input_names: tuple[str, ...] = ()
    input_timesteps: tuple[Optional[int], ...] = ()  # per input: fixed sequence length, or None
    phases: tuple[Phase, ...] = ()
    stored: tuple[Stored, ...] = ()
    work_per_step: int = 0  # floats of caller `work` per timestep (0: NAME_predict takes no work)
    stream_note: str = ""  # why NAME_step does not exist ("" when it does)
    weight_type: str = "float32"  # kernels stored as float32, float16 or int8 (kerasc.quant)
    domains: tuple[Domain, ...] = ()  # time axes: one per model input, then derived ones (Domain)
    # floats of `work` per timestep of each time axis that keeps sequences there: ((domain, floats), ...)
    work_domains: tuple[tuple[int, int], ...] = ()
    predict_block: Optional[int] = None  # timesteps per block of input projections (None: from the budget; 0: off)

    @property
    def projected(self) -> tuple[int, ...]:
        """The recurrent nodes whose input projections x_t @ W NAME_predict computes a block of timesteps at a
        time (kc_project), before their steps add h @ U: those reading a sequence kept whole (a model input, or
        one an earlier phase stored), with float32 or float16 kernels, and by default (predict_block None) at
        least PREDICT_BLOCK_MIN_WEIGHTS bytes of them. A layer fed by another in the same timestep loop (the
        upper layers of a stack) keeps the one-pass product."""
        if self.weight_type == "int8" or self.predict_block == 0:
            return ()
        where = {i: k for k, ph in enumerate(self.phases) for i in ph.nodes}
        out = []
        for n in self.nodes:
            if not n.recurrent or not n.inputs or n.index not in where:
                continue
            k = where[n.index]
            t = self.tensors[n.inputs[0]]
            if self.phases[k].kind == "once" or not t.seq or t.ctype != "float":
                continue
            if t.producer >= 0 and where[t.producer] == k and self.phases[k].kind == "loop":
                continue
            if self.predict_block is None and n.weight_bytes < PREDICT_BLOCK_MIN_WEIGHTS:
                continue
            out.append(n.index)
        return tuple(out)

    def projection_width(self, i: int) -> int:
        """Floats of node i's input projections per timestep: one row of units per gate."""
        n = self.nodes[i]
        return len(n.gates) * int(n.options["units"])

    def _projection_rows(self) -> dict[int, int]:
        """Per projected node: floats per timestep before its rows in NAME_scratch's xw (phases run one after
        another, so each phase's nodes reuse the same floats)."""
        where = {i: k for k, ph in enumerate(self.phases) for i in ph.nodes}
        used: dict[int, int] = {}
        before = {}
        for i in self.projected:
            before[i] = used.get(where[i], 0)
            used[where[i]] = before[i] + self.projection_width(i)
        return before

    @property
    def block_steps(self) -> int:
        """Timesteps per block of NAME_predict's input projections (0: none, every step computes x @ W)."""
        rows = self._projection_rows()
        if not rows:
            return 0
        if self.predict_block is not None:
            return self.predict_block
        per_step = max(rows[i] + self.projection_width(i) for i in rows) * FLOAT_BYTES
        return max(2, min(PREDICT_BLOCK_MAX, PREDICT_BLOCK_BUDGET // per_step))

    def projection_offset(self, i: int) -> int:
        """Where projected node i's rows [block_steps][projection_width(i)] start in NAME_scratch's xw."""
        return self.block_steps * self._projection_rows()[i]

    @property
    def block_floats(self) -> int:
        """Floats of NAME_scratch's xw: the input projections of one block of the widest phase."""
        rows = self._projection_rows()
        return self.block_steps * max((rows[i] + self.projection_width(i) for i in rows), default=0)

    def length(self, d: int, steps: dict) -> int:
        """Length of time axis d given {input domain: length}."""
        dom = self.domains[d] if d < len(self.domains) else None
        if dom is None or not dom.derived:
            return steps[d]
        return dom.of(self.length(dom.parent, steps) if dom.parent >= 0 else 0)

    def fixed_length(self, d: int) -> Optional[int]:
        """Length of time axis d when it does not depend on the caller (fixed inputs, constants); else None."""
        dom = self.domains[d] if d < len(self.domains) else None
        if dom is None or not dom.derived:
            return self.input_timesteps[d] if 0 <= d < len(self.input_timesteps) else None
        if dom.const is not None:
            return dom.const
        n = self.fixed_length(dom.parent)
        return None if n is None else dom.of(n)

    def work_floats(self, T: int) -> int:
        """Floats of `work` NAME_predict needs when the longest input has T timesteps (NAME_WORK_FLOATS(T))."""
        steps = {k: T for k in range(len(self.inputs))}
        return sum(self.length(d, steps) * w for d, w in self.work_domains)

    @property
    def NAME(self) -> str:
        return self.name.upper()

    @property
    def input_ctypes(self) -> tuple[str, ...]:
        """C element type of each model input: float, or TOKEN_CTYPE (token ids)."""
        return tuple(self.tensors[i].ctype for i in self.inputs)

    @property
    def has_tokens(self) -> bool:
        return TOKEN_CTYPE in self.input_ctypes

    def token_limit(self, k: int) -> int:
        """Input k holds token ids: the smallest input_dim of the Embedding layers reading it."""
        ti = self.inputs[k]
        return min(int(n.options["input_dim"]) for n in self.nodes if ti in n.inputs)

    @property
    def output_width(self) -> int:
        return self.tensors[self.outputs[0]].width

    @property
    def output_seq(self) -> bool:
        return self.tensors[self.outputs[0]].seq

    @property
    def causal(self) -> bool:
        """Each output step depends only on inputs up to it: streaming (`NAME_step`) is possible."""
        return not self.stream_note

    @property
    def single_io(self) -> bool:
        return len(self.inputs) == 1 and len(self.outputs) == 1

    @property
    def stateful(self) -> bool:
        return any(n.stateful for n in self.nodes)

    @property
    def traced(self) -> tuple[Tensor, ...]:
        """The tensors `verify` compares with Keras: every output of every Keras layer."""
        first = {}
        for t in self.tensors:
            if t.producer >= 0 and t.keras_layer is not None:
                first.setdefault(t.keras_layer, t.producer)
        return tuple(sorted((t for t in self.tensors if t.producer >= 0 and t.keras_layer is not None),
                            key=lambda t: (first[t.keras_layer], t.keras_port)))

    @property
    def needs_work(self) -> bool:
        """Some sequence between phases is kept whole: NAME_predict takes a caller buffer growing with T."""
        return self.work_per_step > 0

    @property
    def weight_bytes(self) -> int:
        return sum(n.weight_bytes for n in self.nodes)

    @property
    def state_floats(self) -> int:
        """Floats of NAME_state: what the layers keep between timesteps (at least one: C has no empty struct)."""
        return max(1, sum(n.state_floats for n in self.nodes))

    @property
    def state_bytes(self) -> int:
        """sizeof(NAME_state): the stream's own RAM, what saving or restoring a stream copies."""
        return self.state_floats * FLOAT_BYTES

    @property
    def scratch_bytes(self) -> int:
        """sizeof(NAME_scratch): working memory of the layer being computed, dead between calls."""
        return (self.scratch_floats + self.block_floats) * FLOAT_BYTES

    @property
    def ram_bytes(self) -> int:
        """RAM of one stream with its own scratch: NAME_STATE_BYTES + NAME_SCRATCH_BYTES."""
        return self.state_bytes + self.scratch_bytes

    @property
    def params(self) -> int:
        return sum(n.params for n in self.nodes)

    @property
    def weights_hash(self) -> str:
        h = hashlib.sha256()
        for n in self.nodes:
            for a in n.arrays:
                h.update(a.cname.encode())
                if a.ctype == "float":
                    h.update(np.ascontiguousarray(a.values, dtype="<f4").tobytes())
                else:
                    h.update(a.ctype.encode())
                    h.update(np.ascontiguousarray(a.values).astype(a.values.dtype.newbyteorder("<")).tobytes())
                    if a.scale is not None:
                        h.update(np.ascontiguousarray(a.scale.values, dtype="<f4").tobytes())
        return h.hexdigest()
