"""The intermediate representation: the single source of truth for codegen, memory
accounting, inspect and verify. Small frozen dataclasses; the C names and sizes are
decided here (Python), so templates only loop and substitute."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

FLOAT_BYTES = 4


@dataclass(frozen=True, eq=False)
class CArray:
    """One `static const float` array of the generated header."""

    cname: str  # full C identifier
    values: np.ndarray  # float32, shape as declared in C
    comment: str  # what it is: Keras array, gate, layout

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
        return int(self.values.size) * FLOAT_BYTES

    def rows(self) -> list[str]:
        """Initializer rows, `%.9g` so every float32 round-trips exactly."""
        flat = self.values.reshape(-1, self.shape[-1]) if self.values.ndim > 1 else self.values.reshape(1, -1)
        return [", ".join(c_float(v) for v in row) for row in flat]

    def initializer(self) -> str:
        rows = self.rows()
        if self.values.ndim <= 1:
            return "{ " + rows[0] + " }"
        return "{\n" + ",\n".join("    { " + r + " }" for r in rows) + "\n}"


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
class Node:
    """One kerasc layer block, made from one Keras layer."""

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

    @property
    def NAME(self) -> str:
        return self.name.upper()

    @property
    def output_width(self) -> int:
        return self.nodes[-1].out_width if self.nodes else self.input_width

    @property
    def output_seq(self) -> bool:
        return self.nodes[-1].out_seq if self.nodes else self.input_seq

    @property
    def causal(self) -> bool:
        """Each output step depends only on inputs up to it: streaming (`NAME_step`) is possible."""
        return self.input_seq and not any(n.go_backwards for n in self.nodes)

    @property
    def seq_nodes(self) -> tuple[Node, ...]:
        """Nodes that run once per timestep (their input has a time axis)."""
        return tuple(n for n in self.nodes if n.in_seq)

    @property
    def tail_nodes(self) -> tuple[Node, ...]:
        """Nodes that run once per sequence, on the vector left after the last collapse."""
        return tuple(n for n in self.nodes if not n.in_seq)

    @property
    def needs_work(self) -> bool:
        """Layer-by-layer evaluation over whole sequences needs a caller buffer that grows with T."""
        return self.input_seq and not self.causal

    @property
    def work_width(self) -> int:
        """Widest sequence passed between layers (floats per timestep of one work buffer)."""
        widths = [n.out_width for n in self.seq_nodes if n.out_seq]
        return max(widths) if widths else 1

    @property
    def weight_bytes(self) -> int:
        return sum(n.weight_bytes for n in self.nodes)

    @property
    def state_floats(self) -> int:
        return sum(n.state_floats for n in self.nodes) + self.scratch_floats

    @property
    def state_bytes(self) -> int:
        return self.state_floats * FLOAT_BYTES

    @property
    def params(self) -> int:
        return sum(n.params for n in self.nodes)

    @property
    def weights_hash(self) -> str:
        h = hashlib.sha256()
        for n in self.nodes:
            for a in n.arrays:
                h.update(a.cname.encode())
                h.update(np.ascontiguousarray(a.values, dtype="<f4").tobytes())
        return h.hexdigest()
