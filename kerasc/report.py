"""report: a verify Report as a plot (PNG) and as one self-contained HTML page.

The plot shows, per layer and timestep, the largest |C - Keras| and how close it came to the
tolerance; the page adds the table of layers, the model, the tolerance and the versions of
everything that computed. The page has no external assets (the plot is inline base64), so it
can be mailed, attached to a CI run or archived as one file. Needs matplotlib (`kerasc[report]`).
"""

from __future__ import annotations

import base64
import datetime
import functools
import io
import math
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .errors import MissingExtraError
from .files import write_output
from .verify import Report

# Line colours of the plot, one per layer (matplotlib's tab10; the browser test looks for the first).
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
          "#17becf")
FAIL_COLOR = "#c0392b"
HTML_NAME = "index.html"


def require_matplotlib() -> Any:
    """matplotlib.pyplot on the Agg backend (no display needed); MissingExtraError if not installed."""
    try:
        import matplotlib
    except ImportError as exc:
        raise MissingExtraError(f"plots and reports need matplotlib, which is not installed ({exc}); install it "
                                "with: pip install 'kerasc[report]'") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _positive_floor(*arrays: np.ndarray) -> float:
    """Where to draw an error of exactly 0 on a log axis: a decade below the smallest non-zero value."""
    values = np.concatenate([a[np.isfinite(a) & (a > 0)] for a in arrays] + [np.zeros(0)])
    if values.size == 0:
        return 1e-12
    return float(10.0 ** (math.floor(math.log10(values.min())) - 1))


def _series(report: Report) -> list[tuple[str, str, Optional[np.ndarray], Optional[np.ndarray], float, float]]:
    """(label, colour, err_t, ratio_t, max err, max ratio) per layer; err_t None for vector outputs."""
    out = []
    for i, r in enumerate(report.layers):
        label = f"[{r.index}] {r.name} ({r.keras_class})" + ("" if r.err_t is not None else ", final output")
        out.append((label, COLORS[i % len(COLORS)], r.err_t, r.tol_ratio_t, r.max_abs_err, r.max_tol_ratio))
    return out


def figure(report: Report) -> Any:
    """The matplotlib Figure: max |C - Keras| per timestep (top) and that error over the tolerance
    (bottom, a mismatch above 1), one line per layer; layers that output one vector per sequence
    are a marker at the last timestep."""
    plt = require_matplotlib()
    series = _series(report)
    T = report.timesteps
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(9.0, 6.0), dpi=100,
                                      gridspec_kw={"height_ratios": [3, 2]})
    errs = [s[2] for s in series if s[2] is not None] + [np.array([s[4] for s in series])]
    ratios = [s[3] for s in series if s[3] is not None] + [np.array([s[5] for s in series])]
    floors = (_positive_floor(*errs), _positive_floor(*ratios))
    for n, (label, color, err_t, ratio_t, err, ratio) in enumerate(series):
        for ax, seq, single, floor in ((top, err_t, err, floors[0]), (bottom, ratio_t, ratio, floors[1])):
            if seq is not None:
                y = np.where(np.isfinite(seq), np.maximum(seq, floor), np.nan)
                ax.plot(np.arange(len(seq)), y, color=color, lw=1.8, label=label if ax is top else None)
            else:
                x = (T - 1) if T else n
                ax.plot([x], [max(single, floor) if math.isfinite(single) else np.nan], marker="o", ms=8,
                        color=color, ls="none", label=label if ax is top else None)
    ex = report.exact
    if ex is not None:  # the exact side: |C - exact| dashed, |Keras - exact| dotted, in each layer's colour
        for n, ((label, color, err_t, _, _, _), le) in enumerate(zip(series, ex.layers)):
            for values, ls, what in ((le.ce_t, "--", "C − exact"), (le.ke_t, ":", "Keras − exact")):
                if err_t is None and not le.seq:
                    continue
                y = np.where(np.isfinite(values), np.maximum(values, floors[0]), np.nan)
                top.plot(np.arange(len(values)), y, color=color, lw=1.2, ls=ls,
                         label=f"|{what}|" if n == 0 else None)
    top.axhline(report.atol, color="#555555", ls="--", lw=1, label=f"atol {report.atol:g}")
    bottom.axhline(1.0, color=FAIL_COLOR, ls="--", lw=1.2,
                   label="tolerance: above fails" if ex is None else "tolerance: above is a mismatch")
    for ax in (top, bottom):
        ax.set_yscale("log")
        ax.grid(True, which="major", alpha=0.3)
    top.set_ylabel("max |C − Keras|" if ex is None else "max |error|")
    bottom.set_ylabel("max error / tolerance")
    bottom.set_xlabel("timestep" if T else "layer")
    verdict = report.outcome
    top.set_title(f"{report.model}: C vs Keras, every layer and timestep ({verdict}, input {report.input_shape})",
                  fontsize=11)
    top.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    bottom.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    note = f"tolerance: atol {report.atol:g} + rtol {report.rtol:g} · |keras|"
    if any(np.any(a == 0) for a in errs):
        note += "; errors of exactly 0 are drawn at the bottom of the axis"
    fig.text(0.01, 0.01, note, fontsize=7.5, color="#555555")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return fig


def plot_png(report: Report) -> bytes:
    plt = require_matplotlib()
    fig = figure(report)
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", bbox_inches="tight", metadata={"Software": None})
    finally:
        plt.close(fig)
    return buf.getvalue()


def write_plot(report: Report, path: Any, png: Optional[bytes] = None) -> Path:
    """Write the plot as a PNG file; `png` defaults to plot_png(report)."""
    path = Path(path)
    _write_bytes(path, plot_png(report) if png is None else png)
    return path


@functools.cache
def _environment() -> Any:
    import jinja2

    from ._resources import templates_dir

    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir())), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render_html(report: Report, png: Optional[bytes] = None, inputs: Optional[str] = None) -> str:
    """The page as text; `png` defaults to plot_png(report)."""
    from . import describe

    png = plot_png(report) if png is None else png
    model = describe.from_ir(report.ir) if report.ir is not None else None
    ex = report.exact.layers if report.exact is not None else []
    rows = [{
        "label": f"[{r.index}] {r.name}", "cls": r.keras_class, "shape": str(r.shape), "err": f"{r.max_abs_err:.2e}",
        "rel": f"{r.max_rel_err:.1e}", "worst_t": "-" if r.worst_t is None else str(r.worst_t),
        "ratio": f"{r.max_tol_ratio:.2g}", "ok": r.ok,
        "status": ("ok" if r.ok else f"MISMATCH ({r.mismatches})")
        + (f" ({r.nonfinite_agree} NaN or infinite in both)" if r.nonfinite_agree else ""),
        **({"ce": f"{ex[i].max_ce:.2e}", "ke": f"{ex[i].max_ke:.2e}", "sens": f"{ex[i].max_sens:.2e}"}
           if i < len(ex) else {"ce": "-", "ke": "-", "sens": "-"}),
    } for i, r in enumerate(report.layers)]
    v = report.verdict
    bad = report.first_failure
    ir = report.ir
    summary = None
    if ir is not None:
        from .ir import FLOAT_BYTES

        scratch = ir.scratch_floats * FLOAT_BYTES
        summary = {
            "params": ir.params, "flash": ir.weight_bytes, "ram": ir.ram_bytes, "state": ir.state_bytes,
            "scratch": scratch,
            "streaming": "yes" if ir.causal else f"no ({describe.why_not_stream(ir)})",
        }
    return _environment().get_template("report/verify.html.j2").render(
        report=report, rows=rows, verdict=v.outcome, first_bad=bad.first_bad if bad else None,
        badge={"PASS": "pass", "FAIL": "fail"}.get(v.outcome, "limited"),
        sentence="" if v.sentence.startswith("first disagreement:") else v.sentence,
        max_err=f"{report.max_abs_err:.2e}", png_b64=base64.b64encode(png).decode("ascii"),
        model=model, summary=summary, inputs=inputs or report.inputs, gates=_gates_section(ir),
        options=lambda row: " ".join(f"{k}={v}" for k, v in row.options.items()),
        generated=datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
    )


def _gates_section(ir: Any) -> Any:
    """The per-gate section (kerasc.gates_plot, templates/report/gates.html.j2); None without recurrent layers."""
    from .gates_plot import html_section

    return html_section(ir) if ir is not None else None


def write_html(report: Report, out_dir: Any, png: Optional[bytes] = None, inputs: Optional[str] = None) -> Path:
    """Write OUT_DIR/index.html (self-contained) and return its path."""
    path = Path(out_dir) / HTML_NAME
    _write_bytes(path, render_html(report, png, inputs).encode("utf-8"))
    return path


def _write_bytes(path: Path, data: bytes) -> None:
    write_output(path, data)
