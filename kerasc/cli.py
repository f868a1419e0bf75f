"""kerasc command line: convert, verify, inspect, bench, gates.

Exit codes: 0 ok (verify: PASS); 1 parity mismatch (verify: FAIL); 2 usage or conversion error; 3 missing
optional extra (e.g. TensorFlow for verify); 4 verify: PASS (float32-limited), outside tolerance of Keras but
as close to exact arithmetic as float32 allows (docs/verify.md; --strict never gives 4). User mistakes print one line on stderr, never a traceback.
Long commands show their progress on stderr when it is a terminal (not with --quiet).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Optional, Sequence

from . import __version__
from .errors import KerascError, printable
from .progress import NULL, Progress
from .qint import TOLERANCE as Q_TOLERANCE
from .quant import TOLERANCE
from .verify import DEFAULT_ATOL, DEFAULT_BATCH, DEFAULT_RTOL, DEFAULT_TIMESTEPS

EXIT_OK, EXIT_MISMATCH, EXIT_USAGE, EXIT_MISSING_EXTRA, EXIT_LIMITED = 0, 1, 2, 3, 4


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kerasc",
        description="Convert trained Keras recurrent models to header-only C99 and prove the C matches Keras.",
        epilog="examples:\n"
               "  kerasc inspect model.keras             what kerasc makes of it: layers, sizes, what is unsupported\n"
               "  kerasc convert model.keras -o out/     write out/model.h and out/kc_runtime.h\n"
               "  kerasc verify model.keras --report r/  C vs Keras on every layer and timestep, with a report\n"
               "\n'kerasc COMMAND --help' lists a command's options.\n"
               "Exit codes: 0 ok, 1 parity mismatch, 2 usage or conversion error, 3 missing optional extra.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"kerasc {__version__}")
    p.add_argument("--cmake-dir", action=_CMakeDirAction,
                   help="print the directory of kerasc's CMake package (for find_package(kerasc)) and exit")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    quiet = argparse.ArgumentParser(add_help=False)
    quiet.add_argument("-q", "--quiet", action="store_true",
                       help="no progress line on stderr (it only appears on a terminal anyway)")
    plug = argparse.ArgumentParser(add_help=False)
    plug.add_argument("--plugin", action="append", default=[], metavar="MODULE|FILE.py",
                      help="import a plugin that registers custom layer classes (kerasc.extend; repeatable); "
                           "installed entry points of group 'kerasc.layers' and $KERASC_PLUGINS load too, unless "
                           "KERASC_NO_PLUGINS is set (docs/extending.md)")

    c = sub.add_parser("convert", parents=[quiet, plug], help="write NAME.h (and kc_runtime.h) for a model",
                       description="Write a header-only C99 implementation of MODEL: DIR/NAME.h plus kc_runtime.h.")
    c.add_argument("model", help="a .keras or .h5 model file")
    c.add_argument("-o", "--out", default=".", metavar="DIR", help="output directory (default: .)")
    c.add_argument("--name", help="C prefix for every symbol (default: the file name, sanitised)")
    c.add_argument("--force", action="store_true", help="overwrite files kerasc did not generate")
    c.add_argument("--weights", default="float32", choices=["float32", "float16", "int8"],
                   help="storage of the kernels: float32 (default), float16 (half the flash) or int8 (a quarter, "
                        "with one float scale per unit); biases and arithmetic stay float32")
    c.add_argument("--package", choices=["platformio", "arduino", "zephyr", "esp-idf"], metavar="KIND",
                   help="write DIR/NAME/ as a library of that build system (platformio, arduino, zephyr, esp-idf): "
                        "the headers, its manifest and an example that runs the model")
    c.add_argument("--package-version", default="0.1.0", metavar="X.Y.Z",
                   help="the library version in the --package manifest (default 0.1.0)")
    c.add_argument("--quantize", choices=["int8", "int16x8"], metavar="int8|int16x8",
                   help="integer inference: int8 weights and activations, int16 gates and cells, int32 sums; "
                        "int16x8: int16 activations and recurrent state, int8 weights (smaller error, about the same "
                        "speed); needs --calibration (docs/integer.md)")
    c.add_argument("--calibration", metavar="X.npy|X.npz",
                   help="representative inputs (batch, timesteps, features) whose ranges --quantize uses")
    c.add_argument("--predict-block", type=int, metavar="N",
                   help="timesteps per block of NAME_predict's input projections x @ W (default: chosen from the "
                        "layers' sizes for a 16 KiB budget of NAME_scratch; 0: none, the smallest RAM for firmware "
                        "that streams with NAME_step)")
    c.add_argument("--self-test", action="store_true",
                   help="also write NAME_selftest.c: a C program that checks the model against outputs Keras "
                        "computed for embedded inputs (0 = pass); needs TensorFlow (kerasc[verify])")

    v = sub.add_parser("verify", parents=[quiet, plug], help="compare the C with Keras on every layer and timestep",
                       description="Build the generated C and compare it with Keras on every layer and timestep. "
                                   "Exits 0 (PASS) when every value agrees within atol + rtol * |keras|; 4 (PASS "
                                   "(float32-limited)) when it does not but the same C in double precision shows that "
                                   "float32 rounding, amplified by the model, explains it (as far from exact arithmetic "
                                   "as Keras is); 1 (FAIL) otherwise; 2 usage or conversion error; 3 missing extra.")
    v.add_argument("model", help="a .keras or .h5 model file")
    v.add_argument("--inputs", metavar="X.npy|X.npz",
                   help="inputs to use, shape (batch, timesteps, features) (token ids: (batch, timesteps), integers): "
                        "a .npy array, or an .npz holding one "
                        "array per model input (named like the Keras inputs, or in model order); "
                        "default: seeded N(0, 1) values")
    v.add_argument("--timesteps", type=_positive_int, metavar="T",
                   help=f"timesteps of random inputs (default {DEFAULT_TIMESTEPS}, or the model's fixed length)")
    v.add_argument("--batch", type=_positive_int, metavar="B",
                   help=f"sequences of random inputs (default {DEFAULT_BATCH})")
    v.add_argument("--seed", type=_seed, default=0, metavar="S", help="seed of random inputs (default 0)")
    v.add_argument("--atol", type=_tolerance, metavar="A",
                   help=f"absolute tolerance (default {DEFAULT_ATOL:g}, or that of --weights)")
    v.add_argument("--rtol", type=_tolerance, metavar="R",
                   help=f"relative tolerance (default {DEFAULT_RTOL:g}, or that of --weights)")
    v.add_argument("--name", help="C prefix (default: the file name, sanitised)")
    v.add_argument("--report", metavar="DIR",
                   help="also write DIR/index.html: one self-contained page with the plot, the table, the model and "
                        "the versions (needs kerasc[report])")
    v.add_argument("--plot", metavar="FILE.png", help="also write the largest error per layer and timestep as a "
                                                      "PNG plot (needs kerasc[report])")
    v.add_argument("--weights", default="float32", choices=["float32", "float16", "int8"],
                   help="weight type of the generated C, compared with the float Keras model; sets the default "
                        "tolerance (" + "; ".join(f"{w}: atol {a:g} rtol {r:g}" for w, (a, r) in TOLERANCE.items())
                        + ") (default: float32)")
    v.add_argument("--quantize", choices=["int8", "int16x8"], metavar="int8|int16x8",
                   help="check the integer C of `convert --quantize int8|int16x8` against the float Keras model "
                        "(needs --calibration; its own default tolerance: "
                        + "; ".join(f"{q}: atol {a:g} rtol {r:g}" for q, (a, r) in Q_TOLERANCE.items())
                        + ", docs/integer.md)")
    v.add_argument("--calibration", metavar="X.npy|X.npz",
                   help="the representative inputs the integer C was calibrated on (as given to convert)")
    v.add_argument("--exact-math", action="store_true",
                   help="build the C with -DKC_EXACT_MATH (libm's tanhf/expf), as a firmware built that way, "
                        "instead of the default fast tanh/sigmoid")
    v.add_argument("--strict", action="store_true",
                   help="bare tolerance of Keras: PASS (0) or FAIL (1), no double-precision reference build")
    v.add_argument("--json", nargs="?", const="-", metavar="FILE",
                   help="write the result as JSON (schema kerasc-verify/1) to FILE, or alone on stdout without FILE")
    v.add_argument("--junit", metavar="FILE.xml", help="write a JUnit XML report (one test case per layer) to FILE")

    i = sub.add_parser("inspect", parents=[plug], help="layers, shapes, options, parameters, flash and RAM bytes, streaming or not",
                       description="Describe what kerasc makes of MODEL without writing anything: every layer with "
                                   "its shapes, options, sizes and status ('ok', or why it cannot be converted). "
                                   "Exits 2 when the model cannot be converted.")
    i.add_argument("model", help="a .keras or .h5 model file")
    i.add_argument("--name", help="C prefix (default: the file name, sanitised)")
    i.add_argument("--json", action="store_true", help="machine-readable output (same content)")

    g = sub.add_parser("gates", parents=[plug], help="per-gate weights and statistics of every recurrent layer; plots, traces, "
                                     "equations",
                       description="For every recurrent layer (each direction of a Bidirectional): per gate and "
                                   "kernel the array kerasc puts in the C, in Keras' orientation, with its shape, "
                                   "min, max, mean, std and NaN/Inf/zero counts. Works on models with NaN/Inf "
                                   "weights; needs no TensorFlow.")
    g.add_argument("model", help="a .keras or .h5 model file")
    g.add_argument("--layer", metavar="NAME", help="only this Keras layer")
    g.add_argument("--name", help="C prefix (default: the file name, sanitised)")
    g.add_argument("--json", action="store_true", help="the statistics as JSON (schema kerasc-gates/1) on stdout")
    g.add_argument("--export", metavar="FILE.npz",
                   help="write every per-gate array as LAYER/DIRECTION/KERNEL/GATE (e.g. lstm_1/forward/kernel/f): "
                        "kernel (F, U), recurrent_kernel (U, U), bias and recurrent_bias (U,)")
    g.add_argument("--plot", metavar="DIR", help="write PNG heatmaps of every kernel (gate boundaries marked) and "
                                                 "histograms per gate and kernel, with --trace also the "
                                                 "activations (needs kerasc[report])")
    g.add_argument("--independent-axes", action="store_true",
                   help="with --plot: one colour scale per heatmap and own axes per histogram (default: shared)")
    g.add_argument("--trace", metavar="X.npy|X.npz",
                   help="run a trace build of the generated C on these inputs ((batch, timesteps, features)) and "
                        "record every gate and state per unit and timestep (LSTM i, f, c_tilde, o, c, h; GRU z, r, "
                        "h_tilde, h; SimpleRNN h)")
    g.add_argument("--trace-out", metavar="FILE.npz", help="where --trace writes (default gates_trace.npz): "
                                                           "LAYER/DIRECTION/SLOT (batch, timesteps, units)")
    g.add_argument("--explain", action="store_true",
                   help="print each layer's equations over the exported names and write a numpy-only script that "
                        "recomputes the layers from the --export file")
    g.add_argument("--script", metavar="FILE.py", help="where --explain writes the script (default gates_explain.py)")

    b = sub.add_parser("bench", parents=[quiet, plug], help="time the generated C step and sequence against Keras",
                       description="Time the generated C (a C timing program, no Python in the loop) per step and "
                                   "per sequence at -O3 -march=native, -O2 and -Os (and -O3 -march=native and -Os "
                                   "with -DKC_SIMD, the optional vector path), against Keras (eager step, "
                                   "tf.function step, predict) and, for a single LSTM/GRU layer, against two "
                                   "yardsticks: ../shared/bench/ref_rnn.c when present ($KERASC_REF_RNN overrides) "
                                   "and a hand-optimised C++/Eigen step (eigen_rnn.cpp, shipped with kerasc; needs the Eigen 3 "
                                   "headers, e.g. Debian's libeigen3-dev, and g++ or $CXX).")
    b.add_argument("model", help="a .keras model file")
    b.add_argument("--timesteps", type=int, help="sequence length when the model does not fix it (default 100)")
    b.add_argument("--quick", action="store_true", help="few repetitions and no callgrind: a smoke run")
    b.add_argument("--no-keras", action="store_true", help="skip the Keras columns")
    b.add_argument("--no-ref", action="store_true", help="skip the yardsticks (ref_rnn.c and Eigen)")
    b.add_argument("--target", choices=["host", "cortex-m4f", "cortex-m4", "cortex-m0"], default="host",
                   help="host (default): time on this machine; cortex-m4f|cortex-m4|cortex-m0: cycles per step "
                        "in the cycle-approximate Cortex-M simulator (arm-none-eabi-gcc -O2 and -Os; needs "
                        "kerasc[bench] and the repository's benchmarks/; default 8 timesteps)")
    return p


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0 or value >= 1 << 128:
        raise argparse.ArgumentTypeError(f"{text!r} is not a seed (an integer >= 0)")
    return value


def _tolerance(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a tolerance (a number >= 0, e.g. 1e-5)")
    return value


class _CMakeDirAction(argparse.Action):
    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)  # type: ignore[arg-type]

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: Optional[str] = None) -> None:
        from ._resources import cmake_dir

        try:
            print(cmake_dir())
        except FileNotFoundError as exc:
            parser.exit(EXIT_USAGE, f"kerasc: error: {exc}\n")
        parser.exit()


_progress: Progress = NULL  # the progress line of the running command (warnings must not garble it)


def main(argv: Optional[Sequence[str]] = None) -> int:
    global _progress
    parser = _parser()
    if not (sys.argv[1:] if argv is None else list(argv)):  # plain `kerasc`: say what it does
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    args = parser.parse_args(argv)
    _progress = Progress.for_terminal(quiet=getattr(args, "quiet", False))
    warnings.showwarning = _warning_line
    try:
        from .extend import load_plugins

        load_plugins(args.plugin)
        return {"convert": _convert, "verify": _verify, "inspect": _inspect, "bench": _bench,
                "gates": _gates}[args.command](args)
    except KerascError as exc:
        print(f"kerasc: error: {printable(exc)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("kerasc: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `kerasc inspect m.keras | head`: the reader has gone, which is fine
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    finally:
        _progress.close()


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    _progress.message(f"kerasc: warning: {printable(message)}")


def _convert_quantized(args: argparse.Namespace) -> int:
    """convert --quantize int8|int16x8 --calibration X: the integer header (kerasc.qint)."""
    from .errors import ConversionError
    from .lower import build
    from .qint import check_quantize, quantize_model, write_qfiles

    calib = _read_inputs(args.calibration, args.model, "--calibration") if args.calibration else None
    mode = check_quantize(args.quantize or "int8", calib)
    if args.self_test or args.package or args.weights != "float32":
        raise ConversionError(f"--quantize {mode} takes neither --self-test, --package nor --weights (its weights are "
                              f"int8); check it with `kerasc verify --quantize {mode} --calibration X.npy`")
    with _progress.task("convert", 2):
        with _progress.stage("reading the model and calibrating"):
            qm = quantize_model(build(args.model, args.name), calib, mode)
        with _progress.stage(f"writing {qm.name}.h"):
            paths = write_qfiles(qm, Path(args.out), force=args.force)
    if not args.quiet:
        print(f"wrote {paths[0]} (+ kc_qruntime.h): integer inference, {len(qm.nodes)} layers, flash "
              f"{qm.weight_bytes} bytes (weights and tables), calibrated on {qm.calib_steps} timesteps")
    return EXIT_OK


def _convert(args: argparse.Namespace) -> int:
    from .codegen import write_files
    from .describe import why_not_stream
    from .lower import build
    from .quant import quantize

    progress = _progress
    if args.quantize or args.calibration:
        if args.predict_block is not None:
            from .errors import ConversionError

            raise ConversionError("--predict-block applies to float headers; --quantize headers compute x @ W in "
                                  "the step (drop --predict-block)")
        return _convert_quantized(args)
    with progress.task("convert", 4 if args.self_test else 2):
        with progress.stage("reading the model"):
            ir = quantize(build(args.model, args.name), args.weights)
            if args.predict_block is not None:
                import dataclasses

                from . import check_predict_block

                ir = dataclasses.replace(ir, predict_block=check_predict_block(args.predict_block))
        if args.self_test:
            from .selftest import check_selftest
            from .keras_bridge import import_keras

            check_selftest(ir)
            with progress.stage("loading Keras"):
                import_keras()  # before writing anything: the self-test needs Keras' outputs
        out = Path(args.out)
        extra = None
        if args.self_test:
            from .selftest import selftest_file

            with progress.stage("computing Keras' outputs for the self-test"):  # before anything is written
                extra = dict([selftest_file(ir, args.model)])
        with progress.stage(f"writing {ir.name}.h"):
            if args.package:
                from .packaging import write_package
                from .selftest import write_selftest_text

                paths = write_package(ir, out, args.package, args.package_version, force=args.force)
                if extra:  # beside the library's sources, not compiled with them
                    paths.append(write_selftest_text(out / ir.name / "selftest", *next(iter(extra.items())),
                                                     force=args.force))
            else:
                paths = write_files(ir, out, force=args.force, extra=extra)  # all files or none
    selftest = paths[-1] if args.self_test else None
    if selftest is not None:
        print(f"wrote {selftest}")
    kernels = "" if ir.weight_type == "float32" else f" ({ir.weight_type} kernels)"
    if args.package:
        print(f"wrote the {args.package} package {paths[0].parent.parent}: "
              + ", ".join(str(p_.relative_to(paths[0].parent.parent)) for p_ in paths))
    print(f"wrote {paths[0]} (+ {paths[1].name}): {len(ir.nodes)} layers, "
          f"flash {ir.weight_bytes} bytes{kernels}, RAM {ir.ram_bytes} bytes (state {ir.state_bytes} + scratch {ir.scratch_bytes}"
          f"{f', of which {ir.block_floats * 4} for predict blocks of {ir.block_steps} timesteps' if ir.block_floats else ''})"
          f"{'' if ir.causal else ' (no streaming: ' + why_not_stream(ir) + ')'}")
    return EXIT_OK


def _verify(args: argparse.Namespace) -> int:
    import time

    from . import parity
    from .verify import verify

    started = time.monotonic()
    to_stdout = args.json == "-"
    if args.report or args.plot:
        from .report import require_matplotlib

        require_matplotlib()  # before the long part: a missing extra is known now
    try:
        x = _read_inputs(args.inputs, args.model) if args.inputs else None
        calib = _read_inputs(args.calibration, args.model, "--calibration") if args.calibration else None
        if args.quantize or calib is not None:
            if args.weights != "float32" or args.exact_math:
                raise ConversionError(f"--quantize {args.quantize or 'int8'} takes neither --weights nor --exact-math")
            report = verify(args.model, x=x, atol=args.atol, rtol=args.rtol, timesteps=args.timesteps,
                            batch=args.batch, seed=args.seed, name=args.name, progress=_progress,
                            quantize=args.quantize or "int8", calibration=calib)
        else:
            report = verify(args.model, x=x, atol=args.atol, rtol=args.rtol, timesteps=args.timesteps,
                            batch=args.batch, seed=args.seed, name=args.name, progress=_progress,
                            weights=args.weights, exact_math=args.exact_math, strict=args.strict)
    except KerascError as exc:
        if args.json:
            _write_text(args.json, json.dumps(parity.error_dict(source=args.model, error=str(exc),
                                                                exit_code=exc.exit_code), indent=2) + "\n")
        if args.junit:
            _write_bytes(args.junit, parity.junit_error_xml(source=args.model, error=str(exc),
                                                            kind=type(exc).__name__,
                                                            seconds=time.monotonic() - started))
        raise
    inputs = args.inputs or f"random N(0, 1), seed {args.seed}"
    if args.inputs:
        report.inputs = f"from {args.inputs}"
    if args.json:
        doc = parity.report_dict(report, source=args.model, inputs=inputs, weights=args.weights)
        _write_text(args.json, json.dumps(doc, indent=2) + "\n")
    if args.junit:
        _write_bytes(args.junit, parity.junit_xml(report, source=args.model, inputs=inputs, weights=args.weights,
                                                  seconds=time.monotonic() - started))
    out = sys.stderr if to_stdout else sys.stdout  # with --json alone, stdout is the JSON document only
    print(printable(report.table(), keep_newlines=True), file=out)
    rows = parity.worst_offenders(report)
    if rows:
        print("worst offenders:", file=out)
        print(printable(parity.offenders_table(rows), keep_newlines=True), file=out)
    if args.report or args.plot:
        _write_report(report, args.report, args.plot, out)
    return report.exit_code  # EXIT_OK, EXIT_LIMITED or EXIT_MISMATCH


def _write_report(report, report_dir: Optional[str], plot: Optional[str], out) -> None:
    from .report import plot_png, write_html, write_plot

    page = None
    with _progress.task("report", 2):
        with _progress.stage("drawing the plot"):
            png = plot_png(report)
        with _progress.stage("writing the report"):
            if plot:
                write_plot(report, plot, png)
            if report_dir:
                page = write_html(report, report_dir, png)
    if plot:
        print(f"wrote {plot}", file=out)
    if page is not None:
        print(f"wrote {page}", file=out)


def _read_inputs(path: str, model: str, option: str = "--inputs"):
    """--inputs: a .npy array, or an .npz with one array per model input (named like the Keras inputs, or in
    model order)."""
    import zipfile

    import numpy as np

    from .errors import ConversionError
    from .load import read_magic

    try:
        read_magic(Path(path))  # a regular file (not a FIFO), or a one-line error
    except ConversionError as exc:
        raise ConversionError(f"{option} {path}: cannot read it ({str(exc).split(': ', 1)[-1]})") from None
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ConversionError(f"{option} {path}: cannot read it as a .npy or .npz file ({exc})") from None
    if isinstance(data, np.ndarray):
        return _numeric(data, path)
    with data:
        keys = list(data.files)
        try:
            arrays = {k: _numeric(data[k], f"{path}[{k}]") for k in keys}
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise ConversionError(f"{option} {path}: cannot read it as an .npz file ({exc})") from None
        if len(keys) == 1:
            return arrays[keys[0]]
        from .load import load

        wanted = [ref[0] for ref in load(model).inputs]
        if all(k in keys for k in wanted):
            picked = [arrays[k] for k in wanted]
            return picked[0] if len(picked) == 1 else picked
        if len(wanted) > 1 and len(keys) == len(wanted):
            return [arrays[k] for k in keys]
        raise ConversionError(f"{option} {path}: the .npz holds {len(keys)} arrays {keys}; the model has "
                              f"{len(wanted)} input(s) {wanted}: give an .npz with one array, or with one named "
                              f"{wanted[0]!r}")


def _numeric(a, where: str):
    from .errors import ConversionError

    if a.dtype.kind not in "biuf":
        raise ConversionError(f"--inputs {where}: holds {a.dtype} values; inputs must be numbers (floats, or "
                              "integer token ids)")
    return a


def _write_text(dest: str, text: str) -> None:
    if dest == "-":
        sys.stdout.write(text)
    else:
        _write_bytes(dest, text.encode())


def _write_bytes(dest: str, data: bytes) -> None:
    from .files import write_output

    write_output(Path(dest), data)


def _inspect(args: argparse.Namespace) -> int:
    from . import describe

    desc = describe.describe(args.model, args.name)
    if args.json:
        print(json.dumps(describe.to_json(desc), indent=2))
    else:
        print(printable(describe.text(desc), keep_newlines=True))
    if not desc.convertible:
        print(f"kerasc: error: {printable(desc.problems[0])}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def _gates(args: argparse.Namespace) -> int:
    from .gates import command

    x = None
    if args.trace:
        try:
            x = _read_inputs(args.trace, args.model)
        except KerascError as exc:  # it speaks of --inputs, verify's name for the same file
            raise type(exc)(str(exc).replace("--inputs", "--trace", 1)) from None
    return command(args.model, layer=args.layer, name=args.name, as_json=args.json, export_to=args.export,
                   plot_dir=args.plot, shared_axes=not args.independent_axes, trace_x=x, trace_out=args.trace_out,
                   explain=args.explain, script_out=args.script)


def _bench(args: argparse.Namespace) -> int:
    from . import bench

    s = bench.Settings.quick() if args.quick else bench.Settings()
    if args.timesteps is not None:
        if args.timesteps < 1:
            print("kerasc: error: --timesteps must be at least 1", file=sys.stderr)
            return EXIT_USAGE
        s.timesteps = args.timesteps
    if args.target != "host":
        print(bench.run_cortexm(args.model, args.target, args.timesteps, progress=_progress))
        return EXIT_OK
    s.keras = not args.no_keras
    _, text = bench.run([(Path(args.model).name, args.model)], s, ref=not args.no_ref, progress=_progress)
    print(text)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
