"""conditioning: the exact reference of verify and the three-outcome verdict (docs/verify.md).

The generated C built with -DKC_FLOAT=double (kc_runtime.h "scalar type": the model's float32 weights,
double arithmetic, libm's double functions) is the exact reference. Per layer and timestep verify
then knows three errors, C float32 vs Keras, C float32 vs exact, Keras vs exact, and the
sensitivity: how far the exact output moves when the inputs (for token inputs: the Embedding
tables, i.e. the first layer's output) get random relative noise of one float32 ulp, the largest
movement over COPIES perturbed copies.

A correct float32 port and Keras are two float32 computations of one function: each lands at a
random distance from the exact result, of the size float32 rounding grows to in that model (the
noise scale). So outside tolerance of Keras the verdict is
- PASS (float32-limited) when at every layer and timestep kerasc's distance to exact is within
  FACTOR times the noise scale seen by Keras (Keras' own distance, or the sensitivity), Keras'
  distance within FACTOR times the noise scale seen by kerasc, and the sensitivity reaches the
  tolerance: the model amplifies float32 rounding;
- FAIL otherwise, at the first layer and timestep where one of them is not so explained.
The noise scale at timestep t is the largest over t-WINDOW..t+WINDOW (one realisation of rounding
noise fluctuates from step to step). FACTOR, COPIES and WINDOW were chosen on chaotic LSTM stacks
(benchmarks/verdict_margin.py prints the ratios): over 36 layer runs of correct ports the largest was 4.8.
Pure numpy apart from the builds; Keras is not imported here."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np

FACTOR = 8.0  # a distance to exact within FACTOR x the float32 noise scale is float32 rounding
COPIES = 8  # perturbed copies for the sensitivity
WINDOW = 2  # timesteps either side over which the noise scale is taken
SEED = 20261216  # of the perturbations (fixed: a verify run reproduces)

PASS, LIMITED, FAIL = "PASS", "PASS (float32-limited)", "FAIL"


@dataclass
class LayerExact:
    """One layer's errors against the exact reference, per timestep (shape (T,), or (1,) for vector outputs)."""

    ce_t: np.ndarray  # max |C float32 - exact| over batch and units
    ke_t: np.ndarray  # max |Keras - exact|
    sens_t: np.ndarray  # max movement of exact under 1-ulp input noise
    tol_t: np.ndarray  # smallest tolerance atol + rtol * |exact| of the step
    ce_ok_t: np.ndarray  # bool: every C value within tolerance of exact
    ke_ok_t: np.ndarray  # bool: every Keras value within tolerance of exact
    seq: bool

    @property
    def max_ce(self) -> float:
        return float(self.ce_t.max()) if self.ce_t.size else 0.0

    @property
    def max_ke(self) -> float:
        return float(self.ke_t.max()) if self.ke_t.size else 0.0

    @property
    def max_sens(self) -> float:
        return float(self.sens_t.max()) if self.sens_t.size else 0.0

    def scale(self, other: np.ndarray) -> np.ndarray:
        """The noise scale per timestep: max(other, sensitivity), the largest within +-WINDOW steps."""
        s = np.maximum(other, self.sens_t)
        return np.array([s[max(0, t - WINDOW):t + WINDOW + 1].max() for t in range(len(s))]) if s.size else s

    @property
    def ratio_ce_t(self) -> np.ndarray:
        """kerasc's distance to exact over the noise scale Keras sees (0 where within tolerance of exact)."""
        return _ratio(self.ce_t, self.scale(self.ke_t), self.ce_ok_t)

    @property
    def ratio_ke_t(self) -> np.ndarray:
        return _ratio(self.ke_t, self.scale(self.ce_t), self.ke_ok_t)


def _ratio(err: np.ndarray, scale: np.ndarray, ok: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(scale > 0, err / np.where(scale > 0, scale, 1.0), np.where(err > 0, np.inf, 0.0))
    return np.where(ok, 0.0, np.where(np.isnan(r), np.inf, r))


@dataclass
class Exactness:
    """The exact side of a verify Report (Report.exact): per traced layer, and the verdict's facts."""

    layers: list[LayerExact] = field(default_factory=list)
    copies: int = COPIES
    factor: float = FACTOR
    perturbed: str = "inputs"  # what got the 1-ulp noise: "inputs", or "Embedding tables"


def _t(a: np.ndarray, seq: bool) -> np.ndarray:
    """Max over batch and units per timestep: (B, T, W) -> (T,); (B, W) -> (1,)."""
    a = np.where(np.isnan(a), np.inf, a)
    if seq:
        return a.max(axis=(0, 2)) if a.size else np.zeros(a.shape[1] if a.ndim == 3 else 0)
    return np.array([a.max()]) if a.size else np.zeros(1)


def layer_exact(c: np.ndarray, k: np.ndarray, e: np.ndarray, perturbed: Sequence[np.ndarray], atol: float,
                rtol: float) -> LayerExact:
    e = np.asarray(e, dtype=np.float64)
    seq = e.ndim == 3
    tol = atol + rtol * np.abs(e)
    tol = np.where(np.isnan(tol), atol, tol)

    def err(a: np.ndarray) -> np.ndarray:
        if a.shape != e.shape:
            return np.full(e.shape, np.inf)
        return np.abs(np.asarray(a, dtype=np.float64) - e)

    ce, ke = err(c), err(k)
    sens = np.max([_t(err(p), seq) for p in perturbed], axis=0) if perturbed else np.zeros_like(_t(ce, seq))

    def ok(d: np.ndarray) -> np.ndarray:
        return _t(np.where(d <= tol, 0.0, 1.0), seq) == 0

    tol_t = _t(-tol, seq) * -1.0 if tol.size else np.zeros(1)  # the smallest tolerance of each step
    return LayerExact(_t(ce, seq), _t(ke, seq), sens, tol_t, ok(ce), ok(ke), seq)


# ---------------------------------------------------------------- builds and runs

def _perturb(a: np.ndarray, rng: np.random.Generator, keep: Sequence[float] = (0.0,)) -> np.ndarray:
    """Every value moved by one float32 ulp, up or down at random (a relative change of 2^-24..2^-23), except
    the values in `keep`: zero (whose relative noise is zero) and the mask values of Masking layers, so
    padding stays padding (one denormal step away from 0.0, a padded step would count as data)."""
    a = np.asarray(a, dtype=np.float32)
    direction = np.where(rng.random(a.shape) < 0.5, -np.inf, np.inf).astype(np.float32)
    moved = np.nextafter(a, direction)
    fixed = np.isin(a, np.asarray(keep, dtype=np.float32))
    return np.where(fixed, a, moved)


def _kept_values(ir: Any) -> list[float]:
    """0.0 and the mask_value of every Masking node (the values _perturb leaves alone)."""
    out = [0.0]
    for node in ir.nodes:
        if node.kind == "masking":
            m = re.fullmatch(r"\(?(-?[0-9.eE+-]+)f?\)?", str(node.options.get("mask_value", "0")).strip())
            if m:
                out.append(float(m.group(1)))
    return out


def _renamed(ir: Any, text: str, new: str) -> str:
    """A generated header with every symbol of model `ir.name` renamed to `new` (functions, types, arrays,
    macros, include guard): a perturbed copy that can live in one extension beside the original."""
    p, P = re.escape(ir.name), re.escape(ir.NAME)
    text = re.sub(rf"\b{p}(?=(_state|_scratch|_reset|_reset_from|_step|_step_block|_predict)\b|__\w)", new, text)
    text = re.sub(rf"\b{P}(?=_[A-Z0-9_]+\b)", new.upper(), text)
    return text.replace(f'"{ir.name}.h"', f'"{new}.h"')


def _embedding_copies(ir: Any, copies: int, rng: np.random.Generator) -> tuple[list[Any], dict[str, str]]:
    """IRs (renamed NAME_kcpK) whose Embedding tables read by token inputs are perturbed by one ulp,
    and their header texts."""
    from .codegen import render_header

    irs, headers = [], {}
    for n in range(copies):
        nodes = []
        for node in ir.nodes:
            if node.kind == "embedding" and node.arrays and node.arrays[0].ctype == "float":
                table = dataclasses.replace(node.arrays[0], values=_perturb(node.arrays[0].values, rng))
                node = dataclasses.replace(node, arrays=(table,) + tuple(node.arrays[1:]))
            nodes.append(node)
        new = f"{ir.name}_kcp{n}"
        text = _renamed(ir, render_header(dataclasses.replace(ir, nodes=tuple(nodes))), new)
        irs.append(dataclasses.replace(ir, name=new, nodes=tuple(nodes)))
        headers[f"{new}.h"] = text
    return irs, headers


def exact_traces(ir: Any, x: Any, copies: int = COPIES) -> tuple[list[np.ndarray], list[list[np.ndarray]], str]:
    """(exact trace, [trace of each perturbed copy], what was perturbed), from the double build of `ir`
    (cached by content hash like every harness build; one extension for the model and its copies)."""
    from .harness import DOUBLE_DEFINE, compile_models

    rng = np.random.default_rng(SEED)
    xs = list(x) if isinstance(x, (list, tuple)) else [x]
    floats = [k for k, t in enumerate(ir.input_ctypes) if t == "float"]
    tokens = len(floats) < len(xs)
    extra_irs, headers = _embedding_copies(ir, copies, rng) if tokens else ([], {})
    builds = compile_models([ir] + extra_irs, defines=[DOUBLE_DEFINE], headers=headers or None)
    one = (lambda v: v[0] if len(v) == 1 else v)

    def trace(cm: Any, inputs: list) -> list[np.ndarray]:
        cm.reset()  # stateful models: every run starts from the zero state, as verify's float32 run does
        return cm.trace(one(inputs))[1]

    exact = trace(builds[0], xs)
    perturbed = []
    if tokens:
        for cm in builds[1:]:
            perturbed.append(trace(cm, xs))
    else:
        for _ in range(copies):
            perturbed.append(trace(builds[0], [_perturb(a, rng, _kept_values(ir)) if k in floats else a
                                               for k, a in enumerate(xs)]))
    return exact, perturbed, ("Embedding tables" if tokens else "inputs")


def build_exactness(ir: Any, x: Any, c_layers: Sequence[np.ndarray], k_layers: Sequence[np.ndarray], atol: float,
                    rtol: float, copies: int = COPIES) -> Exactness:
    exact, perturbed, what = exact_traces(ir, x, copies)
    out = Exactness(copies=copies, perturbed=what)
    for i, (c, k, e) in enumerate(zip(c_layers, k_layers, exact)):
        if k.shape != e.shape and k.size == e.size:
            k = k.reshape(e.shape)
        out.layers.append(layer_exact(c, k, e, [p[i] for p in perturbed], atol, rtol))
    return out


# ---------------------------------------------------------------- verdict

@dataclass
class Verdict:
    outcome: str  # PASS, PASS (float32-limited) or FAIL
    sentence: str  # the reason in one sentence with the numbers ("" for a plain PASS)
    where: Optional[tuple[int, Optional[int]]] = None  # FAIL: (layer position, timestep) of the first failure
    # float32-limited: where the amplification starts (layer position, timestep), largest ratio and where
    amplification: Optional[tuple[int, Optional[int]]] = None
    worst_ratio: float = 0.0


def _at(report: Any, pos: int, t: Optional[int]) -> str:
    r = report.layers[pos]
    return f"layer [{r.index}] '{r.name}' ({r.keras_class})" + ("" if t is None else f", timestep {t}")


def verdict(report: Any, strict: bool = False) -> Verdict:
    """The outcome of a verify Report (see the module docstring); `strict`: tolerance of Keras alone."""
    if report.ok:
        return Verdict(PASS, "")
    ex: Optional[Exactness] = getattr(report, "exact", None)
    bad = report.first_failure
    if strict or ex is None or not ex.layers:
        return Verdict(FAIL, f"first disagreement: {bad.first_bad}" if bad is not None else "",
                       (report.layers.index(bad), bad.worst_t) if bad is not None else None)
    F = ex.factor
    # kerasc worse than the noise Keras sees, or Keras worse than the noise kerasc sees: the first place
    for pos, le in enumerate(ex.layers):
        rc, rk = le.ratio_ce_t, le.ratio_ke_t
        for t in range(len(rc)):
            tt = t if le.seq else None
            if rc[t] > F:
                return Verdict(FAIL, (
                    f"kerasc is worse than Keras against exact arithmetic at {_at(report, pos, tt)}: the float32 C is "
                    f"{le.ce_t[t]:.2e} from the double-precision build where Keras is {le.ke_t[t]:.2e} and 1-ulp "
                    f"input noise moves it by {le.sens_t[t]:.2e} ({rc[t]:.3g}x the float32 noise, more than {F:g}x)"),
                    (pos, tt))
            if rk[t] > F:
                return Verdict(FAIL, (
                    f"the C computes something else than Keras at {_at(report, pos, tt)}: Keras is {le.ke_t[t]:.2e} "
                    f"from the C's double-precision build, which float32 rounding explains only up to "
                    f"{max(le.ce_t[t], le.sens_t[t]):.2e} (the float32 C is {le.ce_t[t]:.2e} from it, 1-ulp input "
                    f"noise moves it by {le.sens_t[t]:.2e}; {rk[t]:.3g}x, more than {F:g}x)"), (pos, tt))
    # the amplification: where the sensitivity first exceeds the tolerance
    amp = None
    for pos, le in enumerate(ex.layers):
        hit = np.nonzero(le.sens_t > le.tol_t)[0]
        if hit.size:
            amp = (pos, int(hit[0]) if le.seq else None)
            break
    first = bad.first_bad if bad is not None else "?"
    if amp is None:
        return Verdict(FAIL, (f"the C and Keras disagree beyond the tolerance ({first}) though 1-ulp input noise moves "
                              f"the exact output by at most {max(le.max_sens for le in ex.layers):.2e}, within the "
                              "tolerance: the model's conditioning does not explain it"),
                       (report.layers.index(bad), bad.worst_t) if bad is not None else None)
    worst, wpos, wt = 0.0, 0, None
    for pos, le in enumerate(ex.layers):
        r = le.ratio_ce_t
        if r.size and r.max() > worst:
            worst, wpos, wt = float(r.max()), pos, (int(r.argmax()) if le.seq else None)
    last = ex.layers[-1]
    apos, at_ = amp
    ale = ex.layers[apos]
    ratio = last.max_ce / last.max_ke if last.max_ke > 0 else float("inf")
    sentence = (f"the model amplifies float32 rounding: 1-ulp noise on the {ex.perturbed} moves the exact output by "
                f"up to {max(le.max_sens for le in ex.layers):.2e}, first above the tolerance at "
                f"{_at(report, apos, at_)} ({ale.sens_t[at_ if at_ is not None else 0]:.2e}); against the same C in "
                f"double precision the float32 C is {last.max_ce:.2e} and Keras {last.max_ke:.2e} away at the output "
                f"({ratio:.2g}x Keras'), and at every layer and timestep the C is within {F:g}x of the float32 noise "
                f"(Keras' distance or the sensitivity; at most {worst:.2g}x" +
                (f", at {_at(report, wpos, wt)})" if worst > 0 else ")"))
    return Verdict(LIMITED, sentence, None, amp, worst)


EXIT_CODES = {PASS: 0, FAIL: 1, LIMITED: 4}
