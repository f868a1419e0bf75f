"""codegen: ModelIR -> C text, through the Jinja2 templates in templates/.

Python decides (names, sizes, buffer plans); templates only loop and substitute.
Files are written atomically, and never over a file kerasc did not generate.
"""

from __future__ import annotations

import functools
import re
import warnings
from pathlib import Path
from typing import Callable, Optional

import jinja2

from ._resources import runtime_dir, templates_dir
from .errors import ConversionError
from .files import atomic_write_all
from .ir import ModelIR, Node

# Every file kerasc writes carries this marker; only such files are overwritten without --force.
MARKER = "kerasc-generated"
RUNTIME_HEADER = "kc_runtime.h"
LARGE_WEIGHTS_BYTES = 1 << 20  # convert warns above this
# Layer kinds whose weights are read only inside the runtime's product kernels (through
# KC_LOAD_WEIGHT), so they may live in a separate address space (AVR flash, KC_WEIGHTS_PROGMEM).
KERNEL_READ_ONLY = frozenset({"lstm", "gru", "simple_rnn", "dense"})


def ccomment(text: object) -> str:
    """Make any text safe inside a C block comment: printable ASCII only, no comment terminator."""
    s = str(text)
    s = "".join(ch if 32 <= ord(ch) < 127 else f"\\u{ord(ch):04x}" for ch in s)
    return s.replace("*/", "* /").replace("/*", "/ *")


def _layer_template(name: str) -> Optional[tuple[str, str, Callable[[], bool]]]:
    """layers/K.c.j2 of a node kind K registered with its own template_dir (a layer module outside kerasc;
    kerasc's own are found in templates/layers/ first)."""
    from .layers import kinds

    kind = name[len("layers/"):-len(".c.j2")] if name.startswith("layers/") and name.endswith(".c.j2") else None
    path = kinds().get(kind) if kind else None
    if path is None or not path.is_file():
        return None
    mtime = path.stat().st_mtime
    return path.read_text(), str(path), lambda: path.is_file() and path.stat().st_mtime == mtime


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader([jinja2.FileSystemLoader(str(templates_dir())),
                                    jinja2.FunctionLoader(_layer_template)]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["ccomment"] = ccomment
    return env


def runtime_version() -> int:
    text = (runtime_dir() / RUNTIME_HEADER).read_text()
    m = re.search(r"#define KC_RUNTIME_VERSION (\d+)", text)
    assert m, "kc_runtime.h has no KC_RUNTIME_VERSION"
    return int(m.group(1))


def _fn(ir: ModelIR, n: Node) -> str:
    """The per-step function of a node (recurrent layers with a mask: the masked wrapper)."""
    return f"{ir.name}__{n.cid}_{'mstep' if n.options.get('masked') else 'step'}"


class _Names:
    """C names of the public API's arguments: x, timesteps, y for one input/output; x0, timesteps0, ... else."""

    def __init__(self, ir: ModelIR):
        single_in, single_out = len(ir.inputs) == 1, len(ir.outputs) == 1
        self.x = ["x" if single_in else f"x{k}" for k in range(len(ir.inputs))]
        self.T = ["timesteps" if single_in else f"timesteps{k}" for k in range(len(ir.inputs))]
        self.y = ["y" if single_out else f"y{k}" for k in range(len(ir.outputs))]

    def tvar(self, ir: ModelIR, domain: int) -> str:
        """The C int holding the length of a time axis: an argument (model inputs) or a local (derived)."""
        return self.T[domain] if domain < len(self.T) else f"T{domain}"


def length_expr(ir: ModelIR, d: int, base: Callable[[int], str]) -> str:
    """C int expression of the length of time axis d, from base(k): that of model input domain k."""
    dom = ir.domains[d] if d < len(ir.domains) else None
    if dom is None or not dom.derived:
        return base(d)
    return dom.c_of(length_expr(ir, dom.parent, base) if dom.parent >= 0 else "0")


def used_domains(ir: ModelIR) -> list[int]:
    """The derived time axes some sequence has, in order (parents first)."""
    seen = {t.domain for t in ir.tensors if t.seq}
    return [d.index for d in ir.domains if d.derived and d.index in seen]


def _view(ir: ModelIR) -> dict:
    """Everything the model template needs beyond the IR: API arguments, phases, buffers, traces."""
    names = _Names(ir)
    T = ir.tensors
    trace_index = {t.index: i for i, t in enumerate(ir.traced)}
    stored = {s.tensor: s for s in ir.stored}
    where = {i: k for k, ph in enumerate(ir.phases) for i in ph.nodes}
    P = ir.NAME

    def shape(t) -> str:
        steps = ir.fixed_length(t.domain) or ("T" if t.domain < len(ir.inputs) else names.tvar(ir, t.domain))
        return (f"[{steps}]" if t.seq else "") + (" token ids" if t.ctype != "float" else f"[{t.width}]")

    inputs = []
    for k, ti in enumerate(ir.inputs):
        t = T[ti]
        inputs.append({"k": k, "name": names.x[k], "tvar": names.T[k], "width": t.width, "seq": t.seq,
                       "fixed": ir.input_timesteps[k], "shape": shape(t),
                       "ctype": "kc_float" if t.ctype == "float" else t.ctype,
                       "tokens": t.ctype != "float",
                       "tokens_limit": ir.token_limit(k) if t.ctype != "float" else 0})
    outputs = []
    for k, ti in enumerate(ir.outputs):
        t = T[ti]
        tv = names.tvar(ir, t.domain) if t.seq else ""
        outputs.append({"k": k, "name": names.y[k], "width": t.width, "seq": t.seq, "ref": t.ref,
                        "tvar": tv, "domain": t.domain, "stored": ti in stored,
                        "steps_of": (names.x[t.domain] if t.domain < len(ir.inputs) else
                                     f"{tv} = {length_expr(ir, t.domain, lambda d: names.T[d])}") if t.seq else "",
                        "shape": shape(t)})

    params = []
    for i in inputs:
        params.append(f"const {i['ctype']} *{i['name']}")
        if i["seq"]:
            params.append(f"int {i['tvar']}")
    params += [f"kc_float *{o['name']}" for o in outputs]
    if ir.needs_work:
        params.append("kc_float *work")
    checks = [f"{i['tvar']} < 1" for i in inputs if i["seq"]]
    seq_inputs = [i for i in inputs if i["seq"]]
    for i in seq_inputs:
        dom = T[ir.inputs[i["k"]]].domain
        if dom != i["k"]:
            checks.append(f"{i['tvar']} != {names.T[dom]}")
    why_not = ["a sequence is empty"] + (["sequences that meet have different lengths"]
                                         if len(checks) > len(seq_inputs) else [])
    tlens = []
    for d in used_domains(ir):
        dom = ir.domains[d]
        parent = names.tvar(ir, dom.parent) if dom.parent >= 0 else "0"
        tlens.append({"name": names.tvar(ir, d), "expr": dom.c_of(parent), "why": dom.why})
        checks.append(f"{names.tvar(ir, d)} < 1")
    if tlens:
        why_not.append("a layer leaves no timestep")
    fixed = [n for n in ir.nodes if n.fixed_in is not None]
    for n in fixed:  # Flatten, Reshape, Permute of a sequence: built for its fixed length only
        checks.append(f"{names.tvar(ir, T[n.inputs[0]].domain)} != {n.fixed_in}")
    if fixed:
        why_not.append(f"{', '.join(sorted({n.keras_class for n in fixed}))} would see another number of "
                       "timesteps than the model was built for")

    def read(ti: int, phase: int, reversed_: bool, bases: list[str], stream: bool = False) -> str:
        """C expression of what a node in `phase` reads of tensor ti at loop index t (stream: in
        NAME_step, where every sequence argument is the one timestep itself)."""
        t = T[ti]
        if not t.seq:
            if t.producer < 0 and t.ref not in bases:
                bases.append(t.ref)
            return t.ref
        if t.producer >= 0 and where[t.producer] == phase and ir.phases[phase].kind == "loop":
            return t.ref
        base = stored[ti].base
        if base not in bases:
            bases.append(base)
        if stream:
            return base
        idx = "timesteps - 1 - t" if reversed_ else "t"
        return f"{base} + (size_t)({idx}) * {t.width}u"

    def span(nodes: tuple[int, ...]) -> str:
        first, last = ir.nodes[nodes[0]].cid, ir.nodes[nodes[-1]].cid
        return first if first == last else f"{first}_to_{last}"

    projected = set(ir.projected)
    phases = []
    for k, ph in enumerate(ir.phases):
        tv = names.tvar(ir, ph.domain) if ph.domain >= 0 else ""
        bases: list[str] = []
        calls, prologue, after, projections = [], [], [], []
        in_tv = tv
        lens: list[tuple[str, str]] = []  # more lengths a whole phase passes: (parameter, argument)
        for ni in ph.nodes:
            n = ir.nodes[ni]
            if n.window and len(n.inputs) > 1:  # every input whole, each sequence with its length; the step
                args = []
                for i, ti in enumerate(n.inputs):
                    src = T[ti]
                    base = src.ref if src.producer < 0 or not src.seq else stored[ti].base
                    if base not in bases and (src.seq or src.producer < 0):
                        bases.append(base)
                    args.append(base)
                    if i == 0:
                        in_tv = names.tvar(ir, src.domain) if src.seq else "1"
                        args.append("timesteps")
                    elif src.seq:
                        args.append(f"timesteps_{i}")
                        lens.append((f"int timesteps_{i}", names.tvar(ir, src.domain)))
                args.append("t")
            elif n.window or n.gather:  # the whole input (stored), its length, the output step
                src = T[n.inputs[0]]
                base = src.ref if src.producer < 0 or not src.seq else stored[n.inputs[0]].base
                if base not in bases and (src.seq or src.producer < 0):
                    bases.append(base)
                in_tv = names.tvar(ir, src.domain) if src.seq else "1"
                args = [base, "timesteps", "t"] if n.window else [base]
            else:
                args = [read(ti, k, rev, bases) for ti, rev in zip(n.inputs, n.reversed_inputs)]
            if n.mask is not None:
                args.append(read(n.mask, k, n.reversed_inputs[0], bases))
            sargs = None
            if ph.kind == "loop" and not n.window and not n.gather:
                sargs = [read(ti, k, rev, [], True) for ti, rev in zip(n.inputs, n.reversed_inputs)]
                if n.mask is not None:
                    sargs.append(read(n.mask, k, n.reversed_inputs[0], [], True))
            if n.index in projected:  # its input projections come a block of timesteps at a time (kc_project)
                zw, src, at0 = ir.projection_width(n.index), T[n.inputs[0]], ir.projection_offset(n.index)
                args.append(f"scr->xw + {at0} + (size_t)(t - t0) * {zw}u")
                if sargs is not None:
                    sargs.append(f"xw_{n.cid}")
                at = f"{in_tv} - 1 - t0" if n.reversed_inputs[0] else "t0"
                projections.append({"fn": f"{ir.name}__{n.cid}_project", "label": n.label, "zw": zw,
                                    "src": f"{stored[n.inputs[0]].base} + (size_t)({at}) * {src.width}u",
                                    "ld": f"{'-' if n.reversed_inputs[0] else ''}(ptrdiff_t){src.width}",
                                    "input": stored[n.inputs[0]].base if src.producer < 0 else None,
                                    "width": src.width, "cid": n.cid, "at": at0})
            post, spost = [], []
            for ti in n.outputs:
                t = T[ti]
                if ti in trace_index and (t.seq or ph.kind == "once"):
                    post.append({"kind": "trace", "index": trace_index[ti], "t": "t" if t.seq else "-1",
                                 "ref": t.ref, "width": t.width})
                elif ti in trace_index:
                    after.append({"index": trace_index[ti], "ref": t.ref, "width": t.width})
                if t.seq and ti in stored:
                    post.append({"kind": "store", "dst": f"{stored[ti].base} + (size_t)t * {t.width}u",
                                 "ref": t.ref, "width": t.width})
                    spost.append({"kind": "store", "dst": stored[ti].base, "ref": t.ref, "width": t.width})
                    if stored[ti].base not in bases:
                        bases.append(stored[ti].base)
            for j, ti in enumerate(n.init):
                prologue.append({"dst": f"st->{n.cid}_{'hc'[j]}", "src": T[ti].ref, "width": T[ti].width,
                                 "what": f"'{n.label}' initial state {'hc'[j]}"})
            calls.append({"node": n, "fn": _fn(ir, n), "args": args, "post": post, "scr": n.uses_scratch,
                          "stream_args": sargs, "stream_post": spost})
        order = list(dict.fromkeys(names.x + names.y + [s.base for s in ir.stored]))
        phase_bases = [b for b in order if b in bases]
        fn_bases = phase_bases
        ctypes = {i["name"]: i["ctype"] for i in inputs}
        decl = [f"const {ctypes[b]} *{b}" if b in names.x else f"kc_float *{b}" for b in fn_bases]
        if ph.kind != "once":
            decl.append("int t")
            call_args = fn_bases + ["t"]
            if projections:
                decl.append("int t0")
                call_args.append("t0")
            if ph.kind == "whole":
                decl.append("int timesteps")
                call_args.append(in_tv)
                decl += [d for d, _ in lens]
                call_args += [a for _, a in lens]
        else:
            call_args = list(fn_bases)
        layers = ", ".join(f"'{ir.nodes[i].label}'" for i in ph.nodes)
        what = {"loop": f"at timestep t of {tv}", "whole": f"output step t of {tv}, reading the whole sequence",
                "once": "once, on vectors"}[ph.kind]
        verb = {"loop": "timestep", "whole": "sequence", "once": "vectors"}[ph.kind]
        uses_t = ph.kind == "whole" or any(
            re.search(r"\bt\b", " ".join(c["args"] + [q["dst"] if q["kind"] == "store" else q["t"] for q in c["post"]]))
            for c in calls)
        phases.append({"k": k, "kind": ph.kind, "fn": f"{ir.name}__{verb}_{span(ph.nodes)}", "decl": decl,
                       "call_args": call_args, "tvar": tv, "calls": calls, "prologue": prologue, "after": after,
                       "scr": any(c["scr"] for c in calls), "uses_t": uses_t, "projections": projections,
                       "doc": f"{layers}: {what}"})
    def steps(d: int) -> str:
        """Length of time axis d for sizing `work`: with one sequence input, the lengths NAME_predict
        computed; else from tmax, the longest input (every length formula grows with its input)."""
        if len(seq_inputs) == 1:
            return names.tvar(ir, d)
        return _len_of(ir, d, "tmax")

    region, start = {}, []  # the work buffer holds one region per time axis, [length][floats per step]
    for d, floats in ir.work_domains:
        region[d] = " + ".join(start) if start else "0"
        start.append(_offset("0", steps(d), floats))
    work_bufs = [{"name": s.base, "width": T[s.tensor].width, "steps": names.tvar(ir, T[s.tensor].domain)
                  if T[s.tensor].domain >= len(ir.inputs) else "timesteps",
                  "at": _offset(region[T[s.tensor].domain], steps(T[s.tensor].domain), s.work_offset)}
                 for s in ir.stored if s.work_offset is not None]
    work_floats = " + ".join(f"(size_t){macro_len(ir, d)} * {floats}u" for d, floats in ir.work_domains)
    transient = None
    if ir.stateful:
        transient = [sv.cname for n in ir.nodes for sv in n.state if not (n.stateful and sv.persistent)]

    in_desc = ", ".join(i["shape"] for i in inputs)
    out_desc = ", ".join(o["shape"] for o in outputs)
    view = {
        "inputs": inputs, "outputs": outputs, "params": params, "checks": checks, "phases": phases,
        "why_not": why_not,
        "work_bufs": work_bufs, "seq_tvars": [i["tvar"] for i in seq_inputs], "transient": transient,
        "tlens": tlens, "work_floats": f"({work_floats or '0'})",
        "needs_tmax": any("tmax" in b["at"] for b in work_bufs),
        "out_steps": f"({macro_len(ir, outputs[0]['domain'])})" if outputs[0]["seq"] and
        ir.domains[outputs[0]["domain"]].derived else "",
        "in_shape": in_desc, "out_shape": out_desc, "projected": projected,
        "blocked": any(ph["projections"] for ph in phases),
        "predict_args": ", ".join(["&st", "&scr"] + [p.split()[-1].lstrip("*") for p in params]),
        "work_note": f" + work {ir.work_per_step * 4} bytes per timestep" if ir.needs_work else "",
    }
    if ir.weight_type != "float32":
        from .quant import NOTE, default_tolerance

        view["quant_note"] = NOTE[ir.weight_type]
        view["atol"], view["rtol"] = ("%g" % v for v in default_tolerance(ir.weight_type))
    view["predict_doc"] = "one sample: " + ("; ".join(
        [f"{i['name']} {i['shape']}" for i in inputs] + [f"{o['name']} {o['shape']}" for o in outputs]))
    if ir.needs_work:
        view["predict_doc"] += f"; work holds {P}_WORK_FLOATS(T) floats, T the longest input"
    view["predict_uses_scr"] = any(ph["scr"] for ph in phases)
    outside = [n for n in ir.nodes if n.arrays and n.kind not in KERNEL_READ_ONLY]
    view["progmem_ok"] = not outside
    view["progmem_why"] = f"layer '{outside[0].label}' ({outside[0].keras_class})" if outside else ""
    if ir.causal:
        loop = next(p for p in phases if p["kind"] == "loop")
        li = phases.index(loop)
        view["stream_uses_scr"] = any(ph["scr"] for ph in phases[li:])
        view["stream"] = {
            "params": [f"const {i['ctype']} *{i['name']}" for i in seq_inputs]
                      + [f"kc_float *{o['name']}" for o in outputs],
            "loop": loop, "pre": phases[:li], "post": phases[li + 1:],
            "vector_inputs": [i for i in inputs if not i["seq"]],
            # NAME_step_block's blocks: the loop's layers reading a model input (the others get NULL)
            "projections": [q for q in loop["projections"] if q["input"] is not None],
            "xw": [f"xw_{c['node'].cid}" for c in loop["calls"] if c["node"].index in projected],
            "seq_inputs": seq_inputs,
            "names": [i["name"] for i in seq_inputs] + [o["name"] for o in outputs],
            "block_params": [f"const {i['ctype']} *{i['name']}" for i in seq_inputs] + ["int n"]
                            + [f"kc_float *{o['name']}" for o in outputs],
            "frame_args": [f"{i['name']} + (size_t)i * {i['width']}u" for i in seq_inputs]
                          + [f"{o['name']} + (size_t)i * {o['width']}u" for o in outputs],
        }
        view["stream"]["xw_args"] = {
            f"xw_{q['cid']}": f"scr->xw + {q['at']} + (size_t)(i - i0) * {q['zw']}u"
            for q in view["stream"]["projections"]}
        for w in view["stream"]["xw"]:
            view["stream"]["xw_args"].setdefault(w, "NULL")
    else:
        view["stream"] = None
    return view


def _len_of(ir: ModelIR, d: int, T: str) -> str:
    """Length of time axis d as a C expression, every input having length T (an int expression)."""
    if not ir.domains[d].derived:
        return T
    return length_expr(ir, d, lambda k: f"(int){T}" if T == "tmax" else T)


# The argument T of the size macros (NAME_WORK_FLOATS(T), NAME_OUTPUT_TIMESTEPS(T)), as a signed long
# clamped at 0: any integer type works (unsigned, narrower or wider than int), nothing wraps for lengths
# shorter than a convolution's kernel, and no comparison of an unsigned value with 0 (-Wtype-limits).
MACRO_T = "((long)(T) > 0 ? (long)(T) : 0L)"


def macro_len(ir: ModelIR, d: int) -> str:
    """Length of time axis d in a size macro: a long >= 0, every input T timesteps long."""
    if not ir.domains[d].derived:
        return MACRO_T
    return length_expr(ir, d, lambda k: MACRO_T)


def _offset(region: str, length: str, per_step: int) -> str:
    """`region` + length * per_step floats, as a size_t C expression ("0" when nothing)."""
    own = f"{length} * {per_step}u" if length == "tmax" else f"(size_t){length} * {per_step}u"
    parts = ([region] if region != "0" else []) + ([own] if per_step else [])
    return " + ".join(parts) if parts else "0"


def work_per_step(ir: ModelIR) -> int:
    """Floats of caller work buffer per timestep that NAME_predict needs (0: no work argument)."""
    return ir.work_per_step


def shim_view(ir: ModelIR) -> dict:
    """Arguments the harness shim passes to the public API for sample b of a batch (xs[k], ys[k]: batch
    arrays in model.inputs / model.outputs order; ts[k]: timesteps of input k)."""
    v = _view(ir)
    predict = []

    def x(i: dict) -> str:  # token ids travel through the shim's float ** as their int32 bytes
        return f"((const {i['ctype']} *)(const void *)xs[{i['k']}])" if i["tokens"] else f"xs[{i['k']}]"

    for i in v["inputs"]:
        per = f"(size_t)ts[{i['k']}] * {i['width']}u" if i["seq"] else f"{i['width']}u"
        predict.append(f"{x(i)} + (size_t)b * {per}")
        if i["seq"]:
            predict.append(f"ts[{i['k']}]")
    for o in v["outputs"]:
        steps = length_expr(ir, o["domain"], lambda k: f"ts[{k}]") if o["seq"] else ""
        per = f"(size_t){steps} * {o['width']}u" if o["seq"] else f"{o['width']}u"
        predict.append(f"ys[{o['k']}] + (size_t)b * {per}")
    if ir.needs_work:
        predict.append("work")
    stream = v["stream"]
    step = reset_from = None
    if stream is not None:
        step = [x(i) for i in v["inputs"] if i["seq"]] + [f"ys[{o['k']}]" for o in v["outputs"]]
        if stream["vector_inputs"]:
            reset_from = [f"xs[{i['k']}]" for i in stream["vector_inputs"]]
    return {"predict": predict, "step": step, "reset_from": reset_from}


def _aligned(rows: list[tuple[str, str]]) -> list[str]:
    """`#define NAME VALUE` lines with their comments in one column (rows: (define, comment or ""))."""
    width = max(len(d) for d, _ in rows) + 2
    return [(d.ljust(width) + f"/* {ccomment(c)} */") if c else d for d, c in rows]


def size_macros(ir: ModelIR, view: dict) -> list[str]:
    """The sizes section of the header: one `#define` per line, comments aligned."""
    P, p = ir.NAME, ir.name
    multi_in, multi_out = len(ir.inputs) > 1, len(ir.outputs) > 1
    first_in = view["inputs"][0]
    rows = [
        (f"#define {P}_INPUT_SIZE {ir.input_width}",
         f"{'token ids' if first_in['tokens'] else 'floats'} per "
         f"{'timestep of the first' if multi_in else 'input'} "
         f"{'timestep' if ir.input_seq and not multi_in else 'input'}"),
        (f"#define {P}_OUTPUT_SIZE {ir.output_width}",
         f"floats per {'first output' if multi_out else 'output'} {'timestep' if ir.output_seq else 'vector'}"),
        (f"#define {P}_INPUT_IS_SEQUENCE {int(ir.input_seq)}", ""),
        (f"#define {P}_OUTPUT_IS_SEQUENCE {int(ir.output_seq)}", "1: y is [T][OUTPUT_SIZE]; 0: y is [OUTPUT_SIZE]"),
        (f"#define {P}_TIMESTEPS {ir.timesteps or 0}", "sequence length the model was built for; 0: any"),
    ]
    if view["out_steps"]:
        rows.append((f"#define {P}_OUTPUT_TIMESTEPS(T) {view['out_steps']}",
                     "timesteps of y for T input timesteps (0: too few)"))
    rows += [
        (f"#define {P}_CAN_STREAM {int(ir.causal)}", f"1: {p}_step exists"),
        (f"#define {P}_STATEFUL {int(ir.stateful)}", f"1: {p}_predict keeps stateful layers' state"),
        (f"#define {P}_NUM_LAYERS {len(ir.nodes)}", ""),
        (f"#define {P}_NUM_INPUTS {len(view['inputs'])}", ""),
        (f"#define {P}_NUM_OUTPUTS {len(view['outputs'])}", ""),
    ]
    for i in view["inputs"]:
        rows.append((f"#define {P}_IN{i['k']}_SIZE {i['width']}",
                     f"{i['name']}: '{ir.input_names[i['k']]}' {i['shape']}"))
        rows.append((f"#define {P}_IN{i['k']}_IS_SEQUENCE {int(i['seq'])}", ""))
        if i["tokens"]:
            rows.append((f"#define {P}_IN{i['k']}_TOKENS {i['tokens_limit']}",
                         f"{i['name']} holds token ids ({i['ctype']}) in [0, {i['tokens_limit']}); "
                         "others embed as zeros"))
    for o in view["outputs"]:
        rows.append((f"#define {P}_OUT{o['k']}_SIZE {o['width']}",
                     f"{o['name']}: {o['shape']}" + (f" (timesteps of {o['steps_of']})" if o["seq"] else "")))
        rows.append((f"#define {P}_OUT{o['k']}_IS_SEQUENCE {int(o['seq'])}", ""))
    rows += [
        (f"#define {P}_WEIGHT_BYTES {ir.weight_bytes}", "const weights (flash)"),
        (f"#define {P}_STATE_BYTES {ir.state_bytes}", f"sizeof({p}_state), RAM per stream"),
        (f"#define {P}_SCRATCH_BYTES {ir.scratch_bytes}",
         f"sizeof({p}_scratch), RAM shared by streams"),
        (f"#define {P}_PREDICT_BLOCK {ir.block_steps}",
         f"timesteps per block of input projections in {p}_predict (0: none; kerasc convert --predict-block)"),
    ]
    if ir.needs_work:
        rows.append((f"#define {P}_WORK_FLOATS(T) {view['work_floats']}",
                     f"floats of {p}_predict's work for T timesteps"))
    return _aligned(rows)


def render_header(ir: ModelIR, gate_trace: bool = False) -> str:
    """NAME.h as shipped; `gate_trace=True` renders the trace build of `kerasc gates --trace` instead, which
    also calls NAME_GATE_AT / NAME_GATE (defined by the harness shim) to record every gate's activation."""
    tpl = environment().get_template("model.h.j2")
    view = _view(ir)
    view["size_macros"] = size_macros(ir, view)
    text = tpl.render(ir=ir, p=ir.name, P=ir.NAME, view=view, MARKER=MARKER,
                      runtime_version=runtime_version(), gate_trace=gate_trace)
    return _request_optional_kernels(text)


@functools.cache
def optional_kernels() -> frozenset[str]:
    """Runtime kernels compiled only on request (`KC_USE_<NAME>` in kc_runtime.h, part 4): the
    activations that need expm1f, log1pf or erff, which some C libraries (avr-libc) lack."""
    return frozenset(m.lower() for m in re.findall(r"defined\(KC_USE_(\w+)\)", runtime_source())
                     if m != "ALL_ACTIVATIONS")


def _request_optional_kernels(text: str) -> str:
    """Define KC_USE_<NAME> before `#include "kc_runtime.h"` for each optional kernel the header calls
    (kc_act_NAME or kc_vec_NAME), so the runtime compiles those and only those."""
    used = sorted(set(re.findall(r"\bkc_(?:act|vec)_(\w+)\(", text)) & optional_kernels())
    if not used:
        return text
    include = f'#include "{RUNTIME_HEADER}"\n'
    assert text.count(include) == 1, "model.h.j2 includes kc_runtime.h once"
    defines = "".join(f"#define KC_USE_{name.upper()} 1\n" for name in used)
    return text.replace(include, "/* optional runtime kernels this model calls */\n" + defines + include)


def runtime_source() -> str:
    return (runtime_dir() / RUNTIME_HEADER).read_text()


def write_files(ir: ModelIR, out_dir: Path, force: bool = False,
                extra: Optional[dict[str, str]] = None) -> list[Path]:
    """Write NAME.h and kc_runtime.h (and `extra`: {file name: text}, e.g. the self-test) into out_dir,
    all of them or none; return their paths."""
    out_dir = Path(out_dir)
    files = {out_dir / f"{ir.name}.h": render_header(ir), out_dir / RUNTIME_HEADER: runtime_source()}
    files.update({out_dir / fname: text for fname, text in (extra or {}).items()})
    if ir.weight_bytes > LARGE_WEIGHTS_BYTES:
        warnings.warn(f"{ir.name}: the weights take {ir.weight_bytes} bytes of flash, more than most "
                      "microcontrollers have", stacklevel=2)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConversionError(f"cannot create output directory {out_dir}: {exc.strerror or exc}") from None
    if not out_dir.is_dir():
        raise ConversionError(f"cannot write into {out_dir}: it is not a directory")
    for path in files:
        check_overwrite(path, force)
    try:
        atomic_write_all(files)
    except OSError as exc:
        where = exc.filename if isinstance(exc.filename, str) and not Path(exc.filename).name.startswith(".") \
            else str(out_dir)
        raise ConversionError(f"cannot write {where}: {exc.strerror or exc}; nothing was written") from None
    return list(files)


def check_overwrite(path: Path, force: bool) -> None:
    if path.is_dir():
        raise ConversionError(f"cannot write {path}: it is a directory; nothing was written")
    if force or not path.exists():
        return
    try:
        head = path.read_text(errors="replace")[:4096]
    except OSError as exc:
        raise ConversionError(f"cannot read {path} to check it before overwriting: {exc.strerror}") from None
    if MARKER not in head and "kc_runtime.h - kerasc runtime" not in head and \
            "kc_qruntime.h: the integer kernels of kerasc" not in head:
        raise ConversionError(f"{path} exists and was not generated by kerasc; refusing to overwrite it "
                              "(use --force, or force=True, to overwrite)")
