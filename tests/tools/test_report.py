"""verify reports: per-timestep errors from the verify machinery, the plot, the self-contained HTML
page rendered by a real browser (headless Chromium), the command-line flags and the progress line."""

import os
import pty
import re
import subprocess
import sys
import threading

import numpy as np
import pytest

import kerasc
from tests.support.env import require_tool, ROOT, script_module
from tests.support.models import randomize

pytest.importorskip("matplotlib", reason="the report needs matplotlib: pip install -e '.[report]' (make setup does)")
browser = script_module("tools/browser.py")
loaded_images, screenshot = browser.loaded_images, browser.screenshot

from kerasc import report as kreport  # noqa: E402
from kerasc.progress import Progress  # noqa: E402

HOSTILE = 'x<img src=q onerror=alert(1)>&"'


def cli(*args, stderr=subprocess.PIPE, env_extra=None):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "kerasc", *map(str, args)], stdout=subprocess.PIPE, stderr=stderr,
                          text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def model(keras, tmp_path_factory):
    """A sequence layer, a collapsing layer and a head; one layer with a name an HTML page must escape."""
    m = keras.Sequential([keras.Input((None, 3)), keras.layers.GRU(6, return_sequences=True, name=HOSTILE),
                          keras.layers.LSTM(5, name="summary"), keras.layers.Dense(3, activation="softmax",
                                                                                   name="head")], name="rep")
    randomize(m, seed=21)
    path = tmp_path_factory.mktemp("rep") / "rep.keras"
    m.save(path)
    return m, path


@pytest.fixture(scope="module")
def verified(model, tmp_path_factory):
    m, path = model
    x = np.random.default_rng(5).standard_normal((3, 40, 3)).astype(np.float32)
    cm = kerasc.compile(path)
    report = kerasc.verify(path, x=x, compiled=cm)
    out = tmp_path_factory.mktemp("html")
    png = kreport.plot_png(report)
    page = kreport.write_html(report, out, png)
    return m, cm, x, report, page, png


def test_per_timestep_errors_match_an_independent_computation(keras, verified):
    m, cm, x, report, _, _ = verified
    assert report.ok, report.table()
    _, c_layers = cm.trace(x)
    seq_layer = report.layers[0]
    k = keras.Model(m.inputs, m.get_layer(HOSTILE).output)(x, training=False).numpy()
    err = np.abs(c_layers[0].astype(np.float64) - k.astype(np.float64))
    np.testing.assert_array_equal(seq_layer.err_t, err.max(axis=(0, 2)))
    assert seq_layer.err_t.shape == (40,) and seq_layer.tol_ratio_t.shape == (40,)
    assert seq_layer.err_t.max() == seq_layer.max_abs_err == seq_layer.err_t[seq_layer.worst_t]
    tol = 1e-5 + 1e-4 * np.abs(k.astype(np.float64))
    np.testing.assert_allclose(seq_layer.tol_ratio_t, (err / tol).max(axis=(0, 2)), rtol=1e-12)
    assert seq_layer.max_tol_ratio == pytest.approx(seq_layer.tol_ratio_t.max())
    for r in report.layers[1:]:  # one vector per sequence: no time axis to plot
        assert r.err_t is None and r.tol_ratio_t is None and 0 < r.max_tol_ratio <= 1
    assert report.timesteps == 40 and report.ir is not None
    env = report.environment
    assert env["kerasc"] == kerasc.__version__ and env["Keras (ground truth)"] == f"keras {keras.__version__}"
    assert "TensorFlow" in env and "-std=c99" in env["C compiler"]


def test_plot_is_a_png_with_one_line_per_sequence_layer(verified):
    from matplotlib.lines import Line2D

    plt = kreport.require_matplotlib()
    _, _, _, report, _, png = verified
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    fig = kreport.figure(report)
    try:
        top = fig.axes[0]
        lines = [ln for ln in top.get_lines() if isinstance(ln, Line2D) and len(ln.get_xdata()) == 40]
        solid = [ln for ln in lines if ln.get_linestyle() == "-"]
        assert len(solid) == 1 and np.allclose(solid[0].get_ydata(), report.layers[0].err_t)
        # and the exact side: |C - exact| dashed, |Keras - exact| dotted (at least the axis floor)
        ex = report.exact.layers[0]
        dashed = [ln for ln in lines if ln.get_linestyle() == "--"]
        dotted = [ln for ln in lines if ln.get_linestyle() == ":"]
        assert len(dashed) == 1 and len(dotted) == 1
        assert np.allclose(dashed[0].get_ydata(), np.maximum(ex.ce_t, dashed[0].get_ydata().min()))
        assert np.allclose(dotted[0].get_ydata(), np.maximum(ex.ke_t, dotted[0].get_ydata().min()))
        dots = [ln for ln in top.get_lines() if list(ln.get_xdata()) == [39]]
        assert len(dots) == 2  # LSTM and Dense: their one output per sequence, at the last timestep
    finally:
        plt.close(fig)


def test_html_is_self_contained_and_escapes_names(verified):
    _, _, _, report, page, _ = verified
    html = page.read_text(encoding="utf-8")
    refs = re.findall(r'\b(?:src|href)\s*=\s*"([^"]*)"', html)
    assert refs and all(r.startswith("data:image/png;base64,") for r in refs), refs
    assert "<script" not in html and "<link" not in html and "url(" not in html
    assert "onerror=alert" not in html.replace("onerror=alert(1)&gt;", "")  # only as escaped text
    assert "x&lt;img src=q onerror=alert(1)&gt;&amp;&#34;" in html
    for needle in ("PASS", "summary", "head", "1e-05", "0.0001", kerasc.__version__, "TensorFlow", "C compiler",
                   "flash", "streaming"):
        assert needle in html, needle


def test_report_renders_in_chromium(verified, tmp_path):
    from PIL import Image

    chromium = require_tool("chromium")
    _, _, _, _, page, png = verified
    images = loaded_images(chromium, page)
    natural = Image.open(__import__("io").BytesIO(png)).size
    assert images[0] == (True, natural[0], natural[1]) and all(ok for ok, _, _ in images), images  # then the gates
    shot = screenshot(chromium, page, tmp_path / "shot.png", width=1000, height=1200)
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert pixels.shape[:2] == (1200, 1000)
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 100  # not blank
    for color, at_least in ((kreport.COLORS[0], 150), (kreport.COLORS[1], 30)):  # the GRU line, the LSTM dot
        rgb = np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)])
        near = (np.abs(pixels - rgb).sum(axis=2) < 40).sum()
        assert near >= at_least, f"plot colour {color}: {near} pixels in the screenshot"


def test_cli_report_and_plot_on_a_mismatch(model, tmp_path):
    """Zero tolerance fails; the report is written anyway (that is when it is most useful)."""
    _, path = model
    r = cli("verify", path, "--timesteps", "12", "--atol", "0", "--rtol", "0", "--strict", "--report", tmp_path / "r",
            "--plot", tmp_path / "p" / "errors.png")
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"wrote {tmp_path / 'r' / 'index.html'}" in r.stdout and f"wrote {tmp_path / 'p' / 'errors.png'}" in r.stdout
    html = (tmp_path / "r" / "index.html").read_text(encoding="utf-8")
    assert "FAIL" in html and "First disagreement" in html and "MISMATCH" in html
    assert (tmp_path / "p" / "errors.png").read_bytes()[:4] == b"\x89PNG"
    assert r.stderr == ""  # not a terminal: no progress line


def test_cli_report_without_matplotlib_exits_3_before_working(model, tmp_path):
    _, path = model
    code = ("import sys; sys.modules['matplotlib'] = None; from kerasc.cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-c", code, "verify", str(path), "--plot", str(tmp_path / "x.png")],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 3 and "kerasc[report]" in r.stderr and "Traceback" not in r.stderr
    assert r.stdout == "" and not (tmp_path / "x.png").exists()


def run_with_stderr_on_a_terminal(*args):
    """Run the CLI with stderr on a pseudo-terminal, read while it runs (a full pty would block it)."""
    master, slave = pty.openpty()
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "kerasc", *map(str, args)], stdout=subprocess.PIPE, stderr=slave,
                            text=True, env=env)
    os.close(slave)
    chunks = []
    reader = threading.Thread(target=_drain, args=(master, chunks), daemon=True)
    reader.start()
    out, _ = proc.communicate(timeout=300)
    reader.join(timeout=30)
    os.close(master)
    return proc.returncode, out, b"".join(chunks).decode("utf-8", "replace")


def _drain(fd, chunks):
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the child closed its end
            return
        if not data:
            return
        chunks.append(data)


def test_progress_line_on_a_terminal_only(model):
    """On a terminal, verify draws its stages on stderr and erases them; stdout is untouched."""
    _, path = model
    code, out, err = run_with_stderr_on_a_terminal("verify", path, "--timesteps", "6")
    assert code == 0, out + err
    assert "verify [" in err and "/7 " in err and "loading the model in Keras" in err
    assert err.endswith("\r\x1b[2K"), repr(err[-80:])  # erased when done
    assert "verify [" not in out and "PASS" in out


def test_progress_is_off_when_quiet_or_not_a_terminal(tmp_path):
    master, slave = pty.openpty()
    try:
        with os.fdopen(os.dup(slave), "w") as tty, open(tmp_path / "log", "w") as log:
            assert Progress.for_terminal(stream=tty).enabled
            assert not Progress.for_terminal(quiet=True, stream=tty).enabled
            assert not Progress.for_terminal(stream=log).enabled
    finally:
        os.close(slave)
        os.close(master)


def test_progress_render():
    p = Progress(enabled=True)
    with p.task("verify", 4):
        with p.stage("one"):
            pass
        with p.stage("building the C"):
            line = p.render(now=p._started + 2.5)
    assert line.endswith("verify [████░░░░░░░░░░░░] 1/4 building the C (2.5 s)"), line
