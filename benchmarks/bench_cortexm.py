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
static {p}_scratch scr; /* per-step scratch, apart from the state (static: counted in RAM, not stack) */
int main(void)
{{
    int t;
    {p}_reset(&st);
    cm_mark();
    for (t = 0; t < {T}; ++t) {{
        {p}_step(&st, &scr, cm_in + t * {P}_INPUT_SIZE, cm_out + t * {out_n});
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


CMSIS_S8_SOURCES = ["Source/LSTMFunctions/arm_lstm_unidirectional_s8.c", "Source/NNSupportFunctions/arm_nn_lstm_step_s8.c",
                    "Source/NNSupportFunctions/arm_nn_lstm_calculate_gate_s8_s16.c",
                    "Source/NNSupportFunctions/arm_nn_vec_mat_mul_result_acc_s8_s16.c",
                    "Source/NNSupportFunctions/arm_nntables.c", "Source/ActivationFunctions/arm_nn_activation_s16.c",
                    "Source/BasicMathFunctions/arm_elementwise_mul_s16.c",
                    "Source/BasicMathFunctions/arm_elementwise_mul_acc_s16.c",
                    "Source/BasicMathFunctions/arm_elementwise_mul_s16_s8.c"]
CMSIS_S16_SOURCES = ["Source/LSTMFunctions/arm_lstm_unidirectional_s16.c", "Source/NNSupportFunctions/arm_nn_lstm_step_s16.c",
                     "Source/NNSupportFunctions/arm_nn_lstm_calculate_gate_s16.c",
                     "Source/NNSupportFunctions/arm_nn_vec_mat_mul_result_acc_s16.c",
                     "Source/NNSupportFunctions/arm_nntables.c", "Source/ActivationFunctions/arm_nn_activation_s16.c",
                     "Source/BasicMathFunctions/arm_elementwise_mul_s16.c",
                     "Source/BasicMathFunctions/arm_elementwise_mul_acc_s16.c",
                     "Source/BasicMathFunctions/arm_elementwise_mul_s16_batch_offset.c"]


def _qmult(m: float) -> tuple[int, int]:
    """TFLite's QuantizeMultiplier: m = mult / 2^31 * 2^shift, mult in [2^30, 2^31)."""
    import math

    q, e = math.frexp(m)
    mult = int(round(q * (1 << 31)))
    if mult == 1 << 31:
        mult //= 2
        e += 1
    return mult, e


def _numpy_lstm_cell_max(W, U, b, x) -> float:
    """max |c| over the sequence (float LSTM, Keras gate order i, f, c, o): the cell state's calibration."""
    H = U.shape[0]
    h = np.zeros(H)
    c = np.zeros(H)
    top = 0.0
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    for xt in x:
        z = xt @ W + h @ U + b
        i, f, g, o = sig(z[:H]), sig(z[H:2 * H]), np.tanh(z[2 * H:3 * H]), sig(z[3 * H:])
        c = f * c + i * g
        h = o * np.tanh(c)
        top = max(top, float(np.abs(c).max()))
    return top


def cmsis_s8_quantize(kmodel: Any, x: np.ndarray, bits: int = 8) -> dict:
    """The Keras LSTM's weights and the input quantised as CMSIS-NN's (TFLite Micro's) 8x8->16 LSTM
    expects: int8 weights symmetric per tensor (one scale per gate matrix), int8 input and hidden state
    (symmetric here, zero point 0: the kernel-sum term of the effective bias is then 0), gate
    pre-activations in Q3.12, gate outputs in Q0.15, int16 cell state with a power-of-two scale
    calibrated on the float run, int32 effective biases. bits=16: the 16x8 kernel (int16 input and
    hidden state, int8 weights, int64 biases), otherwise the same."""
    W, U, b = [np.asarray(w, dtype=np.float64) for w in kmodel.layers[-1].get_weights()]
    F, H = W.shape[0], U.shape[0]
    top = (1 << (bits - 1)) - 1
    s_x = float(np.abs(x).max()) / top or 1.0
    s_h = 1 / (top + 1)  # h = o * tanh(c) lies in (-1, 1)
    cmax = _numpy_lstm_cell_max(W, U, b, x)
    csp = int(np.ceil(np.log2(max(cmax, 1e-3) * 1.05))) - 15  # cell scale 2^csp
    q = {"F": F, "H": H, "s_x": s_x, "s_h": s_h, "csp": csp, "bits": bits,
         "x": np.clip(np.round(x / s_x), -top - 1, top).astype(np.int8 if bits == 8 else np.int16)}
    for g, name in enumerate("ifco"):
        Wg, Ug, bg = W[:, g * H:(g + 1) * H].T, U[:, g * H:(g + 1) * H].T, b[g * H:(g + 1) * H]
        sw, su = float(np.abs(Wg).max()) / 127, float(np.abs(Ug).max()) / 127
        q[f"w_{name}"] = np.clip(np.round(Wg / sw), -127, 127).astype(np.int8)
        q[f"u_{name}"] = np.clip(np.round(Ug / su), -127, 127).astype(np.int8)
        q[f"be_{name}"] = np.round(bg / (s_x * sw)).astype(np.int64)  # zero point 0: no kernel-sum term
        q[f"m_{name}"] = _qmult(s_x * sw * 4096)
        q[f"mh_{name}"] = _qmult(s_h * su * 4096)
    q["forget_to_cell"] = _qmult(2.0 ** -15)
    q["input_to_cell"] = _qmult(2.0 ** (-30 - csp))
    q["output"] = _qmult(2.0 ** -30 / s_h)
    return q


def _ints(ctype: str, name: str, a: np.ndarray) -> str:
    return f"static const {ctype} {name}[{a.size}] = {{{', '.join(str(int(v)) for v in np.asarray(a).ravel())}}};\n"


def cmsis_s8_main(q: dict, T: int) -> str:
    F, H = q["F"], q["H"]
    b = q["bits"]
    act_t, bias_t = ("int8_t", "int32_t") if b == 8 else ("int16_t", "int64_t")
    src = ["/* CMSIS-NN arm_lstm_unidirectional_s8 on the Keras weights, quantised by bench_cortexm.py. */\n",
           "#include <stddef.h>\n#include \"arm_nnfunctions.h\"\nvoid cm_mark(void);\n"]
    gates = []
    for name, act in zip("ifco", ["ARM_SIGMOID", "ARM_SIGMOID", "ARM_TANH", "ARM_SIGMOID"]):
        src += [_ints("int8_t", f"w_{name}", q[f"w_{name}"]), _ints("int8_t", f"u_{name}", q[f"u_{name}"]),
                _ints(bias_t, f"be_{name}", q[f"be_{name}"]), f"static const {bias_t} bh_{name}[{H}] = {{0}};\n"]
        (m, sh), (mh, shh) = q[f"m_{name}"], q[f"mh_{name}"]
        gates.append((name, f"{{{m}, {sh}, w_{name}, be_{name}, {mh}, {shh}, u_{name}, bh_{name}, NULL, {act}}}"))
    g = dict(gates)
    src.append(f"""{act_t} cm_inq[{T * F}] __attribute__((section(".noinit")));
{act_t} cm_outq[{T * H}] __attribute__((section(".noinit")));
static int16_t temp1[{H}], temp2[{H}], cell[{H}];
int main(void)
{{
    const cmsis_nn_lstm_params p = {{0, 1, {T}, {F}, {H}, 0,
        {q['forget_to_cell'][0]}, {q['forget_to_cell'][1]}, {q['input_to_cell'][0]}, {q['input_to_cell'][1]},
        32767, {q['csp']}, {q['output'][0]}, {q['output'][1]}, 0,
        {g['f']}, {g['i']}, {g['c']}, {g['o']}}};
    cmsis_nn_lstm_context ctx = {{temp1, temp2, cell, NULL}};
    cm_mark();
    if (arm_lstm_unidirectional_s{b}(cm_inq, cm_outq, &p, &ctx) != ARM_CMSIS_NN_SUCCESS) return 1;
    cm_mark();
    return 0;
}}
""")
    return "".join(src)


# ------------------------------------------------------------------------- measuring

def _measure_header(d: Path, main_src: str, elf_name: str, x: np.ndarray, target: str, opt: str, work: Path,
                    macs: int, width: int, out_seq: bool, y_keras: Optional[np.ndarray], ws: int) -> Cell:
    """Build d/main.c (the generated header beside it) for the target, run reset + T steps, read the outputs."""
    T = x.shape[0]
    (d / "main.c").write_text(main_src)
    elf = cmb.build([d / "main.c"], work / elf_name, target, opt, includes=[d])
    m = cmb.run_elf(elf, target, {"cm_in": x.astype("<f4").tobytes()}, ws=ws)
    if len(m.run.marks) != T + 1:
        raise RuntimeError(f"{elf.name}: {len(m.run.marks)} marks, expected {T + 1}")
    cyc, ins = m.between(0, T)
    err = None
    if y_keras is not None:
        y = m.read_floats("cm_out", T * width).reshape(T, -1)
        err = float(np.abs(y - y_keras).max()) if out_seq else float(np.abs(y[-1] - y_keras[-1]).max())
    return Cell(cyc / T, ins / T, m.flash, m.ram, m.run.stack_peak, err, macs)


def measure_kerasc(ir: Any, x: np.ndarray, target: str, opt: str, work: Path, macs: int,
                   y_keras: Optional[np.ndarray], ws: int = 0) -> Cell:
    from kerasc.codegen import write_files

    d = work / f"kc_{ir.name}"
    d.mkdir(parents=True, exist_ok=True)
    write_files(ir, d, force=True)
    return _measure_header(d, kerasc_main(ir, x.shape[0]), f"kc_{ir.name}_{target}{opt}.elf", x, target, opt, work,
                           macs, ir.output_width, ir.output_seq, y_keras, ws)


def kerasc_q_main(qm: Any, T: int) -> str:
    p, P = qm.name, qm.ir.NAME
    return f"""/* Cortex-M benchmark harness for the integer kerasc model {p}: reset, then {T} steps; cm_mark() after each. */
#include "{p}.h"
void cm_mark(void);
float cm_in[{T} * {P}_INPUT_WIDTH] __attribute__((section(".noinit")));
float cm_out[{T} * {P}_OUTPUT_WIDTH] __attribute__((section(".noinit")));
static {p}_state st;
int main(void)
{{
    int t;
    {p}_reset(&st);
    cm_mark();
    for (t = 0; t < {T}; ++t) {{
        {p}_step(&st, cm_in + t * {P}_INPUT_WIDTH, cm_out + t * {P}_OUTPUT_WIDTH);
        cm_mark();
    }}
    return 0;
}}
"""


def measure_kerasc_q(qm: Any, x: np.ndarray, target: str, opt: str, work: Path, macs: int,
                     y_keras: Optional[np.ndarray], ws: int = 0) -> Cell:
    """kerasc --quantize int8 or int16x8 (kerasc.qint, qm.mode): the integer step, its float input quantized inside."""
    from kerasc.qint import write_qfiles

    d = work / f"kcq_{qm.name}"
    d.mkdir(parents=True, exist_ok=True)
    write_qfiles(qm, d, force=True)
    return _measure_header(d, kerasc_q_main(qm, x.shape[0]), f"kcq_{qm.name}_{target}{opt}.elf", x, target, opt,
                           work, macs, qm.nodes[-1].W, qm.ir.output_seq, y_keras, ws)


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


def measure_cmsis_int(cmsis: Path, kmodel: Any, x: np.ndarray, target: str, opt: str, work: Path, macs: int,
                      y_keras: Optional[np.ndarray], seq: bool = True, ws: int = 0, bits: int = 8) -> Cell:
    """arm_lstm_unidirectional_s8 (bits=8) or _s16 (bits=16) on the quantised Keras weights; the
    input is handed over already quantised (the kernel's own interface)."""
    T = x.shape[0]
    q = cmsis_s8_quantize(kmodel, x, bits)
    H = q["H"]
    src = work / f"cmsis_s{bits}_{H}_{x.shape[1]}.c"
    src.write_text(cmsis_s8_main(q, T))
    sources = CMSIS_S8_SOURCES if bits == 8 else CMSIS_S16_SOURCES
    elf = cmb.build([src, *[cmsis / s for s in sources]], work / f"{src.stem}_{target}{opt}.elf",
                    target, opt, includes=[cmsis / "Include"])
    m = cmb.run_elf(elf, target, {"cm_inq": q["x"].tobytes()}, ws=ws)
    cyc, ins = m.between(0, 1)
    err = None
    if y_keras is not None:
        addr = m.syms["cm_outq"][0]
        dt = np.int8 if bits == 8 else np.dtype("<i2")
        y = np.frombuffer(m.sim.read(addr, T * H * bits // 8), dtype=dt).astype(np.float64).reshape(T, H) * q["s_h"]
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
    from kerasc.lower import build
    from kerasc.quant import quantize
    from kerasc.verify import load_keras_model

    name = "m" + "".join(c for c in label.lower() if c.isalnum())[:12]
    ir = build(model, name)
    ir8 = quantize(build(model, name + "q8"), "int8")  # kerasc --weights int8: int8 kernels, float arithmetic
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
    from kerasc.qint import quantize_model

    # calibration: representative inputs apart from the measured ones (the same distribution)
    calib = np.random.default_rng(2).standard_normal((8, max(T, 16), ir.input_width))
    qm = quantize_model(build(model, name + "i8"), calib)
    qm16 = quantize_model(build(model, name + "i16"), calib, "int16x8")
    row = Row(label, macs, kind, H)
    for target in targets:
        for opt in opts:
            jobs = [("kerasc float32", lambda: measure_kerasc(ir, x, target, opt, work, macs, y_keras, ws)),
                    ("kerasc --weights int8", lambda: measure_kerasc(ir8, x, target, opt, work, macs, y_keras, ws)),
                    ("kerasc --quantize int8", lambda: measure_kerasc_q(qm, x, target, opt, work, macs, y_keras, ws)),
                    ("kerasc --quantize int16x8", lambda: measure_kerasc_q(qm16, x, target, opt, work, macs, y_keras,
                                                                           ws))]
            if cmsis is not None and kind == "lstm":
                jobs.append(("CMSIS-NN f32", lambda: measure_cmsis_f32(cmsis, kmodel, x, target, opt, work, macs,
                                                                       y_keras, ir.output_seq, ws)))
                for bits in (8, 16):
                    jobs.append((f"CMSIS-NN s{bits}", lambda b=bits: measure_cmsis_int(
                        cmsis, kmodel, x, target, opt, work, macs, y_keras, ir.output_seq, ws, b)))
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

def _yard(rows: list, row: Row, impl: str, target: str, opt: str) -> Optional[Cell]:
    """The CMSIS-NN cell a row is compared with: its own (LSTM), else the LSTM of the same width."""
    for r in [row] + [r for r in rows if r.kind == "lstm" and r.H == row.H]:
        c = r.cells.get((impl, target, opt))
        if c is not None:
            return c
    return None


YARDS = ["CMSIS-NN f32", "CMSIS-NN s8"]


def format_tables(rows: list, targets: list, opts: list, T: int, ws: int, cmsis: Optional[Path]) -> str:
    out = [f"date: {datetime.date.today().isoformat()}; compiler: {cmb.compiler_version()}; "
           f"simulator: benchmarks/cmsim (Unicorn + Capstone, TRM cycle tables), {ws} flash wait states; "
           f"reset + T={T} steps, figures per step",
           f"CMSIS-NN: {cmsis if cmsis else 'not found (../shared/yardsticks/CMSIS-NN or $KERASC_CMSIS_NN)'}", ""]
    cols = ["model", "build", "implementation", "cycles/step", "MAC/cycle", "instructions/step", "flash B", "RAM B",
            "peak stack B", "max err vs Keras", *[f"vs {y} (per MAC)" for y in YARDS]]
    for target in targets:
        out += [f"### {target}", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for r in rows:
            for opt in opts:
                for (impl, t, o), c in r.cells.items():
                    if t != target or o != opt:
                        continue
                    ratios = []
                    for yname in YARDS:
                        y = _yard(rows, r, yname, target, opt)
                        ratios.append("n/a" if y is None or yname == impl else
                                      f"{(y.cycles / y.macs) / (c.cycles / c.macs):.2f}x")
                    err = "n/a" if c.err is None else f"{c.err:.1e}"
                    out.append(f"| {r.label} ({r.macs:,} MAC) | {opt} | {impl} | {c.cycles:,.0f} | "
                               f"{c.mac_per_cycle:.3f} | {c.insns:,.0f} | {c.flash:,} | {c.ram:,} | {c.stack:,} | "
                               f"{err} | {' | '.join(ratios)} |")
        out.append("")
    notes = [f"- {r.label}: {n}" for r in rows for n in r.notes]
    out += ["Ratios: the CMSIS-NN kernel's cycles per MAC over this row's (> 1: this row is faster); GRU and the demo "
            "are compared per MAC with the LSTM of the same width (CMSIS-NN has no GRU). Flash: code + constants of the "
            "whole ELF (harness, start-up, libm/libgcc included). RAM: .data + .bss + the harness's input/output "
            "buffers; peak stack (painted) is separate. CMSIS-NN s8/s16 take int8/int16 inputs (quantised by the "
            "script, as their interface expects); kerasc takes float.", *notes]
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
