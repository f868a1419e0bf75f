"""gates_plot: pictures of kerasc.gates' per-gate arrays and traces (`kerasc gates --plot DIR`).

Plotting is split in two: *specs* (plain data: which arrays each panel shows, exactly the exported
per-gate arrays, and where the gate boundaries are) and *drawing* them with matplotlib (`kerasc[report]`).
Tests and callers can check the specs without looking at pixels. NaN and Inf are never dropped: a heatmap
draws them in their own colours with a marker on each, and a histogram panel names their counts in red.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from .gates import GATE_WORDS, SLOT_WORDS, TRACE_SLOTS, RecurrentLayer

NAN_COLOR = "#ff00ff"  # magenta cells: NaN
POS_INF_COLOR = "#000000"  # black cells: +Inf
NEG_INF_COLOR = "#00ff00"  # green cells: -Inf
BAD_TEXT = "#c0392b"


@dataclass(frozen=True)
class Panel:
    """One panel. heatmap: `parts` side by side (gate order), `boundaries` the first column of each part;
    hist: the values of parts[0]; trace: parts[0] (batch, T, units), drawn as units x time of one sample."""

    kind: str  # heatmap, hist, trace
    title: str
    names: tuple[str, ...]  # export names (or trace keys) of the arrays shown
    parts: tuple[np.ndarray, ...]
    boundaries: tuple[int, ...] = ()
    labels: tuple[str, ...] = ()  # heatmap: the gate of each part

    @property
    def data(self) -> np.ndarray:
        """What is drawn: the parts side by side (a 1-D bias as one row)."""
        if self.kind == "trace":
            return np.asarray(self.parts[0][0]).T  # (units, T) of sample 0
        parts = [np.atleast_2d(p) for p in self.parts]
        return np.hstack(parts) if len(parts) > 1 else parts[0]

    @property
    def nan(self) -> int:
        return int(sum(np.isnan(p).sum() for p in self.parts))

    @property
    def inf(self) -> int:
        return int(sum(np.isinf(p).sum() for p in self.parts))


@dataclass(frozen=True)
class FigureSpec:
    title: str
    file: str  # file name under the --plot directory
    panels: tuple[Panel, ...]
    rows: int
    cols: int
    shared: bool = True  # one colour scale (heatmaps) / common bins and axes (histograms)
    extra: dict = field(default_factory=dict)


def _file_stem(r: RecurrentLayer) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in r.key.replace("/", "_"))


def _kernels(r: RecurrentLayer) -> list[str]:
    return list(dict.fromkeys(a.kernel for a in r.arrays))


def weight_specs(r: RecurrentLayer, shared: bool = True) -> list[FigureSpec]:
    """Two figures for one layer (direction): a heatmap of each kernel with the gate boundaries marked,
    and a histogram grid (rows: kernels, columns: gates)."""
    U = r.units
    heat = []
    for k in _kernels(r):
        arrs = [a for a in r.arrays if a.kernel == k]
        heat.append(Panel("heatmap", f"{k} {tuple(np.hstack([np.atleast_2d(a.values) for a in arrs]).shape)}"
                          if k in ("kernel", "recurrent_kernel") else f"{k} ({len(arrs) * U},)",
                          tuple(a.name for a in arrs), tuple(a.values for a in arrs),
                          tuple(g * U for g in range(len(arrs))), tuple(a.gate for a in arrs)))
    hist = []
    kernels = _kernels(r)
    for k in kernels:
        for g in r.gates:
            a = r.array(k, g)
            if a is None:
                continue
            hist.append(Panel("hist", f"{k} {g} ({GATE_WORDS[g]})" if g else k, (a.name,), (a.values,)))
    head = f"'{r.keras_name}' {r.direction} ({r.cell}, F={r.in_width}, U={r.units})"
    stem = _file_stem(r)
    return [FigureSpec(f"{head}: kernels, gate order {', '.join(r.gates) or '-'}", f"{stem}_weights.png",
                       tuple(heat), len(heat), 1, shared),
            FigureSpec(f"{head}: values per gate and kernel", f"{stem}_hist.png", tuple(hist),
                       len(kernels), max(1, len(r.gates)), shared)]


def trace_specs(trace: dict[str, np.ndarray], layers: Sequence[RecurrentLayer], sample: int = 0) -> list[FigureSpec]:
    """Per layer (direction): one units x time heatmap per gate/state of `kerasc gates --trace`."""
    out = []
    for r in layers:
        keys = [f"{r.key}/{s}" for s in TRACE_SLOTS[r.node.kind] if f"{r.key}/{s}" in trace]
        panels = tuple(Panel("trace", f"{k.rsplit('/', 1)[1]} ({SLOT_WORDS[k.rsplit('/', 1)[1]]})", (k,),
                             (trace[k][sample:sample + 1],)) for k in keys)
        out.append(FigureSpec(f"'{r.keras_name}' {r.direction} ({r.cell}): activations, sample {sample}, "
                              "units x input timestep", f"{_file_stem(r)}_trace.png", panels, len(panels), 1))
    return out


def _finite_absmax(arrays: Sequence[np.ndarray]) -> float:
    vals = [np.abs(a[np.isfinite(a)]).max() for a in arrays if np.isfinite(a).any()]
    return float(max(vals)) if vals and max(vals) > 0 else 1.0


def draw(spec: FigureSpec) -> Any:
    """The spec as a matplotlib Figure (the caller closes it)."""
    from .report import require_matplotlib

    plt = require_matplotlib()
    from matplotlib import colors

    n = len(spec.panels)
    if spec.panels and spec.panels[0].kind == "hist":
        fig, axes = plt.subplots(spec.rows, spec.cols, figsize=(2.6 * spec.cols + 0.6, 2.0 * spec.rows + 0.8),
                                 squeeze=False, sharex=spec.shared, sharey=spec.shared)
        flat = list(axes.flat)
        finite = [p.parts[0][np.isfinite(p.parts[0])] for p in spec.panels]
        allv = np.concatenate([f.ravel() for f in finite] + [np.zeros(0)])
        bins: Any = np.histogram_bin_edges(allv, bins=30) if spec.shared and allv.size else 30
        for ax, p, f in zip(flat, spec.panels, finite):
            ax.hist(f.ravel(), bins=bins, color="#1f77b4")
            ax.set_title(p.title, fontsize=8)
            ax.tick_params(labelsize=7)
            if p.nan or p.inf:
                ax.text(0.02, 0.95, f"NaN {p.nan}  Inf {p.inf}", transform=ax.transAxes, va="top", color=BAD_TEXT,
                        fontsize=8, fontweight="bold")
        for ax in flat[n:]:
            ax.axis("off")
    else:
        heights = [max(1.0, min(4.0, p.data.shape[0] * 0.25)) for p in spec.panels] or [1.0]
        fig, axes = plt.subplots(max(1, n), 1, figsize=(8, sum(heights) + 0.9 * max(1, n)), squeeze=False,
                                 gridspec_kw={"height_ratios": heights})
        vmax_all = _finite_absmax([p.data for p in spec.panels])
        for ax, p in zip(axes[:, 0], spec.panels):
            d = np.asarray(p.data, dtype=np.float64)
            vmax = vmax_all if spec.shared else _finite_absmax([d])
            cmap = plt.get_cmap("viridis" if p.kind == "trace" else "RdBu_r").copy()
            cmap.set_bad(NAN_COLOR)
            fin = d[np.isfinite(d)]
            norm = (colors.Normalize(float(fin.min(initial=0.0)), float(fin.max(initial=1.0)))
                    if p.kind == "trace" else colors.Normalize(-vmax, vmax))
            im = ax.imshow(np.ma.masked_invalid(d), aspect="auto", interpolation="nearest", cmap=cmap, norm=norm)
            for mask, color, mark in ((np.isposinf(d), POS_INF_COLOR, "^"), (np.isneginf(d), NEG_INF_COLOR, "v")):
                if mask.any():
                    cells = np.ma.masked_where(~mask, np.ones_like(d))
                    ax.imshow(cells, aspect="auto", interpolation="nearest",
                              cmap=colors.ListedColormap([color]))
                    yy, xx = np.nonzero(mask)
                    ax.scatter(xx, yy, marker=mark, s=18, c="white", edgecolors="none")
            if np.isnan(d).any():
                yy, xx = np.nonzero(np.isnan(d))
                ax.scatter(xx, yy, marker="x", s=18, c="black", linewidths=0.8)
            for b in p.boundaries[1:]:
                ax.axvline(b - 0.5, color="black", lw=1.2)
            if p.boundaries and p.labels and any(p.labels):
                w = d.shape[1] // len(p.boundaries)
                ax.set_xticks([b + (w - 1) / 2 for b in p.boundaries], [f"gate {g}" for g in p.labels], fontsize=8)
            else:
                ax.tick_params(labelsize=7)
            title = p.title
            if p.nan or p.inf:
                title += f"   NaN {p.nan} (x, magenta)  Inf {p.inf} (^ black +Inf, v green -Inf)"
            ax.set_title(title, fontsize=9, color=BAD_TEXT if p.nan or p.inf else "black")
            ax.set_ylabel("unit" if p.kind == "trace" else ("row" if d.shape[0] > 1 else ""), fontsize=8)
            if d.shape[0] == 1:  # a bias: one row, no row axis
                ax.set_yticks([])
            if p.kind == "trace":
                ax.set_xlabel("timestep", fontsize=8)
            fig.colorbar(im, ax=ax, fraction=0.03, pad=0.01)
    fig.suptitle(spec.title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.45 / fig.get_figheight()))
    return fig


def png(spec: FigureSpec) -> bytes:
    """The spec drawn as PNG bytes (no timestamp in the metadata: the same spec gives the same bytes)."""
    from .report import require_matplotlib

    plt = require_matplotlib()
    fig = draw(spec)
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=90, metadata={"Software": None})
    finally:
        plt.close(fig)
    return buf.getvalue()


def write_plots(specs: Sequence[FigureSpec], out_dir: Any) -> list[Path]:
    from .files import write_output

    out = []
    for s in specs:
        out.append(write_output(Path(out_dir) / s.file, png(s)))
    return out


def html_section(ir: Any) -> Optional[list[dict]]:
    """What verify --report's gates section shows per recurrent layer (direction): the statistics rows and the
    two pictures as base64 PNG; None when the model has no recurrent layer."""
    import base64

    from .gates import recurrent_layers, statistics

    layers = recurrent_layers(ir)
    if not layers:
        return None
    out = []
    for r in layers:
        rows = []
        for a in r.arrays:
            s = statistics(a.values)
            rows.append({"name": a.name, "keras": a.keras, "shape": str(tuple(s["shape"])),
                         **{k: "-" if s[k] is None else f"{s[k]:.4g}" for k in ("min", "max", "mean", "std")},
                         "nan": s["nan"], "inf": s["inf"], "zeros": s["zeros"]})
        out.append({"key": r.key, "cell": r.cell, "units": r.units, "features": r.in_width,
                    "gates": ", ".join(r.gates) or "-", "rows": rows,
                    "images": [{"title": s.title, "b64": base64.b64encode(png(s)).decode("ascii")}
                               for s in weight_specs(r)]})
    return out
