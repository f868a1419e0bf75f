"""bench: time the generated C (step and whole sequence) against Keras and, when they are at hand,
two yardsticks: the straightforward C step ../shared/bench/ref_rnn.c (beside the repository) and a
hand-optimised C++/Eigen step written the way RTNeural's Eigen backend computes one
(benchmarks/eigen_rnn.cpp; needs the Eigen 3 headers and a C++ compiler).

The C is timed by a small C program compiled here (templates/bench/timer.c.j2), never through
Python: the figure is the generated code's own. Keras is timed as a user would call it (eager
step of a stateful copy, a tf.function step, predict). `valgrind --tool=callgrind` instruction
counts give a figure that noisy machines do not move. Every table records the CPU model.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import platform
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from .codegen import environment, write_files
from .errors import ConversionError, MissingExtraError
from .ir import ModelIR

# Builds compared: the reference flags, then portable builds without -march; then the same
# with the optional vector path of kc_runtime.h (-DKC_SIMD: GNU C vectors, bit-identical results).
FLAG_SETS = {
    "-O3 -march=native": ["-O3", "-march=native"],
    "-O2": ["-O2"],
    "-Os": ["-Os"],
    "-O3 -march=native -DKC_SIMD": ["-O3", "-march=native", "-DKC_SIMD"],
    "-Os -DKC_SIMD": ["-Os", "-DKC_SIMD"],
}
BASE_FLAGS = ["-std=c99"]
FLOOR_FLAGS = ["-O3", "-march=native"]  # the read floor is the machine's: measured with its fastest loads
EIGEN_BASE_FLAGS = ["-std=c++17", "-w"]  # -w: Eigen's own headers warn under GCC 12 at -O3 -march=native
TRIAL_NS = 2e6  # aim for ~2 ms per timed trial: short trials, many of them, so the minimum skips
# the moments other processes take the core (and its caches) away
DEFAULT_T = 100
REPO_ROOT = Path(__file__).resolve().parent.parent  # benchmarks/ and ../shared/bench are found from here


@dataclass
class Settings:
    timesteps: int = DEFAULT_T
    rounds: int = 5  # alternating kerasc / reference runs; the minimum over them is reported
    trials: int = 10  # timed trials inside one run of the C timer (and runs of the reference per round)
    keras_reps: int = 100
    batch: int = 32  # sequences per cm.predict / model.predict throughput call
    callgrind: bool = True
    keras: bool = True
    flag_sets: dict = field(default_factory=lambda: dict(FLAG_SETS))

    @classmethod
    def quick(cls) -> "Settings":
        return cls(timesteps=20, rounds=1, trials=1, keras_reps=3, batch=4, callgrind=False)


@dataclass
class Row:
    """The figures of one model. Times in ns; None where not applicable."""

    label: str
    macs: int
    kc_step: dict = field(default_factory=dict)  # flags -> ns per timestep (min)
    kc_seq: dict = field(default_factory=dict)  # flags -> ns per predict of one sequence
    ref_step: dict = field(default_factory=dict)
    eigen_step: dict = field(default_factory=dict)  # flags -> ns per timestep of benchmarks/eigen_rnn.cpp
    kc_ir: dict = field(default_factory=dict)  # flags -> instructions per timestep (callgrind)
    ref_ir: dict = field(default_factory=dict)
    weight_bytes: int = 0
    floor: Optional[float] = None  # ns to read weight_bytes once from cache (benchmarks/stream_bound.c)
    kc_err: Optional[float] = None
    ref_err: Optional[float] = None
    eigen_err: Optional[float] = None
    keras: dict = field(default_factory=dict)  # what -> seconds per call
    throughput: dict = field(default_factory=dict)  # "kerasc"/"keras" -> sequences per second
    notes: list = field(default_factory=list)


# ------------------------------------------------------------------------- environment facts

def cpu_model() -> str:
    """The CPU's model name (with family/model numbers when the name alone is vague, as in VMs)."""
    fields: dict = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip().lower(), value.strip())
    except OSError:
        pass
    name = fields.get("model name") or platform.processor() or platform.machine() or "unknown CPU"
    if "cpu family" in fields and "model" in fields:
        name += f" (family {fields['cpu family']}, model {fields['model']})"
    return name


def compiler_version(cc: str = "gcc") -> str:
    try:
        out = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30).stdout
        return out.splitlines()[0] if out else cc
    except (OSError, subprocess.SubprocessError):
        return f"{cc} (not found)"


def find_ref(start: Optional[Path] = None) -> Optional[Path]:
    """ref_rnn.c: $KERASC_REF_RNN, else ../shared/bench/ref_rnn.c beside the repository root."""
    env = os.environ.get("KERASC_REF_RNN")
    if env:
        return Path(env) if Path(env).is_file() else None
    root = start or REPO_ROOT
    candidate = root.parent / "shared" / "bench" / "ref_rnn.c"
    return candidate if candidate.is_file() else None


def find_eigen(start: Optional[Path] = None) -> tuple[Optional[Path], Optional[Path], str]:
    """(eigen_rnn.cpp, Eigen include directory, "") when the Eigen yardstick can be built, else
    (None, None, why not). Source: $KERASC_EIGEN_RNN, else benchmarks/eigen_rnn.cpp in the repository;
    headers: $EIGEN_INCLUDE_DIR, else /usr/include/eigen3 or /usr/local/include/eigen3 (Debian:
    libeigen3-dev); compiler: $CXX, else g++."""
    env = os.environ.get("KERASC_EIGEN_RNN")
    root = start or REPO_ROOT
    src = Path(env) if env else root / "benchmarks" / "eigen_rnn.cpp"
    if not src.is_file():
        return None, None, f"Eigen yardstick skipped: {src} not found (it ships with the kerasc repository)"
    dirs = [os.environ["EIGEN_INCLUDE_DIR"]] if os.environ.get("EIGEN_INCLUDE_DIR") else \
        ["/usr/include/eigen3", "/usr/local/include/eigen3"]
    inc = next((Path(d) for d in dirs if (Path(d) / "Eigen" / "Dense").is_file()), None)
    if inc is None:
        return None, None, (f"Eigen yardstick skipped: no Eigen 3 headers in {' or '.join(dirs)} "
                            "(Debian: apt-get install libeigen3-dev; or set EIGEN_INCLUDE_DIR)")
    if shutil.which(_cxx()) is None:
        return None, None, f"Eigen yardstick skipped: no C++ compiler '{_cxx()}' (set CXX)"
    return src, inc, ""


def build_floor(work: Path, start: Optional[Path] = None) -> Optional[Path]:
    """benchmarks/stream_bound.c (the time to only READ N KB of cached weights) built with
    -O3 -march=native, or None where the repository's benchmarks/ is not at hand or it does not build."""
    src = (start or REPO_ROOT) / "benchmarks" / "stream_bound.c"
    if not src.is_file():
        return None
    try:
        return _compile([str(src)], work, work / "stream_bound", FLOOR_FLAGS)
    except ConversionError:
        return None


def run_floor(exe: Path, nbytes: int) -> float:
    """ns to read nbytes once (the minimum over stream_bound's own trials)."""
    out = subprocess.run([str(exe), f"{nbytes / 1024:.3f}"], capture_output=True, text=True, check=True).stdout
    return float(out.split(":")[1].split()[0])


# ------------------------------------------------------------------------- C timers

def _cc() -> str:
    return os.environ.get("CC", "gcc")


def _cxx() -> str:
    return os.environ.get("CXX", "g++")


def _compile(sources: list[str], include: Path, out: Path, flags: list[str], cc: Optional[str] = None,
             base: Optional[list[str]] = None) -> Path:
    cmd = [cc or _cc(), *(BASE_FLAGS if base is None else base), *flags, f"-I{include}", *sources, "-o", str(out),
           "-lm"]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as exc:
        raise ConversionError(f"building the benchmark failed: {' '.join(cmd)}\n{exc}") from exc
    if res.returncode != 0:
        raise ConversionError(f"building the benchmark failed: {' '.join(cmd)}\n{res.stderr.strip()}")
    return out


def build_timer(ir: ModelIR, work: Path, tag: str, flags: list[str], cc: Optional[str] = None) -> Path:
    """Write NAME.h + kc_runtime.h + the timing driver into work/, compile with flags (cc: $CC, else gcc)."""
    write_files(ir, work, force=True)
    src = work / f"timer_{ir.name}.c"
    src.write_text(environment().get_template("bench/timer.c.j2").render(ir=ir, p=ir.name, P=ir.NAME))
    return _compile([str(src)], work, work / f"timer_{ir.name}_{tag}", flags, cc)


def run_timer(exe: Path, mode: str, xfile: Path, T: int, reps: int, trials: int,
              wrapper: Optional[list[str]] = None) -> tuple[float, np.ndarray]:
    out = subprocess.run([*(wrapper or []), str(exe), mode, str(xfile), str(T), str(reps), str(trials)],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    ns = float(out[0].split()[1])
    y = np.array([float(v) for v in out[1].split()[1:]], dtype=np.float64)
    return ns, y


def run_ref(cmd: list[str]) -> tuple[float, np.ndarray]:
    """Run a yardstick command (ref_rnn.c's command line); its ns per step and last h."""
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), np.array([float(v) for v in out[1:]], dtype=np.float64)


def build_eigen(src: Path, include: Path, work: Path, flags: list[str]) -> Path:
    """The Eigen yardstick built with the same optimisation flags as the generated C (plus -DNDEBUG:
    Eigen's run-time checks off, as any release build of an Eigen program has them); built once per
    flag set in `work` (every model of a run shares it). The name hashes everything that changes the
    binary: the source's text, the compiler, the include directory and the flags."""
    key = "\0".join([_cxx(), str(include), *EIGEN_BASE_FLAGS, *flags]).encode() + b"\0" + src.read_bytes()
    out = work / ("eigen_" + hashlib.sha1(key).hexdigest()[:12])
    if not out.exists():
        _compile([str(src)], include, out, [*flags, "-DNDEBUG"], cc=_cxx(), base=EIGEN_BASE_FLAGS)
    return out


def _reps_for(ns_per_unit: float, units_per_rep: int) -> int:
    return max(1, int(TRIAL_NS / max(ns_per_unit * units_per_rep, 1.0)))


def callgrind_instructions(cmd_for_reps: Callable[[int], list[str]], T: int) -> Optional[float]:
    """Instructions per timestep: Ir(2 reps) - Ir(1 rep), over T steps (start-up cost cancels)."""
    if shutil.which("valgrind") is None:
        return None
    counts = []
    with tempfile.TemporaryDirectory() as tmp:
        for reps in (1, 2):
            out = Path(tmp) / f"cg.{reps}"
            res = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                                  *cmd_for_reps(reps)], capture_output=True, text=True)
            if res.returncode != 0 or not out.exists():
                return None
            m = re.search(r"^(?:summary|totals):\s*(\d+)", out.read_text(), re.M)
            if not m:
                return None
            counts.append(int(m.group(1)))
    return (counts[1] - counts[0]) / T


# ------------------------------------------------------------------------- Keras side

def ref_kind(ir: ModelIR) -> Optional[str]:
    """'lstm' or 'gru' when ref_rnn.c computes exactly this model (one layer, Keras defaults)."""
    if len(ir.nodes) != 1:
        return None
    n = ir.nodes[0]
    o = n.options
    if n.kind not in ("lstm", "gru") or not o.get("use_bias") or o.get("go_backwards"):
        return None
    if o.get("activation") != "tanh" or o.get("recurrent_activation") != "sigmoid":
        return None
    if n.kind == "gru" and not o.get("reset_after"):
        return None
    return n.kind


def macs_per_step(ir: ModelIR) -> int:
    total = 0
    for n in ir.nodes:
        if n.kind != "dense" and not n.recurrent:
            continue  # no kernel (merges, activation and normalization layers, pooling): a few flops per value
        g = len(n.gates) or 1
        rec = n.options.get("units", 0) if n.recurrent else 0
        total += (n.in_width + rec) * g * (n.options.get("units") or n.out_width)
    return total


def _bench_inputs(ir: Any, batch: int, T: int, seed: int) -> np.ndarray:
    """Random inputs (batch, T, features), or token ids (batch, T) drawn in [0, input_dim)."""
    rng = np.random.default_rng(seed)
    if ir.has_tokens:
        return rng.integers(0, ir.token_limit(0), (batch, T)).astype(np.int32)
    return rng.standard_normal((batch, T, ir.input_width)).astype(np.float32)


def _stateful_step_model(keras: Any, model: Any, features: Optional[int]) -> Any:
    """A copy of `model` that takes one timestep per call (batch 1) and keeps its recurrent state
    (features None: a model of token ids, one int32 per timestep)."""
    from .layers import traits

    def clone(layer: Any) -> Any:
        cfg = layer.get_config()
        if traits(type(layer).__name__).recurrent:
            cfg["stateful"] = True
        return type(layer).from_config(cfg)

    one_step = keras.Input(batch_shape=(1, 1), dtype="int32") if features is None else \
        keras.Input(batch_shape=(1, 1, features))
    step_model = keras.models.clone_model(model, input_tensors=one_step, clone_function=clone)
    step_model.set_weights(model.get_weights())
    return step_model


def _best(fn: Callable[[], Any], n: int) -> float:
    fn()
    ts = []
    for _ in range(max(1, n)):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.min(ts))


def keras_timings(keras: Any, model: Any, x: np.ndarray, s: Settings, row: Row, tokens: bool = False) -> None:
    from .keras_bridge import tf_function

    x1 = x[:, :1]
    try:
        sm = _stateful_step_model(keras, model, None if tokens else x.shape[-1])
        row.keras["eager step"] = _best(lambda: sm(x1, training=False), s.keras_reps)
        fn = tf_function(lambda a: sm(a, training=False))
        row.keras["tf.function step"] = _best(lambda: fn(x1), s.keras_reps)
        row.keras["predict 1 step"] = _best(lambda: sm.predict(x1, verbose=0), max(1, s.keras_reps // 4))
    except Exception as exc:  # a model Keras cannot make stateful: say so in the table
        row.notes.append(f"Keras step timings skipped: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}")
    row.keras[f"predict T={x.shape[1]}"] = _best(lambda: model.predict(x, verbose=0), max(1, s.keras_reps // 5))


def throughput(cm: Any, model: Any, xb: np.ndarray, s: Settings, row: Row) -> None:
    n = max(1, s.keras_reps // 10)
    row.throughput["kerasc"] = len(xb) / _best(lambda: cm.predict(xb), n)
    if model is not None:
        try:
            row.throughput["keras"] = len(xb) / _best(lambda: model.predict(xb, batch_size=len(xb), verbose=0), n)
        except Exception as exc:  # e.g. a stateful model built for batch 1: say so in the table
            row.notes.append(f"Keras throughput skipped: {type(exc).__name__}: "
                             f"{str(exc).strip().splitlines()[0][:120]}")


# ------------------------------------------------------------------------- one model

@dataclass
class _Yardstick:
    """A reference step program (ref_rnn.c or eigen_rnn.cpp): its best time over the rounds."""

    exe: Path
    reps: Optional[int] = None
    best: float = float("inf")

    def time(self, cmd: Callable[[Path, int], list[str]], T: int, trials: int) -> np.ndarray:
        """Run `trials` timed runs (as many as the generated code gets per round); return the last h."""
        if self.reps is None:
            est, _ = run_ref(cmd(self.exe, 1))
            self.reps = _reps_for(est, T)
        h = np.zeros(0)
        for _ in range(trials):
            ns, h = run_ref(cmd(self.exe, self.reps))
            self.best = min(self.best, ns)
        return h


def bench_model(label: str, model: Any, s: Settings, work: Path, ref_src: Optional[Path],
                name: str = "bench", seed: int = 0, weights: str = "float32",
                eigen: Optional[tuple[Path, Path]] = None, floor_exe: Optional[Path] = None) -> Row:
    """Time one model (a keras.Model or a .keras path) with `weights` kernels (kerasc.quant); the
    error column is against the float Keras model. Keras columns need TensorFlow. Yardsticks (float32
    only, one LSTM or GRU(reset_after) layer): ref_rnn.c at ref_src, the Eigen step when eigen is
    (eigen_rnn.cpp, Eigen include directory). floor_exe: stream_bound, timed on the model's weight bytes
    in the rounds of the first build."""
    from .lower import build
    from .harness import compile_models
    from .quant import quantize

    ir = quantize(build(model, name), weights)
    if not ir.input_seq:
        raise ConversionError(f"{label}: kerasc bench times sequence models; this one takes a vector")
    tokens = ir.has_tokens
    if not ir.single_io:
        raise ConversionError(f"{label}: kerasc bench times models with one input and one output; this one has "
                              f"{len(ir.inputs)} input(s) and {len(ir.outputs)} output(s) (verify and convert "
                              "support it)")
    T = ir.timesteps or s.timesteps
    x = _bench_inputs(ir, 1, T, seed)
    xfile = work / f"x_{name}.bin"
    x.ravel().tofile(xfile)
    row = Row(label, macs_per_step(ir), weight_bytes=ir.weight_bytes)
    if T != s.timesteps:  # the tables' header names s.timesteps
        row.notes.append(f"T={T} (fixed by the model's input shape)")

    keras = kmodel = None
    if s.keras:
        try:
            from .keras_bridge import import_keras, load_keras_model

            keras = import_keras()
            kmodel = load_keras_model(model)
        except MissingExtraError as exc:
            row.notes.append(f"Keras columns skipped: {exc}")
    y_keras = None
    if kmodel is not None:
        y_keras = np.asarray(kmodel(x, training=False), dtype=np.float64)[0]
        y_keras = y_keras[-1] if ir.output_seq else y_keras

    yardsticks = {"ref": ref_src is not None, "eigen": eigen is not None} if weights == "float32" else {}
    applies = ref_kind(ir) if any(yardsticks.values()) else None
    kind = applies if kmodel is not None else None
    wfile = None
    if kind:
        wfile = work / f"w_{name}.bin"
        np.concatenate([w.ravel() for w in kmodel.get_weights()]).astype(np.float32).tofile(wfile)
    elif applies:
        why = "TensorFlow not installed" if s.keras else "--no-keras"
        row.notes.append(f"yardsticks skipped: they read the Keras weights ({why})")
    elif any(yardsticks.values()):
        row.notes.append("yardsticks not applicable (they compute one LSTM or GRU(reset_after) layer)")
    F, H = ir.input_width, ir.nodes[0].out_width

    def ref_cmd(exe: Path, reps: int) -> list[str]:
        return [str(exe), kind, str(F), str(H), str(wfile), str(xfile), str(T), str(reps)]

    for tag, (flags_label, flags) in enumerate(s.flag_sets.items()):
        exe = build_timer(ir, work, f"f{tag}", flags)
        others = {}  # yardstick -> _Yardstick, timed in the same rounds as the generated code
        if kind and yardsticks.get("ref"):
            others["ref"] = _Yardstick(_compile([str(ref_src)], work, work / f"ref_f{tag}", flags))
        if kind and yardsticks.get("eigen"):
            try:
                others["eigen"] = _Yardstick(build_eigen(eigen[0], eigen[1], work, flags))
            except ConversionError as exc:  # a C++ compiler that cannot build it: say so, time the rest
                lines = str(exc).splitlines()
                first = next((ln for ln in lines[1:] if "error" in ln), lines[-1])
                row.notes.append(f"Eigen yardstick not built with {flags_label}: {first.strip()[:160]}")
        step_ok = ir.causal
        est, _ = run_timer(exe, "step" if step_ok else "seq", xfile, T, 1, 1)
        per_step = est if step_ok else est / T
        reps = _reps_for(per_step, T)
        best_kc = best_seq = float("inf")
        for _ in range(s.rounds):
            if step_ok:
                ns, y = run_timer(exe, "step", xfile, T, reps, s.trials)
                best_kc = min(best_kc, ns)
                if tag == 0 and y_keras is not None:
                    row.kc_err = float(np.abs(y - y_keras).max())
            if tag == 0 and floor_exe is not None and row.weight_bytes:
                ns = run_floor(floor_exe, row.weight_bytes)
                row.floor = ns if row.floor is None else min(row.floor, ns)
            for key, yard in others.items():
                h = yard.time(ref_cmd, T, s.trials)
                if y_keras is not None and (tag == 0 or getattr(row, f"{key}_err") is None):
                    setattr(row, f"{key}_err", float(np.abs(h - y_keras).max()))
            ns, y = run_timer(exe, "seq", xfile, T, max(1, reps), s.trials)
            best_seq = min(best_seq, ns)
            if not step_ok and tag == 0 and y_keras is not None:
                row.kc_err = float(np.abs(y - y_keras).max())
        row.kc_step[flags_label] = best_kc if step_ok else None
        row.kc_seq[flags_label] = best_seq
        for key in ("ref", "eigen"):
            getattr(row, f"{key}_step")[flags_label] = others[key].best if key in others else None
        if s.callgrind and "-march=native" not in flags:  # valgrind may not know the native ISA
            mode = "step" if step_ok else "seq"
            row.kc_ir[flags_label] = callgrind_instructions(
                lambda r, e=exe, m=mode: [str(e), m, str(xfile), str(T), str(r), "1"], T)
            if "ref" in others:
                row.ref_ir[flags_label] = callgrind_instructions(lambda r, e=others["ref"].exe: ref_cmd(e, r), T)

    cm = compile_models([ir])[0]
    xb = _bench_inputs(ir, s.batch, T, seed + 1)
    if kmodel is not None:
        keras_timings(keras, kmodel, x, s, row, tokens)
    throughput(cm, kmodel, xb, s, row)
    return row


# ------------------------------------------------------------------------- report

def _us(ns: Optional[float]) -> str:
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
    eigen = (f"; Eigen yardstick: {compiler_version(_cxx())}, {' '.join(EIGEN_BASE_FLAGS)} -DNDEBUG + the same build"
             if with_eigen else "")
    return [
        f"date: {datetime.date.today().isoformat()}; CPU: {cpu_model()}; compiler: {compiler_version(_cc())}; "
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
            cells = [r.label, f"{r.macs:,}", _us(step)]
            for on, other in ((with_ref, r.ref_step), (with_eigen, r.eigen_step)):
                if on:
                    cells += [_us(other.get(f)), _ratio(other.get(f), step)]
            out.append("| " + " | ".join(cells) + " |")
    # the memory floor: no step can take less than reading its weights once
    if any(r.floor for r in rows):
        f0 = flags[0]
        cols = ["model", "weight bytes", f"read floor ({' '.join(FLOOR_FLAGS)})", f"kerasc step {f0}", "step / floor"]
        cols += [f"Eigen {f0}", "Eigen / floor"] if with_eigen else []
        out += ["", "Memory floor: the time to only read the model's weights once from cache (benchmarks/stream_bound.c, "
                "64 independent lanes, no arithmetic), measured in the same rounds:", "",
                "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for r in rows:
            cells = [r.label, f"{r.weight_bytes:,}", _us(r.floor), _us(r.kc_step.get(f0)),
                     _ratio(r.kc_step.get(f0), r.floor)]
            if with_eigen:
                cells += [_us(r.eigen_step.get(f0)), _ratio(r.eigen_step.get(f0), r.floor)]
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
        cells = [r.label, _us(r.kc_seq.get(f0)), _us(_s2ns(k.get("eager step"))), _us(_s2ns(tf_step)),
                 _us(_s2ns(k.get("predict 1 step"))), _us(_s2ns(kp)),
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


def run(models: list[tuple], s: Optional[Settings] = None, ref: bool = True,
        work: Optional[Path] = None, progress: Any = None) -> tuple[list[Row], str]:
    """Benchmark each (label, model) or (label, model, weight type); return the rows and the markdown
    tables. `progress`: a kerasc.progress.Progress showing which model is being timed (silent by default)."""
    from .progress import NULL

    progress = progress or NULL
    s = s or Settings()
    ref_src = find_ref() if ref else None
    eigen_src, eigen_inc, eigen_why = find_eigen() if ref else (None, None, "")
    eigen = (eigen_src, eigen_inc) if eigen_src is not None else None
    tmp = Path(work) if work else Path(tempfile.mkdtemp(prefix="kerasc-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        floor_exe = build_floor(tmp)
        with progress.task("bench", len(models)):
            for i, m in enumerate(models):
                with progress.stage(f"timing {m[0]} (C builds, Keras, callgrind)"):
                    rows.append(bench_model(m[0], m[1], s, tmp, ref_src, name=f"bench{i}",
                                            weights=m[2] if len(m) > 2 else "float32", eigen=eigen,
                                            floor_exe=floor_exe))
    finally:
        if work is None:
            shutil.rmtree(tmp, ignore_errors=True)
    text = format_tables(rows, s, with_ref=ref_src is not None, with_eigen=eigen is not None)
    if ref and ref_src is None:
        text += "\n\nref_rnn.c not found (expected ../shared/bench/ref_rnn.c beside the repository, or $KERASC_REF_RNN)"
    if ref and eigen is None:
        text += f"\n\n{eigen_why}"
    return rows, text
