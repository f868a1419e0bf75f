"""kerasc command line: convert, verify, inspect, bench.

Exit codes: 0 ok; 1 parity mismatch (verify); 2 usage or conversion error; 3 missing optional
extra (e.g. TensorFlow for verify). User mistakes print one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Optional, Sequence

from . import __version__
from .errors import KerascError

EXIT_OK, EXIT_MISMATCH, EXIT_USAGE, EXIT_MISSING_EXTRA = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kerasc",
        description="Convert trained Keras recurrent models to header-only C99 and prove the C matches Keras.",
        epilog="Exit codes: 0 ok, 1 parity mismatch, 2 usage or conversion error, 3 missing optional extra.",
    )
    p.add_argument("--version", action="version", version=f"kerasc {__version__}")
    p.add_argument("--cmake-dir", action=_CMakeDirAction,
                   help="print the directory of kerasc's CMake package (for find_package(kerasc)) and exit")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    c = sub.add_parser("convert", help="write NAME.h (and kc_runtime.h) for a model",
                       description="Write a header-only C99 implementation of MODEL: DIR/NAME.h plus kc_runtime.h.")
    c.add_argument("model", help="a .keras or .h5 model file")
    c.add_argument("-o", "--out", default=".", metavar="DIR", help="output directory (default: .)")
    c.add_argument("--name", help="C prefix for every symbol (default: the file name, sanitised)")
    c.add_argument("--force", action="store_true", help="overwrite files kerasc did not generate")
    c.add_argument("--self-test", action="store_true",
                   help="also write NAME_selftest.c: a C program that checks the model against outputs Keras "
                        "computed for embedded inputs (0 = pass); needs TensorFlow (kerasc[verify])")

    v = sub.add_parser("verify", help="compare the C with Keras on every layer and timestep",
                       description="Build the generated C and compare it with Keras on every layer and timestep. "
                                   "Exits 0 only when every value agrees within atol + rtol * |keras|.")
    v.add_argument("model", help="a .keras or .h5 model file")
    v.add_argument("--inputs", metavar="X.npy|X.npz",
                   help="inputs to use, shape (batch, timesteps, features): a .npy array, or an .npz holding one "
                        "array per model input (named like the Keras inputs, or in model order); "
                        "default: seeded N(0, 1) values")
    v.add_argument("--timesteps", type=int, help=f"timesteps of random inputs (default {16})")
    v.add_argument("--batch", type=int, help="batch size of random inputs (default 2)")
    v.add_argument("--seed", type=int, default=0, help="seed of random inputs (default 0)")
    v.add_argument("--atol", type=float, help="absolute tolerance (default 1e-5)")
    v.add_argument("--rtol", type=float, help="relative tolerance (default 1e-4)")
    v.add_argument("--name", help="C prefix (default: the file name, sanitised)")
    v.add_argument("--weights", default="float32", choices=["float32"],
                   help="weight type of the generated C; sets the default tolerance (default: float32)")
    v.add_argument("--json", nargs="?", const="-", metavar="FILE",
                   help="write the result as JSON (schema kerasc-verify/1) to FILE, or alone on stdout without FILE")
    v.add_argument("--junit", metavar="FILE.xml", help="write a JUnit XML report (one test case per layer) to FILE")

    i = sub.add_parser("inspect", help="layers, parameters, flash and RAM bytes, streaming or not",
                       description="Describe what kerasc makes of MODEL without writing anything.")
    i.add_argument("model", help="a .keras or .h5 model file")
    i.add_argument("--name", help="C prefix (default: the file name, sanitised)")
    i.add_argument("--json", action="store_true", help="machine-readable output")

    b = sub.add_parser("bench", help="time the generated C step and sequence against Keras",
                       description="Time the generated C (a C timing program, no Python in the loop) per step and "
                                   "per sequence at -O3 -march=native, -O2 and -Os, against Keras (eager step, "
                                   "tf.function step, predict) and, for a single LSTM/GRU layer, against "
                                   "../shared/bench/ref_rnn.c when present ($KERASC_REF_RNN overrides).")
    b.add_argument("model", help="a .keras model file")
    b.add_argument("--timesteps", type=int, help="sequence length when the model does not fix it (default 100)")
    b.add_argument("--quick", action="store_true", help="few repetitions and no callgrind: a smoke run")
    b.add_argument("--no-keras", action="store_true", help="skip the Keras columns")
    b.add_argument("--no-ref", action="store_true", help="skip ref_rnn.c")
    return p


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


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(argv)
    warnings.showwarning = _warning_line
    try:
        return {"convert": _convert, "verify": _verify, "inspect": _inspect, "bench": _bench}[args.command](args)
    except KerascError as exc:
        print(f"kerasc: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("kerasc: interrupted", file=sys.stderr)
        return 130


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"kerasc: warning: {message}", file=sys.stderr)


def _convert(args: argparse.Namespace) -> int:
    from .codegen import write_files
    from .graph import build

    ir = build(args.model, args.name)
    if args.self_test:
        from .verify import import_keras

        import_keras()  # before writing anything: the self-test needs Keras' outputs
    paths = write_files(ir, Path(args.out), force=args.force)
    if args.self_test:
        from .selftest import write_selftest

        print(f"wrote {write_selftest(ir, args.model, Path(args.out), force=args.force)}")
    print(f"wrote {paths[0]} (+ {paths[1].name}): {len(ir.nodes)} layers, "
          f"flash {ir.weight_bytes} bytes, RAM {ir.state_bytes} bytes"
          f"{'' if ir.causal else ' (no streaming: ' + _why_not_stream(ir) + ')'}")
    return EXIT_OK


def _why_not_stream(ir) -> str:
    return ir.stream_note


def _verify(args: argparse.Namespace) -> int:
    import time

    from . import parity
    from .verify import verify

    started = time.monotonic()
    to_stdout = args.json == "-"
    try:
        x = _read_inputs(args.inputs, args.model) if args.inputs else None
        report = verify(args.model, x=x, atol=args.atol, rtol=args.rtol, timesteps=args.timesteps,
                        batch=args.batch, seed=args.seed, name=args.name)
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
    if args.json:
        doc = parity.report_dict(report, source=args.model, inputs=inputs, weights=args.weights)
        _write_text(args.json, json.dumps(doc, indent=2) + "\n")
    if args.junit:
        _write_bytes(args.junit, parity.junit_xml(report, source=args.model, inputs=inputs, weights=args.weights,
                                                  seconds=time.monotonic() - started))
    out = sys.stderr if to_stdout else sys.stdout  # with --json alone, stdout is the JSON document only
    print(report.table(), file=out)
    rows = parity.worst_offenders(report)
    if rows:
        print("worst offenders:", file=out)
        print(parity.offenders_table(rows), file=out)
    return EXIT_OK if report.ok else EXIT_MISMATCH


def _read_inputs(path: str, model: str):
    """--inputs: a .npy array, or an .npz with one array per model input (named like the Keras inputs, or in
    model order)."""
    import numpy as np

    from .errors import ConversionError

    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ConversionError(f"--inputs {path}: cannot read it as a .npy or .npz file ({exc})") from None
    if isinstance(data, np.ndarray):
        return data
    with data:
        keys = list(data.files)
        if len(keys) == 1:
            return data[keys[0]]
        from .load import load

        wanted = [ref[0] for ref in load(model).inputs]
        if all(k in keys for k in wanted):
            arrays = [data[k] for k in wanted]
            return arrays[0] if len(arrays) == 1 else arrays
        if len(wanted) > 1 and len(keys) == len(wanted):
            return [data[k] for k in keys]
        raise ConversionError(f"--inputs {path}: the .npz holds {len(keys)} arrays {keys}; the model has "
                              f"{len(wanted)} input(s) {wanted}: give an .npz with one array, or with one named "
                              f"{wanted[0]!r}")


def _write_text(dest: str, text: str) -> None:
    if dest == "-":
        sys.stdout.write(text)
    else:
        _write_bytes(dest, text.encode())


def _write_bytes(dest: str, data: bytes) -> None:
    from .errors import ConversionError

    try:
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        Path(dest).write_bytes(data)
    except OSError as exc:
        raise ConversionError(f"cannot write {dest}: {exc.strerror or exc}") from None


def _inspect(args: argparse.Namespace) -> int:
    from .graph import build

    ir = build(args.model, args.name)
    layers = [{
        "index": n.index, "name": n.label, "class": n.keras_class, "summary": n.summary,
        "input": _shape(n.in_seq, ir.timesteps, n.in_width), "output": _shape(n.out_seq, ir.timesteps, n.out_width),
        "params": n.params, "flash_bytes": n.weight_bytes, "state_bytes": n.state_floats * 4,
        "ignored_options": list(n.ignored),
    } for n in ir.nodes]
    def io(indices) -> str:
        shapes = [_shape(ir.tensors[i].seq, ir.input_timesteps[ir.tensors[i].domain] if ir.tensors[i].seq else None,
                         ir.tensors[i].width) for i in indices]
        return shapes[0] if len(shapes) == 1 else "[" + ", ".join(shapes) + "]"

    info = {
        "name": ir.name, "source": ir.source, "keras_version": ir.keras_version,
        "input": io(ir.inputs), "output": io(ir.outputs),
        "work_bytes_per_timestep": ir.work_per_step * 4, "stateful": ir.stateful,
        "params": ir.params, "flash_bytes": ir.weight_bytes, "ram_bytes": ir.state_bytes,
        "scratch_bytes": ir.scratch_floats * 4, "streaming": ir.causal,
        "streaming_note": "" if ir.causal else _why_not_stream(ir), "layers": layers,
    }
    if args.json:
        print(json.dumps(info, indent=2))
        return EXIT_OK
    print(f"model '{ir.name}' from {ir.source} (Keras {ir.keras_version}): input {info['input']} -> "
          f"output {info['output']}")
    head = f"{'#':>2}  {'layer':<28} {'class':<15} {'input':<12} {'output':<12} {'params':>8} {'flash B':>9} {'RAM B':>7}"
    print(head)
    print("-" * len(head))
    for row in layers:
        print(f"{row['index']:>2}  {row['name'][:28]:<28} {row['class'][:15]:<15} {row['input']:<12} {row['output']:<12} "
              f"{row['params']:>8} {row['flash_bytes']:>9} {row['state_bytes']:>7}")
    print("-" * len(head))
    print(f"total: {ir.params} parameters; flash {ir.weight_bytes} bytes (weights); RAM {ir.state_bytes} bytes "
          f"(state {ir.state_bytes - ir.scratch_floats * 4} + scratch {ir.scratch_floats * 4})")
    if ir.needs_work:
        print(f"{ir.name}_predict takes a caller work buffer of {ir.work_per_step * 4} bytes per timestep "
              f"({ir.NAME}_WORK_FLOATS(T))")
    if ir.stateful:
        print(f"stateful: {ir.name}_predict keeps the state of stateful layers between calls; {ir.name}_reset clears it")
    print(f"streaming ({ir.name}_step): {'yes' if ir.causal else 'no, ' + _why_not_stream(ir)}")
    for n in ir.nodes:
        if n.ignored:
            print(f"note: layer '{n.keras_name}': training-only options ignored: {', '.join(n.ignored)}")
    return EXIT_OK


def _bench(args: argparse.Namespace) -> int:
    from . import bench

    s = bench.Settings.quick() if args.quick else bench.Settings()
    if args.timesteps is not None:
        if args.timesteps < 1:
            print("kerasc: error: --timesteps must be at least 1", file=sys.stderr)
            return EXIT_USAGE
        s.timesteps = args.timesteps
    s.keras = not args.no_keras
    _, text = bench.run([(Path(args.model).name, args.model)], s, ref=not args.no_ref)
    print(text)
    return EXIT_OK


def _shape(seq: bool, timesteps: Optional[int], width: int) -> str:
    return f"({timesteps or 'T'}, {width})" if seq else f"({width},)"


if __name__ == "__main__":
    sys.exit(main())
