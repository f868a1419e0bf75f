"""The markdown tables `kerasc bench` prints (every table records the CPU and compilers)."""

from __future__ import annotations

import datetime
from typing import Optional

from .settings import BASE_FLAGS, EIGEN_BASE_FLAGS, FLOOR_FLAGS, TRIAL_NS, Row, Settings
from .tools import compiler_version, cpu_model, default_cc, default_cxx


def us_text(ns: Optional[float]) -> str:
    if ns is None or ns == float("inf"):
        return "n/a"
    return f"{ns / 1000:.2f} µs" if ns >= 100 else f"{ns / 1000:.2g} µs"  # a few ns: two significant digits


def _ratio(ref: Optional[float], ours: Optional[float]) -> str:
    if ref is None or ours is None or not ours or ref == float("inf"):
        return "n/a"
    return f"{ref / ours:.2f}x"


def _ir(v: Optional[float]) -> str:
    return "n/a" if v is None else f"{v:,.0f}"


def header_lines(s: Settings, with_eigen: bool = False) -> list[str]:
    eigen = (f"; Eigen yardstick: {compiler_version(default_cxx())}, {' '.join(EIGEN_BASE_FLAGS)} -DNDEBUG + the "
             "same build" if with_eigen else "")
    return [
        f"date: {datetime.date.today().isoformat()}; CPU: {cpu_model()}; compiler: {compiler_version(default_cc())}; "
        f"flags: {' '.join(BASE_FLAGS)} + the build named{eigen}",
        f"T={s.timesteps} timesteps per sequence; C figures are the minimum over {s.rounds} alternating runs "
        f"of {s.trials} trials of ~{TRIAL_NS / 1e6:g} ms each, the same for each yardstick (C timing programs, no "
        "Python in the loop)",
    ]


def format_tables(rows: list[Row], s: Settings, with_ref: bool, with_eigen: bool = False) -> str:
    out = [*header_lines(s, with_eigen), ""]
    flags = list(s.flag_sets)
    # 1. the step: one table per build, the table with kerasc's column filled in
    out.append("Streaming step (time per timestep, state carried; reset + T steps per sequence):")
    for f in flags:
        cols = ["model", "MACs/step", "kerasc step"]
        cols += ["ref_rnn.c (C99)", "speed-up vs ref_rnn.c"] if with_ref else []
        cols += ["Eigen (C++)", "speed-up vs Eigen"] if with_eigen else []
        out += ["", f"Build `{f}`:", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for r in rows:
            step = r.kc_step.get(f)
            cells = [r.label, f"{r.macs:,}", us_text(step)]
            for on, other in ((with_ref, r.ref_step), (with_eigen, r.eigen_step)):
                if on:
                    cells += [us_text(other.get(f)), _ratio(other.get(f), step)]
            out.append("| " + " | ".join(cells) + " |")
    # the memory floor: no step can take less than reading its weights once
    if any(r.floor for r in rows):
        f0 = flags[0]
        cols = ["model", "weight bytes", f"read floor ({' '.join(FLOOR_FLAGS)})", f"kerasc step {f0}", "step / floor"]
        cols += [f"Eigen {f0}", "Eigen / floor"] if with_eigen else []
        out += ["", "Memory floor: the time to only read the model's weights once from cache (stream_bound.c, "
                "64 independent lanes, no arithmetic), measured in the same rounds:", "",
                "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for r in rows:
            cells = [r.label, f"{r.weight_bytes:,}", us_text(r.floor), us_text(r.kc_step.get(f0)),
                     _ratio(r.kc_step.get(f0), r.floor)]
            if with_eigen:
                cells += [us_text(r.eigen_step.get(f0)), _ratio(r.eigen_step.get(f0), r.floor)]
            out.append("| " + " | ".join(cells) + " |")
    # 2. instruction counts
    cg_flags = [f for f in flags if "-march=native" not in s.flag_sets[f]]
    if s.callgrind and cg_flags:
        cols = ["model"]
        for f in cg_flags:
            cols += [f"kerasc Ir/step {f}"] + ([f"ref_rnn.c Ir/step {f}", "ratio"] if with_ref else [])
        out += ["", "Instructions per timestep (valgrind --tool=callgrind; stable on noisy machines):", "",
                "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for r in rows:
            cells = [r.label]
            for f in cg_flags:
                cells.append(_ir(r.kc_ir.get(f)))
                if with_ref:
                    cells += [_ir(r.ref_ir.get(f)), _ratio(r.ref_ir.get(f), r.kc_ir.get(f))]
            out.append("| " + " | ".join(cells) + " |")
    # 3. sequences and Keras
    f0 = flags[0]
    cols = ["model", f"kerasc predict T ({f0})", "Keras eager step", "tf.function step", "Keras predict 1 step",
            "Keras predict T", "kerasc step vs tf.function step", "cm.predict seq/s", "model.predict seq/s",
            "throughput ratio", "max err kerasc vs Keras"]
    if with_ref:
        cols.append("max err ref_rnn.c vs Keras")
    if with_eigen:
        cols.append("max err Eigen vs Keras")
    out += ["", f"Whole sequences and Keras (Keras times per call; throughput on batches of {s.batch} sequences):",
            "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        k = r.keras
        kp = next((v for key, v in k.items() if key.startswith("predict T=")), None)
        tf_step = k.get("tf.function step")
        step = r.kc_step.get(f0)
        cells = [r.label, us_text(r.kc_seq.get(f0)), us_text(_s2ns(k.get("eager step"))), us_text(_s2ns(tf_step)),
                 us_text(_s2ns(k.get("predict 1 step"))), us_text(_s2ns(kp)),
                 _ratio(_s2ns(tf_step), step),
                 _rate(r.throughput.get("kerasc")), _rate(r.throughput.get("keras")),
                 _ratio(r.throughput.get("kerasc"), r.throughput.get("keras")),
                 _err(r.kc_err)]
        if with_ref:
            cells.append(_err(r.ref_err))
        if with_eigen:
            cells.append(_err(r.eigen_err))
        out.append("| " + " | ".join(cells) + " |")
    notes = [f"- {r.label}: {n}" for r in rows for n in r.notes]
    if notes:
        out += ["", "Notes:", *notes]
    return "\n".join(out)


def _s2ns(v: Optional[float]) -> Optional[float]:
    return None if v is None else v * 1e9


def _rate(v: Optional[float]) -> str:
    return "n/a" if v is None else f"{v:,.0f}"


def _err(v: Optional[float]) -> str:
    return "n/a" if v is None else f"{v:.1e}"
