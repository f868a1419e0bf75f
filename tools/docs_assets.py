"""`make docs-assets`: the pictures and listings the documentation shows, made from the demo model.

    docs/img/report.png   screenshot (headless Chromium) of the `kerasc verify --report` page for
                          examples/demo/activity.keras on its held recordings
    docs/inspect.txt      what `kerasc inspect examples/demo/activity.keras` prints
    docs/img/gates.png    `kerasc gates examples/demo/activity.keras --layer lstm_summary --plot DIR`: the
                          LSTM's kernels per gate (docs/gates.md); deterministic, needs no browser

Run from the repository root with the venv's Python (needs kerasc[verify,report] and chromium).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from browser import screenshot  # noqa: E402

MODEL = ROOT / "examples" / "demo" / "activity.keras"
INPUTS = ROOT / "examples" / "demo" / "held_inputs.npy"
SHOT = ROOT / "docs" / "img" / "report.png"
INSPECT = ROOT / "docs" / "inspect.txt"
REPORT_DIR = ROOT / "build" / "docs" / "report"
GATES_PNG = ROOT / "docs" / "img" / "gates.png"
GATES_DIR = ROOT / "build" / "docs" / "gates"
WIDTH = 1000
COLORS = 128  # palette of the committed PNG: small, and text and plot stay crisp


def kerasc(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "kerasc", *args], capture_output=True, text=True, cwd=ROOT, env=env)


def trim_and_shrink(src: Path, dst: Path) -> tuple[int, int]:
    """Cut the blank bottom of a tall screenshot, and store it with a small palette."""
    from PIL import Image, ImageChops

    img = Image.open(src).convert("RGB")
    blank = Image.new("RGB", img.size, img.getpixel((img.width - 1, img.height - 1)))
    box = ImageChops.difference(img, blank).getbbox()
    if box is not None:
        img = img.crop((0, 0, img.width, min(img.height, box[3] + 24)))
    dst.parent.mkdir(parents=True, exist_ok=True)
    img.quantize(colors=COLORS, method=Image.Quantize.FASTOCTREE).save(dst, optimize=True)
    return img.size


def gates_picture() -> int:
    """docs/img/gates.png: the demo LSTM's kernel heatmaps, gate boundaries marked."""
    r = kerasc("gates", str(MODEL.relative_to(ROOT)), "--layer", "lstm_summary", "--plot", str(GATES_DIR))
    if r.returncode != 0:
        print(r.stdout + r.stderr, file=sys.stderr)
        return r.returncode
    w, h = trim_and_shrink(GATES_DIR / "lstm_summary_forward_weights.png", GATES_PNG)
    print(f"wrote {GATES_PNG.relative_to(ROOT)} ({w}x{h}, {GATES_PNG.stat().st_size} bytes)")
    return 0


def main() -> int:
    rc = gates_picture()
    if rc != 0:
        return rc
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("docs_assets: chromium is not installed (run `make deps` as root)", file=sys.stderr)
        return 2
    rel_model, rel_inputs = MODEL.relative_to(ROOT), INPUTS.relative_to(ROOT)
    r = kerasc("verify", str(rel_model), "--inputs", str(rel_inputs), "--report", str(REPORT_DIR), "--quiet")
    if r.returncode != 0:
        print(r.stdout + r.stderr, file=sys.stderr)
        return r.returncode
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.png"
        screenshot(chromium, REPORT_DIR / "index.html", raw, width=WIDTH, height=2600)
        w, h = trim_and_shrink(raw, SHOT)
    print(f"wrote {SHOT.relative_to(ROOT)} ({w}x{h}, {SHOT.stat().st_size} bytes)")
    r = kerasc("inspect", str(rel_model))
    if r.returncode != 0:
        print(r.stderr, file=sys.stderr)
        return r.returncode
    INSPECT.write_text(f"$ kerasc inspect {rel_model}\n{r.stdout}")
    print(f"wrote {INSPECT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
