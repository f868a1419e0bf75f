"""Size report of the firmware example: what the model costs in flash, RAM and stack on the target,
measured on the linked ELF and its objects with the cross toolchain's `size` and `nm`, and on GCC's
-fstack-usage / -fcallgraph-info output. Run through CMake: `cmake --build DIR --target size_report`.

Figures:
  weights  sum of the sizes of the NAME__* const symbols in the ELF (== NAME_WEIGHT_BYTES)
  state    size of the application's NAME_state variable in the ELF (== NAME_STATE_BYTES)
  scratch  size of the application's NAME_scratch variable in the ELF (== NAME_SCRATCH_BYTES)
  code     .text of the object that holds the model's functions (layers and kernels inlined there)
  library  the C library functions the firmware links (expf, tanhf, memcpy, ...), shared with the rest
  stack    deepest call path from the model's entry point, from the frame sizes GCC reports
           (C library frames excluded: they are not compiled here; `stack peak` printed by the
           firmware under QEMU includes them)
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path


def run(cmd: list[str]) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def nm_symbols(nm: str, path: Path) -> list[tuple[str, int, str]]:
    """(name, size, type letter) of every symbol with a size."""
    out = []
    for line in run([nm, "-S", str(path)]).splitlines():
        parts = line.split()
        if len(parts) == 4:
            out.append((parts[3], int(parts[1], 16), parts[2]))
    return out


def header_macro(header: Path, macro: str) -> int:
    m = re.search(rf"#define {macro} (\d+)", header.read_text())
    if not m:
        raise SystemExit(f"size_report: {header} defines no {macro}")
    return int(m.group(1))


def section_sizes(size: str, obj: Path) -> dict[str, int]:
    """Sizes of the sections of an object, by name (`size -A`)."""
    sizes: dict[str, int] = {}
    for line in run([size, "-A", str(obj)]).splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].startswith(".") and parts[1].isdigit():
            sizes[parts[0]] = sizes.get(parts[0], 0) + int(parts[1])
    return sizes


_NODE = re.compile(r'node: \{ title: "([^"]+)" label: "[^"\\]*(?:\\n[^"\\]*)*?\\n(\d+) bytes \((\w+)')
_EXT = re.compile(r'node: \{ title: "([^"]+)" label: "[^"]*" shape : ellipse')
_EDGE = re.compile(r'edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"')


def call_graph(ci_files: list[Path]) -> tuple[dict[str, tuple[int, str]], dict[str, set[str]], set[str]]:
    """Frames (bytes, qualifier), call edges and external functions from GCC's .ci (VCG) files.
    Static functions are titled `file:name`; a call to an extern function defined in another
    object names it plainly, so edges are resolved by plain name when the title is not found."""
    frames: dict[str, tuple[int, str]] = {}
    edges: dict[str, set[str]] = {}
    external: set[str] = set()
    for ci in ci_files:
        text = ci.read_text()
        for title, size, qual in _NODE.findall(text):
            frames[title] = (int(size), qual)
        external.update(_EXT.findall(text))
        for src, dst in _EDGE.findall(text):
            edges.setdefault(src, set()).add(dst)
    return frames, edges, external - set(frames)


def deepest(root: str, frames: dict[str, tuple[int, str]], edges: dict[str, set[str]],
            seen: tuple[str, ...] = ()) -> tuple[int, list[str], bool]:
    """Largest sum of frames along a call path from root: (bytes, path, bounded)."""
    size, qual = frames.get(root, (0, "static"))
    bounded = qual == "static" or qual == "bounded"
    best, best_path = 0, []
    for callee in sorted(edges.get(root, ())):
        if callee in seen or callee == root:
            return size, [root], False  # recursion: no bound
        sub, path, ok = deepest(callee, frames, edges, seen + (root,))
        bounded = bounded and ok
        if sub > best:
            best, best_path = sub, path
    return size + best, [root] + best_path, bounded


def report(args: argparse.Namespace) -> dict:
    elf = Path(args.elf)
    header = Path(args.header)
    name = args.name
    objects = [Path(d) for d in args.objects]
    syms = nm_symbols(args.nm, elf)

    weights = sum(size for sym, size, kind in syms if sym.startswith(f"{name}__") and kind in "rR")
    state = [size for sym, size, kind in syms if sym == args.state_symbol]
    scratch = [size for sym, size, kind in syms if sym == args.scratch_symbol]
    model_objs = [o for d in objects for o in d.glob(f"{args.model_object}.o*") if o.suffix in (".o", ".obj")]
    if not model_objs:
        raise SystemExit(f"size_report: no object for {args.model_object} under {objects}")
    sections = section_sizes(args.size, model_objs[0])
    code = sum(v for k, v in sections.items() if k.startswith(".text"))
    rodata = sum(v for k, v in sections.items() if k.startswith(".rodata"))

    own = set()
    for d in objects:
        for obj in list(d.glob("*.o")) + list(d.glob("*.obj")):
            own.update(sym for sym, _, kind in nm_symbols(args.nm, obj) if kind in "tT")
    library = {sym: size for sym, size, kind in syms if kind in "tTwW" and sym not in own and size > 0}

    ci_files = [p for d in objects for p in d.glob("*.ci")]
    frames, edges, external = call_graph(ci_files)
    entry = args.entry or f"{name}_step"
    root = next((t for t in frames if t.split(":")[-1] == entry), entry)
    # resolve plain-name edges to file-qualified static titles
    by_plain = {t.split(":")[-1]: t for t in frames}
    edges = {src: {d if d in frames else by_plain.get(d, d) for d in dsts} for src, dsts in edges.items()}
    stack, path, bounded = deepest(root, frames, edges)
    ext_on_path = sorted({d for t in path for d in edges.get(t, ()) if d in external and d not in by_plain})

    berkeley = run([args.size, str(elf)]).splitlines()[1].split()
    cc_version = run([args.cc, "--version"]).splitlines()[0] if args.cc else ""
    return {
        "model": name, "elf": str(elf), "compiler": cc_version,
        "weights_bytes": weights, "weights_macro": header_macro(header, f"{name.upper()}_WEIGHT_BYTES"),
        "state_bytes": state[0] if state else None, "state_macro": header_macro(header, f"{name.upper()}_STATE_BYTES"),
        "scratch_bytes": scratch[0] if scratch else None,
        "scratch_macro": header_macro(header, f"{name.upper()}_SCRATCH_BYTES"),
        "code_bytes": code, "model_object_rodata_bytes": rodata,
        "library_bytes": sum(library.values()), "library_functions": sorted(library),
        "stack_bytes": stack, "stack_path": [t.split(":")[-1] for t in path], "stack_bounded": bounded,
        "stack_excludes": ext_on_path,
        "firmware_text": int(berkeley[0]), "firmware_data": int(berkeley[1]), "firmware_bss": int(berkeley[2]),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--elf", required=True)
    p.add_argument("--name", required=True, help="the model's C prefix")
    p.add_argument("--header", required=True, help="the generated NAME.h (for NAME_WEIGHT_BYTES, NAME_STATE_BYTES)")
    p.add_argument("--state-symbol", required=True, help="the application's NAME_state variable")
    p.add_argument("--objects", action="append", required=True, help="directory of the firmware's objects")
    p.add_argument("--model-object", required=True, help="source file whose object holds the model code")
    p.add_argument("--scratch-symbol", required=True, help="the application's NAME_scratch variable")
    p.add_argument("--entry", default="", help="function whose deepest call path is the model's stack (NAME_step)")
    p.add_argument("--size", default="arm-none-eabi-size")
    p.add_argument("--nm", default="arm-none-eabi-nm")
    p.add_argument("--cc", default="")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    r = report(args)
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    ok = lambda a, b: "matches" if a == b else "DIFFERS from"  # noqa: E731
    print(f"model '{r['model']}' in {r['elf']}")
    print(f"  compiler: {r['compiler']}")
    print(f"  weights (flash, const):   {r['weights_bytes']:>7} bytes  ({r['model']}__* symbols; "
          f"{ok(r['weights_bytes'], r['weights_macro'])} {r['model'].upper()}_WEIGHT_BYTES = {r['weights_macro']})")
    print(f"  state (RAM):              {r['state_bytes']:>7} bytes  (sizeof({r['model']}_state); "
          f"{ok(r['state_bytes'], r['state_macro'])} {r['model'].upper()}_STATE_BYTES = {r['state_macro']})")
    print(f"  scratch (RAM):            {r['scratch_bytes']:>7} bytes  (sizeof({r['model']}_scratch); "
          f"{ok(r['scratch_bytes'], r['scratch_macro'])} {r['model'].upper()}_SCRATCH_BYTES = {r['scratch_macro']})")
    print(f"  model code (flash):       {r['code_bytes']:>7} bytes  (layers and kernels, .text of the model's object)")
    print(f"  C library code (flash):   {r['library_bytes']:>7} bytes  ({', '.join(r['library_functions'])})")
    print(f"  stack, deepest path:      {r['stack_bytes']:>7} bytes  ({' -> '.join(r['stack_path'])}"
          f"{'; plus ' + ', '.join(r['stack_excludes']) + ' (C library, not measured here)' if r['stack_excludes'] else ''}"
          f"{'' if r['stack_bounded'] else '; UNBOUNDED'})")
    print(f"  whole firmware:           text {r['firmware_text']}, data {r['firmware_data']}, bss {r['firmware_bss']} "
          f"bytes (bss includes the stack reserved by the linker script)")
    same = r["weights_bytes"] == r["weights_macro"] and r["state_bytes"] == r["state_macro"]
    return 0 if same and r["scratch_bytes"] == r["scratch_macro"] else 1


if __name__ == "__main__":
    sys.exit(main())
