"""One bench run: each model built, timed against its yardsticks and Keras, into Rows and tables."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from ..errors import ConversionError, MissingExtraError
from ..ir import ModelIR
from .callgrind import callgrind_instructions
from .cbuild import build_eigen, build_floor, build_timer, compile_c, run_floor, run_ref, run_timer
from .keras_side import keras_timings, throughput
from .settings import Row, Settings, reps_for
from .tables import format_tables
from .tools import REF_HELP, find_eigen, find_ref


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


def bench_inputs(ir: Any, batch: int, T: int, seed: int) -> np.ndarray:
    """Random inputs (batch, T, features), or token ids (batch, T) drawn in [0, input_dim)."""
    rng = np.random.default_rng(seed)
    if ir.has_tokens:
        return rng.integers(0, ir.token_limit(0), (batch, T)).astype(np.int32)
    return rng.standard_normal((batch, T, ir.input_width)).astype(np.float32)




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
            self.reps = reps_for(est, T)
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
    from ..harness import compile_models
    from ..lower import build
    from ..quant import quantize

    ir = quantize(build(model, name), weights)
    if not ir.input_seq:
        raise ConversionError(f"{label}: kerasc bench times sequence models; this one takes a vector")
    tokens = ir.has_tokens
    if not ir.single_io:
        raise ConversionError(f"{label}: kerasc bench times models with one input and one output; this one has "
                              f"{len(ir.inputs)} input(s) and {len(ir.outputs)} output(s) (verify and convert "
                              "support it)")
    T = ir.timesteps or s.timesteps
    x = bench_inputs(ir, 1, T, seed)
    xfile = work / f"x_{name}.bin"
    x.ravel().tofile(xfile)
    row = Row(label, macs_per_step(ir), weight_bytes=ir.weight_bytes)
    if T != s.timesteps:  # the tables' header names s.timesteps
        row.notes.append(f"T={T} (fixed by the model's input shape)")

    keras = kmodel = None
    if s.keras:
        try:
            from ..keras_bridge import import_keras, load_keras_model

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
            others["ref"] = _Yardstick(compile_c([str(ref_src)], work, work / f"ref_f{tag}", flags))
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
        reps = reps_for(per_step, T)
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
    xb = bench_inputs(ir, s.batch, T, seed + 1)
    if kmodel is not None:
        keras_timings(keras, kmodel, x, s, row, tokens)
    throughput(cm, kmodel, xb, s, row)
    return row


def run(models: list[tuple], s: Optional[Settings] = None, ref: bool = True,
        work: Optional[Path] = None, progress: Any = None) -> tuple[list[Row], str]:
    """Benchmark each (label, model) or (label, model, weight type); return the rows and the markdown
    tables. `progress`: a kerasc.progress.Progress showing which model is being timed (silent by default)."""
    from ..progress import NULL

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
        text += f"\n\nref_rnn.c not found: {REF_HELP}"
    if ref and eigen is None:
        text += f"\n\n{eigen_why}"
    return rows, text


def run_cortexm(model: Any, target: str, timesteps: Optional[int] = None, progress: Any = None) -> str:
    """`kerasc bench --target cortex-m4f|cortex-m4|cortex-m0`: the generated step built with
    arm-none-eabi-gcc (-O2 and -Os) and run in the cycle-approximate simulator of the repository's
    benchmarks/cmsim (benchmarks/bench_cortexm.py does the work; CMSIS-NN beside it for one LSTM layer).
    Needs a source checkout: the simulator and the yardstick are benchmarks, not part of the package."""
    import importlib.util
    import sys

    from .._resources import source_checkout

    root = source_checkout()
    script = root / "benchmarks" / "bench_cortexm.py" if root is not None else None
    if script is None or not script.is_file():
        raise ConversionError(f"--target {target} needs a source checkout of kerasc (its benchmarks/bench_cortexm.py "
                              "and benchmarks/cmsim); it is not part of the installed package")
    try:
        import capstone  # noqa: F401
        import unicorn  # noqa: F401
    except ImportError as exc:
        raise MissingExtraError(f"--target {target} needs the Cortex-M simulator's packages: "
                                "pip install 'kerasc[bench]' (unicorn, capstone)") from exc
    if shutil.which("arm-none-eabi-gcc") is None:
        raise MissingExtraError(f"--target {target} needs arm-none-eabi-gcc (Debian: apt-get install "
                                "gcc-arm-none-eabi libnewlib-arm-none-eabi)")
    spec = importlib.util.spec_from_file_location("kerasc_bench_cortexm", script)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    say = (lambda s: progress.message(s)) if progress is not None else (lambda s: None)
    try:
        _, text = mod.run([(Path(str(model)).name, None, 0, model)], [target], list(mod.OPTS),
                          timesteps or mod.DEFAULT_T, progress=say)
    except mod.cmb.BuildError as exc:
        raise ConversionError(f"building for {target} failed: {str(exc).splitlines()[-1][:300]}") from exc
    except mod.Unsupported as exc:  # no streaming step, token ids, several inputs or outputs
        raise ConversionError(str(exc)) from exc
    return text
