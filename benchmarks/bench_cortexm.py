"""Cortex-M cycle benchmark (issue 19, section 1): the generated step built with arm-none-eabi-gcc for
a Cortex-M4F (hard float), Cortex-M4 and Cortex-M0 (soft float, newlib's libm and libgcc), at -O2
and -Os, run (reset + T steps) in the cycle-approximate simulator benchmarks/cmsim (Unicorn +
Capstone + the Technical Reference Manuals' cycle tables). Beside it, in the same run and harness, the
CMSIS-NN LSTM yardstick (../shared/yardsticks/CMSIS-NN, compiled from there, never copied) with the
weights of the same Keras model; every output is checked against Keras.

Figures: cycles per step, MAC/cycle, instructions per step, flash (code + constants), static RAM
(.data + .bss + buffers), peak stack (painted), ratio vs CMSIS-NN (cycles per MAC: GRU has no
CMSIS-NN kernel, so it is compared per MAC with the LSTM of the same width).

usage (repository root, the project's venv):
    python benchmarks/bench_cortexm.py [--targets cortex-m4f,cortex-m4,cortex-m0] [--opts=-O2,-Os]
        [--only LSTM(64)] [--timesteps 8] [--ws 0] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (str(ROOT), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

import numpy as np  # noqa: E402

from cmsim import build as cmb  # noqa: E402

TARGETS = ["cortex-m4f", "cortex-m4", "cortex-m0"]
OPTS = ["-O2", "-Os"]
DEFAULT_T = 8
LAYERS = [("LSTM(64) F=32", "lstm", 32, 64), ("GRU(64) F=32", "gru", 32, 64), ("LSTM(128) F=128", "lstm", 128, 128)]
DEMO = ROOT / "examples" / "demo" / "activity.keras"


def find_cmsis() -> Optional[Path]:
    """$KERASC_CMSIS_NN, else ../shared/yardsticks/CMSIS-NN beside the repository."""
    env = os.environ.get("KERASC_CMSIS_NN")
    cand = Path(env) if env else ROOT.parent / "shared" / "yardsticks" / "CMSIS-NN"
    return cand if (cand / "Include" / "arm_nnfunctions.h").is_file() else None


class Unsupported(Exception):
    """A model the benchmark cannot run (the message says why)."""


@dataclass
class Cell:
    """One build of one implementation on one core."""

    cycles: float  # per step
    insns: float  # per step
    flash: int
    ram: int
    stack: int
    err: Optional[float]
    macs: int

    @property
    def mac_per_cycle(self) -> float:
        return self.macs / self.cycles


@dataclass
class Row:
    label: str
    macs: int
    kind: str
    H: int
    cells: dict = field(default_factory=dict)  # (impl, target, opt) -> Cell
    notes: list = field(default_factory=list)


# ------------------------------------------------------------------------- C harnesses

def _floats(name: str, a: np.ndarray, const: bool = True) -> str:
    vals = ", ".join(f"{float(v):.9g}f" for v in np.asarray(a, dtype=np.float32).ravel())
    return f"{'const ' if const else ''}float {name}[{a.size}] = {{{vals}}};\n"


def kerasc_main(ir: Any, T: int) -> str:
    p, P = ir.name, ir.NAME
    out_n = f"{P}_OUTPUT_SIZE"
    return f"""/* Cortex-M benchmark harness for the kerasc model {p}: reset, then {T} steps; cm_mark() after each. */
#include "{p}.h"
void cm_mark(void);
float cm_in[{T} * {P}_INPUT_SIZE] __attribute__((section(".noinit")));
float cm_out[{T} * {out_n}] __attribute__((section(".noinit")));
static {p}_state st;
int main(void)
{{
    int t;
    {p}_reset(&st);
    cm_mark();
    for (t = 0; t < {T}; ++t) {{
        {p}_step(&st, cm_in + t * {P}_INPUT_SIZE, cm_out + t * {out_n});
        cm_mark();
    }}
    return 0;
}}
"""


def cmsis_f32_main(kmodel: Any, T: int) -> str:
    """arm_lstm_unidirectional_f32 on the Keras LSTM's weights (gate order i, f, c, o in Keras; CMSIS-NN
    keeps one [H][F] input and one [H][H] hidden matrix per gate)."""
    W, U, b = [np.asarray(w, dtype=np.float32) for w in kmodel.layers[-1].get_weights()]
    F, H = W.shape[0], U.shape[0]
    src = ['/* CMSIS-NN arm_lstm_unidirectional_f32 on the Keras weights (benchmark harness). */\n',
           '#include "arm_nnfunctions.h"\n#include "arm_nnfunctions_flt.h"\n', "void cm_mark(void);\n"]
    for g, name in enumerate("ifco"):
        src.append(_floats(f"w_{name}", W[:, g * H:(g + 1) * H].T))
        src.append(_floats(f"u_{name}", U[:, g * H:(g + 1) * H].T))
        src.append(_floats(f"b_{name}", b[g * H:(g + 1) * H]))
    src.append(f"""float cm_in[{T * F}] __attribute__((section(".noinit")));
float cm_out[{T * H}] __attribute__((section(".noinit")));
static float temp1[{H}], temp2[{H}], cell[{H}];
int main(void)
{{
    cmsis_nn_lstm_params_f32 p;
    cmsis_nn_lstm_context_f32 ctx;
    p.time_major = 0; p.batch_size = 1; p.time_steps = {T}; p.input_size = {F}; p.hidden_size = {H};
    p.cell_clip = 0.0f;
    p.forget_gate.input_weights = w_f; p.forget_gate.hidden_weights = u_f; p.forget_gate.bias = b_f;
    p.forget_gate.activation_type = ARM_NN_FLT_ACT_SIGMOID;
    p.input_gate.input_weights = w_i; p.input_gate.hidden_weights = u_i; p.input_gate.bias = b_i;
    p.input_gate.activation_type = ARM_NN_FLT_ACT_SIGMOID;
    p.cell_gate.input_weights = w_c; p.cell_gate.hidden_weights = u_c; p.cell_gate.bias = b_c;
    p.cell_gate.activation_type = ARM_NN_FLT_ACT_TANH;
    p.output_gate.input_weights = w_o; p.output_gate.hidden_weights = u_o; p.output_gate.bias = b_o;
    p.output_gate.activation_type = ARM_NN_FLT_ACT_SIGMOID;
    ctx.temp1 = temp1; ctx.temp2 = temp2; ctx.cell_state = cell;
    cm_mark();
    if (arm_lstm_unidirectional_f32(cm_in, cm_out, &p, &ctx) != ARM_CMSIS_NN_SUCCESS) return 1;
    cm_mark();
    return 0;
}}
""")
    return "".join(src)


CMSIS_F32_SOURCES = ["Source/LSTMFunctions/arm_lstm_unidirectional_f32.c",
                     "Source/NNSupportFunctions/arm_nn_lstm_step_f32.c", "Source/NNSupportFunctions/arm_nntables_flt.c"]


# ------------------------------------------------------------------------- measuring

def measure_kerasc(ir: Any, x: np.ndarray, target: str, opt: str, work: Path, macs: int,
                   y_keras: Optional[np.ndarray], ws: int = 0) -> Cell:
    from kerasc.codegen import write_files

    T = x.shape[0]
    d = work / f"kc_{ir.name}"
    d.mkdir(parents=True, exist_ok=True)
    write_files(ir, d, force=True)
    (d / "main.c").write_text(kerasc_main(ir, T))
    elf = cmb.build([d / "main.c"], work / f"kc_{ir.name}_{target}{opt}.elf", target, opt, includes=[d])
    m = cmb.run_elf(elf, target, {"cm_in": x.astype("<f4").tobytes()}, ws=ws)
    if len(m.run.marks) != T + 1:
        raise RuntimeError(f"{elf.name}: {len(m.run.marks)} marks, expected {T + 1}")
    cyc, ins = m.between(0, T)
    err = None
    if y_keras is not None:
        y = m.read_floats("cm_out", T * ir.output_width).reshape(T, -1)
        err = float(np.abs(y - y_keras).max()) if ir.output_seq else float(np.abs(y[-1] - y_keras[-1]).max())
    return Cell(cyc / T, ins / T, m.flash, m.ram, m.run.stack_peak, err, macs)


def measure_cmsis_f32(cmsis: Path, kmodel: Any, x: np.ndarray, target: str, opt: str, work: Path, macs: int,
                      y_keras: Optional[np.ndarray], seq: bool = True, ws: int = 0) -> Cell:
    T = x.shape[0]
    H = kmodel.layers[-1].units
    src = work / f"cmsis_f32_{H}_{x.shape[1]}.c"
    src.write_text(cmsis_f32_main(kmodel, T))
    elf = cmb.build([src, *[cmsis / s for s in CMSIS_F32_SOURCES]], work / f"{src.stem}_{target}{opt}.elf",
                    target, opt, includes=[cmsis / "Include"], defines=["ARM_NN_ENABLE_F32=1"])
    m = cmb.run_elf(elf, target, {"cm_in": x.astype("<f4").tobytes()}, ws=ws)
    cyc, ins = m.between(0, 1)
    err = None
    if y_keras is not None:
        y = m.read_floats("cm_out", T * H).reshape(T, H)
        err = float(np.abs(y - y_keras).max()) if seq else float(np.abs(y[-1] - y_keras[-1]).max())
    return Cell(cyc / T, ins / T, m.flash, m.ram, m.run.stack_peak, err, macs)


# ------------------------------------------------------------------------- models

def layer_models(keras: Any, only: Optional[list] = None) -> list:
    rng = np.random.default_rng(0)
    out = []
    for label, kind, F, H in LAYERS:
        layer = keras.layers.LSTM if kind == "lstm" else keras.layers.GRU
        m = keras.Sequential([keras.Input((None, F)), layer(H, return_sequences=True)])
        m.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in m.get_weights()])
        if only is None or any(s in label for s in only):
            out.append((label, kind, H, m))
    return out


def bench_model(label: str, kind: str, H: int, model: Any, targets: list, opts: list, T: int, work: Path,
                cmsis: Optional[Path], ws: int = 0, progress=print) -> Row:
    from kerasc.bench import macs_per_step, ref_kind
    from kerasc.graph import build
    from kerasc.verify import load_keras_model

    name = "m" + "".join(c for c in label.lower() if c.isalnum())[:12]
    ir = build(model, name)
    if not (ir.input_seq and ir.causal) or ir.has_tokens or not ir.single_io:
        raise Unsupported(f"{label}: the Cortex-M benchmark runs the streaming step (reset + T steps) of a sequence "
                          "model with one float input and one output; this model has none")
    kmodel = load_keras_model(model)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((T, ir.input_width)).astype(np.float32)
    y = np.asarray(kmodel(x[None], training=False), dtype=np.float64)[0]
    y_keras = y if ir.output_seq else np.repeat(y[None], T, 0)  # only the last step is compared then
    macs = macs_per_step(ir)
    if kind is None:  # a user's model: CMSIS-NN beside it when it is one LSTM layer with Keras defaults
        kind = ref_kind(ir) or "model"
        H = ir.nodes[0].out_width
    row = Row(label, macs, kind, H)
    for target in targets:
        for opt in opts:
            jobs = [("kerasc float32", lambda: measure_kerasc(ir, x, target, opt, work, macs, y_keras, ws))]
            if cmsis is not None and kind == "lstm":
                jobs.append(("CMSIS-NN f32", lambda: measure_cmsis_f32(cmsis, kmodel, x, target, opt, work, macs,
                                                                       y_keras, ir.output_seq, ws)))
            for impl, job in jobs:
                progress(f"  {label}: {impl} {target} {opt}")
                try:
                    row.cells[(impl, target, opt)] = job()
                except cmb.BuildError as exc:
                    lines = str(exc).splitlines()
                    why = next((ln for ln in lines if "overflowed" in ln or "error" in ln), lines[-1])
                    row.notes.append(f"{impl} {target} {opt} not built: {why.strip()[:200]}")
    return row


# ------------------------------------------------------------------------- tables

def _yard(rows: list, row: Row, target: str, opt: str) -> Optional[Cell]:
    """The CMSIS-NN cell a row is compared with: its own (LSTM), else the LSTM of the same width."""
    for r in [row] + [r for r in rows if r.kind == "lstm" and r.H == row.H]:
        c = r.cells.get(("CMSIS-NN f32", target, opt))
        if c is not None:
            return c
    return None


def format_tables(rows: list, targets: list, opts: list, T: int, ws: int, cmsis: Optional[Path]) -> str:
    out = [f"date: {datetime.date.today().isoformat()}; compiler: {cmb.compiler_version()}; "
           f"simulator: benchmarks/cmsim (Unicorn + Capstone, TRM cycle tables), {ws} flash wait states; "
           f"reset + T={T} steps, figures per step",
           f"CMSIS-NN: {cmsis if cmsis else 'not found (../shared/yardsticks/CMSIS-NN or $KERASC_CMSIS_NN)'}", ""]
    cols = ["model", "build", "implementation", "cycles/step", "MAC/cycle", "instructions/step", "flash B", "RAM B",
            "peak stack B", "max err vs Keras", "vs CMSIS-NN f32 (per MAC)"]
    for target in targets:
        out += [f"### {target}", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for r in rows:
            for opt in opts:
                for (impl, t, o), c in r.cells.items():
                    if t != target or o != opt:
                        continue
                    y = _yard(rows, r, target, opt)
                    ratio = "n/a"
                    if y is not None and impl != "CMSIS-NN f32":
                        ratio = f"{(y.cycles / y.macs) / (c.cycles / c.macs):.2f}x"
                    err = "n/a" if c.err is None else f"{c.err:.1e}"
                    out.append(f"| {r.label} ({r.macs:,} MAC) | {opt} | {impl} | {c.cycles:,.0f} | "
                               f"{c.mac_per_cycle:.3f} | {c.insns:,.0f} | {c.flash:,} | {c.ram:,} | {c.stack:,} | "
                               f"{err} | {ratio} |")
        out.append("")
    notes = [f"- {r.label}: {n}" for r in rows for n in r.notes]
    out += ["Ratio: CMSIS-NN cycles per MAC / this implementation's (> 1: faster than CMSIS-NN); GRU rows use "
            "the LSTM of the same width. RAM: .data + .bss + the harness's input/output buffers; peak stack is "
            "separate.", *notes]
    return "\n".join(out)


def run(models: list, targets: list, opts: list, T: int = DEFAULT_T, ws: int = 0, work: Optional[Path] = None,
        progress=print) -> tuple[list, str]:
    """models: (label, kind or None, H, keras model or .keras path)."""
    if not cmb.have_toolchain():
        raise RuntimeError("arm-none-eabi-gcc not found (Debian: apt-get install gcc-arm-none-eabi "
                           "libnewlib-arm-none-eabi)")
    cmsis = find_cmsis()
    rows = []
    with tempfile.TemporaryDirectory(prefix="kerasc-cm-") as tmp:
        w = Path(work) if work else Path(tmp)
        w.mkdir(parents=True, exist_ok=True)
        for label, kind, H, m in models:
            rows.append(bench_model(label, kind, H, m, targets, opts, T, w, cmsis, ws, progress))
    return rows, format_tables(rows, targets, opts, T, ws, cmsis)


def main(argv: Optional[list] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--targets", default=",".join(TARGETS))
    ap.add_argument("--opts", default=",".join(OPTS))
    ap.add_argument("--only", help="comma-separated substrings of the model labels (default: all, and the demo)")
    ap.add_argument("--timesteps", type=int, default=DEFAULT_T)
    ap.add_argument("--ws", type=int, default=0, help="flash wait states (default 0)")
    ap.add_argument("--out", help="also write the tables to this Markdown file")
    args = ap.parse_args(argv)
    import keras

    only = args.only.split(",") if args.only else None
    models = [(lbl, k, h, m) for lbl, k, h, m in layer_models(keras, only)]
    if only is None or any(s in "demo activity.keras" for s in only):
        models.append(("demo activity.keras", "demo", 0, DEMO))
    _, text = run(models, args.targets.split(","), args.opts.split(","), args.timesteps, args.ws,
                  progress=lambda s: print(s, file=sys.stderr))
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
