"""Headless Chromium for the verify report: a screenshot, and what the page's images loaded as.

Used by tools/docs_assets.py (docs/img/report.png) and by tests/tools/test_report.py (the report must
render in a real browser). Chromium runs with a throw-away profile, no network services and no
sandbox (containers and CI runners usually cannot give it one).
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

TIMEOUT_SECONDS = 120
# Records, once the page has loaded, every <img> as "complete:naturalWidth x naturalHeight".
_PROBE = ('<script>window.addEventListener("load", function () { document.body.setAttribute("data-kc-images", '
          'Array.from(document.images).map(function (i) { return i.complete + ":" + i.naturalWidth + "x" + '
          'i.naturalHeight; }).join(",")); });</script>')


def _run(chromium: str, args: list[str], url: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="kerasc-chromium-") as profile:
        cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
               f"--user-data-dir={profile}", *args, url]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_SECONDS)


def screenshot(chromium: str, html: Path, png: Path, width: int = 1100, height: int = 1500) -> Path:
    """Render `html` at width x height CSS pixels into `png`."""
    png = Path(png).resolve()
    r = _run(chromium, [f"--screenshot={png}", f"--window-size={width},{height}", "--virtual-time-budget=5000"],
             Path(html).resolve().as_uri())
    if r.returncode != 0 or not png.is_file():
        raise RuntimeError(f"chromium could not take the screenshot (exit {r.returncode}): {r.stderr[-2000:]}")
    return png


def loaded_images(chromium: str, html: Path) -> list[tuple[bool, int, int]]:
    """(complete, naturalWidth, naturalHeight) of every <img> of `html` once Chromium has loaded it.
    The page is copied with a small probe script added; the original is not touched."""
    text = Path(html).read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="kerasc-probe-") as tmp:
        probe = Path(tmp) / "probe.html"
        probe.write_text(text.replace("</body>", _PROBE + "</body>"), encoding="utf-8")
        r = _run(chromium, ["--virtual-time-budget=5000", "--dump-dom"], probe.as_uri())
    m = re.search(r'data-kc-images="([^"]*)"', r.stdout)
    if r.returncode != 0 or m is None:
        raise RuntimeError(f"chromium did not load the page (exit {r.returncode}): {r.stderr[-2000:]}")
    out = []
    for item in filter(None, m.group(1).split(",")):
        complete, size = item.split(":")
        w, h = size.split("x")
        out.append((complete == "true", int(w), int(h)))
    return out
