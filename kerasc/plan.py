"""plan: the wired graph kerasc.lower made -> ModelIR, with the plan that runs it.

Planning groups the nodes into phases that NAME_predict runs in order (see ir.Phase):
  - causal nodes on one time axis join one `loop` (timestep-major: no sequence is stored whole);
  - a node reading an input backwards (go_backwards, Bidirectional's flip) or a window of it is a `whole` phase;
  - nodes on vectors, and nodes that gather a whole sequence into a vector, run `once`, after what they read.
A sequence read by a later phase is kept whole, in the caller's `work` buffer unless it is a model input or
output; buffers are reused once their last reader has run. It reads only the typed planner fields of the
nodes (Node.window, gather, time, stream_why, scratch), never a layer's class name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from . import __version__
from .ir import Domain, ModelIR, Node, Phase, Stored, Tensor


@dataclass(frozen=True)
class Graph:
    """What lowering hands to planning: the nodes wired by tensors, on resolved time axes."""

    prefix: str
    source: str
    keras_version: str
    nodes: tuple[Node, ...]
    tensors: tuple[Tensor, ...]
    outputs: tuple[int, ...]
    in_specs: tuple[tuple[str, Optional[int]], ...]  # per model input: its Keras name and fixed timesteps
    domains: tuple[Domain, ...]


def plan(g: Graph) -> ModelIR:
    """The ModelIR of `g`: phases, stored sequences, work buffer, scratch, and why it cannot stream."""
    nodes, tensors, in_specs = list(g.nodes), g.tensors, g.in_specs
    phases, where = _phases(nodes, tensors)
    stored, per_domain = _storage(nodes, tensors, where, g.outputs, len(g.outputs) == 1)
    inputs = [i for i, t in enumerate(tensors) if t.producer < 0]
    note = _stream_note([tensors[i] for i in inputs], nodes, phases, tensors)
    scratch = max([n.scratch for n in nodes] + [1])
    first = tensors[inputs[0]]
    return ModelIR(name=g.prefix, source=g.source, keras_version=g.keras_version,
                   kerasc_version=__version__, input_width=first.width, input_seq=first.seq,
                   timesteps=in_specs[0][1], nodes=tuple(nodes), scratch_floats=scratch,
                   tensors=tensors, inputs=tuple(inputs), outputs=tuple(g.outputs),
                   input_names=tuple(s[0] for s in in_specs), input_timesteps=tuple(s[1] for s in in_specs),
                   phases=tuple(phases), stored=tuple(stored), work_per_step=sum(per_domain.values()),
                   stream_note=note, domains=g.domains, work_domains=tuple(sorted(per_domain.items())))


def _phase_kind(node: Node, tensors: tuple[Tensor, ...]) -> str:
    if node.window or any(node.reversed_inputs):
        return "whole"
    if node.gather or not any(tensors[t].seq for t in node.inputs):
        return "once"
    return "loop"


def _phase_domain(node: Node, tensors: tuple[Tensor, ...]) -> int:
    """The time axis a node's phase loops over: its output's when the node makes a new one."""
    if node.time is not None:
        return tensors[node.outputs[0]].domain
    if node.gather:
        return -1
    return next((tensors[t].domain for t in node.inputs if tensors[t].seq), -1)


def _phases(nodes: list[Node], tensors: tuple[Tensor, ...]) -> tuple[list[Phase], dict[int, int]]:
    """Assign every node to a phase (see the module doc); returns the phases and node -> phase."""
    phases: list[dict] = []
    where: dict[int, int] = {}
    for n in nodes:
        kind = _phase_kind(n, tensors)
        domain = _phase_domain(n, tensors)
        earliest = 0
        for t in list(n.inputs) + list(n.init) + ([n.mask] if n.mask is not None else []):
            src = tensors[t].producer
            if src < 0:
                continue
            q = where[src]
            same_ok = (kind == "loop" and phases[q]["kind"] == "loop" and tensors[t].seq) or \
                      (kind == "once" and phases[q]["kind"] == "once")
            earliest = max(earliest, q if same_ok else q + 1)
        target = None
        if kind != "whole":
            for i in range(earliest, len(phases)):
                if phases[i]["kind"] == kind and phases[i]["domain"] == domain:
                    target = i
                    break
        if target is None:
            phases.append({"kind": kind, "domain": domain, "nodes": []})
            target = len(phases) - 1
        phases[target]["nodes"].append(n.index)
        where[n.index] = target
    return [Phase(p["kind"], p["domain"], tuple(p["nodes"])) for p in phases], where


def _storage(nodes: list[Node], tensors: tuple[Tensor, ...], where: dict[int, int],
             outputs: tuple[int, ...],
             single_out: bool) -> tuple[list[Stored], dict[int, int]]:
    """Which sequences are kept whole, and where; returns them and the work floats per timestep."""
    readers: dict[int, list[int]] = {}
    for n in nodes:
        for t in list(n.inputs) + ([n.mask] if n.mask is not None else []):
            readers.setdefault(t, []).append(where[n.index])
    stored: list[Stored] = []
    slots: dict[int, list[list[int]]] = {}  # per time axis: [offset, width, busy until phase]
    totals: dict[int, int] = {}  # per time axis: floats per timestep
    for i, t in enumerate(tensors):
        if not t.seq:
            continue
        if t.producer < 0:
            stored.append(Stored(i, t.ref, None))
            continue
        q = where[t.producer]
        later = [r for r in readers.get(i, []) if r != q]
        if i in outputs:
            k = outputs.index(i)
            stored.append(Stored(i, "y" if single_out else f"y{k}", None))
            continue
        if not later:
            continue
        last = max(later)
        mine = slots.setdefault(t.domain, [])
        slot = next((s for s in mine if s[1] >= t.width and s[2] < q), None)
        if slot is None:
            slot = [totals.get(t.domain, 0), t.width, last]
            mine.append(slot)
            totals[t.domain] = slot[0] + t.width
        slot[2] = last
        stored.append(Stored(i, f"work_{len(stored)}", slot[0]))
    return stored, totals


def _stream_note(record_inputs: list[Tensor], nodes: list[Node], phases: list[Phase],
                 tensors: tuple[Tensor, ...]) -> str:
    seq_in = [t for t in record_inputs if t.seq]
    if not seq_in:
        return "the input has no time axis"
    window = [n for n in nodes if n.window]
    if window:
        n = window[0]
        return f"'{n.keras_name}' ({n.keras_class}) {n.stream_why or 'reads future timesteps'}"
    backwards = [n for n in nodes if not n.causal]
    if backwards:
        names_ = sorted({f"'{n.keras_name}' ({n.keras_class})" for n in backwards})
        return f"{', '.join(names_)} read{'s' if len(names_) == 1 else ''} the sequence backwards"
    loops = [p for p in phases if p.kind == "loop"]
    made = [n for n in nodes if n.time is not None or n.gather]
    if made:
        n = made[0]
        why = n.stream_why or "changes the length of the time axis"
        return f"'{n.keras_name}' ({n.keras_class}) {why}"
    if len({t.domain for t in seq_in}) > 1 or len(loops) != 1:
        return ("the model runs more than one pass over its sequences (a state computed from a whole sequence "
                "starts another, or inputs of different lengths)")
    first_loop = phases.index(loops[0])
    for p in phases[first_loop + 1:]:
        for i in p.nodes:
            if any(tensors[t].producer < 0 for t in nodes[i].inputs + nodes[i].init):
                return "a layer after the sequence reads a model input directly"
    return ""
