"""`kerasc gates`: per-gate arrays against Keras' own weights, statistics of a NaN model, the trace build of the
C against a float64 computation and against Keras' outputs, the --explain script against Keras, the plots by
their data, and the verify report's gates section in headless Chromium."""

import contextlib
import io
import json
import subprocess
import sys

import numpy as np
import pytest

from tests.support.env import require_tool, script_module
from tests.support.models import randomize
from tests.support.programs import kerasc_bare

from kerasc import gates
from kerasc.cli import main

GATES = {"LSTM": "ifco", "GRU": "zrh", "SimpleRNN": ""}  # Keras' documented concatenation order
T = 6


def _cli(*args):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in args])
    return rc, out.getvalue(), err.getvalue()


def _keras_slices(prefix, cell, weights, units, reset_after):
    """{export name: array} computed from Keras' get_weights() of one cell, by Keras' gate order."""
    kernel, rkernel, bias = weights
    out = {}
    for g_i, g in enumerate(GATES[cell] or [""]):
        cols = slice(g_i * units, (g_i + 1) * units)
        suffix = f"/{g}" if g else ""
        out[f"{prefix}/kernel{suffix}"] = kernel[:, cols]
        out[f"{prefix}/recurrent_kernel{suffix}"] = rkernel[:, cols]
        if reset_after:
            out[f"{prefix}/bias{suffix}"] = bias[0, cols]
            out[f"{prefix}/recurrent_bias{suffix}"] = bias[1, cols]
        else:
            out[f"{prefix}/bias{suffix}"] = bias[cols]
    return out


@pytest.fixture(scope="module")
def models(keras, tmp_path_factory):
    """{id: (path, x, {layer: (keras input, keras output)}, {export name: Keras slice})}: Keras 3 models with a
    Bidirectional (merge mul / concat), SimpleRNN, GRU both reset_after ways, go_backwards, softmax activations;
    a Keras 2 file (Keras 2 hard_sigmoid); a Keras 2.2 CuDNNGRU file; and a copy of the first with NaN/Inf."""
    import tf_keras as tk

    d = tmp_path_factory.mktemp("gates")
    rng = np.random.default_rng(3)
    out = {}

    def record(kid, m, path, x, names, lib):
        sub = lib.Model(m.inputs, [t for n in names for t in (m.get_layer(n).input, m.get_layer(n).output)])
        ys = [np.asarray(y) for y in sub(x, training=False)]
        io_ = {n: (ys[2 * k], ys[2 * k + 1]) for k, n in enumerate(names)}
        slices = {}
        for n in names:
            layer = m.get_layer(n)
            cells = ([("forward", layer.forward_layer), ("backward", layer.backward_layer)]
                     if type(layer).__name__ == "Bidirectional" else [("forward", layer)])
            for direction, c in cells:
                cls = type(c).__name__
                slices.update(_keras_slices(f"{n}/{direction}", cls, c.get_weights(), c.units,
                                            cls == "GRU" and c.reset_after))
        out[kid] = (path, x, io_, slices)

    L = keras.layers
    inp = keras.Input((None, 3))
    h = L.LSTM(4, return_sequences=True, name="lstm_1")(inp)
    h = L.Bidirectional(L.GRU(3, return_sequences=True, reset_after=False), merge_mode="mul", name="bi")(h)
    h = L.SimpleRNN(2, return_sequences=True, name="rnn")(h)
    h = L.GRU(2, return_sequences=True, name="gru2")(h)
    a = randomize(keras.Model(inp, h, name="ga"), seed=1)
    a.save(d / "ga.keras")
    record("a", a, d / "ga.keras", rng.standard_normal((2, T, 3)).astype(np.float32), ["lstm_1", "bi", "rnn", "gru2"],
           keras)

    inp = keras.Input((None, 2))
    h = L.Bidirectional(L.LSTM(3, return_sequences=True), name="bil")(inp)
    h = L.GRU(3, return_sequences=True, go_backwards=True, name="gback")(h)
    b = randomize(keras.Model(inp, L.Dense(2, name="head")(h), name="gb"), seed=2)
    b.save(d / "gb.keras")
    record("b", b, d / "gb.keras", rng.standard_normal((2, T, 2)).astype(np.float32), ["bil", "gback"], keras)

    inp = keras.Input((None, 2))  # vector activations: the templates' unfused paths
    h = L.LSTM(3, return_sequences=True, activation="softmax", name="lsm")(inp)
    h = L.GRU(2, return_sequences=True, reset_after=False, recurrent_activation="softmax", name="gsm")(h)
    h = L.GRU(2, return_sequences=True, activation="softmax", name="gsm2")(h)
    v = randomize(keras.Model(inp, h, name="gv"), seed=6)
    v.save(d / "gv.keras")
    record("v", v, d / "gv.keras", rng.standard_normal((2, T, 2)).astype(np.float32), ["lsm", "gsm", "gsm2"], keras)

    k2 = tk.Sequential([tk.Input((None, 3)),
                        tk.layers.LSTM(3, return_sequences=True, recurrent_activation="hard_sigmoid", name="l2"),
                        tk.layers.GRU(2, return_sequences=True, reset_after=False, name="g2")])
    randomize(k2, seed=4)
    k2.save(str(d / "gk2.h5"))
    record("k2", k2, d / "gk2.h5", rng.standard_normal((2, T, 3)).astype(np.float32), ["l2", "g2"], tk)

    from tests.support.keras2_files import write_cudnn_h5

    ref = tk.Sequential([tk.Input((None, 2)), tk.layers.GRU(3, return_sequences=True, reset_after=True,
                                                            name="cu_dnngru_1"), tk.layers.Dense(2, name="dense_1")])
    write_cudnn_h5(d / "gcu.h5", "CuDNNGRU", 3, 2, True, 2, seed=5)
    ref.load_weights(str(d / "gcu.h5"))  # tf_keras' own CuDNN weight conversion
    record("cudnn", ref, d / "gcu.h5", rng.standard_normal((2, T, 2)).astype(np.float32), ["cu_dnngru_1"], tk)

    w = a.get_weights()
    w[0] = w[0].copy()
    w[0][1, 5] = np.nan  # lstm_1 kernel: row 1, column 5 = gate f, unit 1
    w[1] = w[1].copy()
    w[1][2, 12] = np.inf  # lstm_1 recurrent_kernel: gate o, unit 0
    a.set_weights(w)
    a.save(d / "gnan.keras")
    out["nan"] = (d / "gnan.keras", None, {}, {})
    return out


def test_export_holds_keras_gate_slices_under_stable_names(models, tmp_path):
    for kid in ("a", "b", "v", "k2", "cudnn"):
        path, _, _, slices = models[kid]
        rc, text, _ = _cli("gates", path, "--export", tmp_path / f"{kid}.npz", "--json")
        assert rc == 0
        doc = json.loads(text)
        assert doc["schema"] == "kerasc-gates/1"
        with np.load(tmp_path / f"{kid}.npz") as z:
            got = {k: z[k] for k in z.files}
        assert set(got) == set(slices), kid  # cudnn: the slices of the GRU tf_keras loaded the file into
        for k, v in slices.items():
            np.testing.assert_array_equal(got[k], v, err_msg=f"{kid} {k}")
        stats = {a["name"]: a for layer in doc["layers"] for a in layer["arrays"]}
        assert set(stats) == set(slices)
        for k, v in slices.items():
            s = stats[k]
            assert s["shape"] == list(v.shape) and s["nan"] == s["inf"] == 0
            assert s["min"] == pytest.approx(float(v.min())) and s["max"] == pytest.approx(float(v.max()))
            assert s["mean"] == pytest.approx(float(v.astype(np.float64).mean()))
            assert s["std"] == pytest.approx(float(v.astype(np.float64).std()))
    rc, text, _ = _cli("gates", models["a"][0], "--layer", "bi")
    assert rc == 0 and "bi/backward/recurrent_kernel/r" in text and "lstm_1" not in text
    assert "row k = input feature k, column j = unit j" in text and "recurrent_kernel[:, 3:6]" in text
    rc, _, err = _cli("gates", models["a"][0], "--layer", "nope")
    assert rc == 2 and "lstm_1, bi, rnn, gru2" in err and "Traceback" not in err


def test_nan_weights_are_counted_and_plotted_but_convert_refuses(models, tmp_path):
    path = models["nan"][0]
    rc, text, _ = _cli("gates", path, "--json")
    assert rc == 0
    arrays = {a["name"]: a for layer in json.loads(text)["layers"] for a in layer["arrays"]}
    assert arrays["lstm_1/forward/kernel/f"]["nan"] == 1 and arrays["lstm_1/forward/recurrent_kernel/o"]["inf"] == 1
    assert sum(a["nan"] + a["inf"] for a in arrays.values()) == 2
    rc, text, _ = _cli("gates", path)
    assert rc == 0 and "WARNING: 2 NaN/Inf" in text
    rc, _, err = _cli("convert", path, "-o", tmp_path / "c")
    assert rc == 2 and "NaN" in err
    pytest.importorskip("matplotlib", reason="plots need matplotlib: pip install -e '.[report]'")
    from kerasc import gates_plot

    lstm = gates.recurrent_layers(gates.lower(path), "lstm_1")[0]
    heat, hist = gates_plot.weight_specs(lstm)
    assert [p.nan for p in heat.panels] == [1, 0, 0] and [p.inf for p in heat.panels] == [0, 1, 0]
    assert {p.names[0]: (p.nan, p.inf) for p in hist.panels if p.nan or p.inf} == {
        "lstm_1/forward/kernel/f": (1, 0), "lstm_1/forward/recurrent_kernel/o": (0, 1)}
    fig = gates_plot.draw(heat)
    try:
        titles = [ax.get_title() for ax in fig.axes]
        assert any("NaN 1" in t for t in titles) and any("Inf 1" in t for t in titles)
        shown = fig.axes[0].images[0].get_array()  # the kernel panel: NaN masked (drawn magenta), not dropped
        assert shown.shape == (3, 16) and bool(shown.mask[1, 5]) and int(shown.mask.sum()) == 1
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


def test_gates_runs_without_tensorflow(models, tmp_path):
    r = kerasc_bare("gates", models["a"][0], "--export", tmp_path / "g.npz", "--explain", "--script", tmp_path / "s.py",
             cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "LEAKED" not in r.stderr and (tmp_path / "g.npz").exists() and (tmp_path / "s.py").exists()


def _merge(mode, y, y_rev):
    return {"concat": lambda: np.concatenate([y, y_rev], -1), "mul": lambda: y * y_rev}[mode]()


def test_trace_matches_float64_gates_and_keras_outputs(models):
    from kerasc.codegen import render_header
    from kerasc.lower import build

    ir = build(models["a"][0])
    assert "_GATE" not in render_header(ir)  # the shipped header has no hook at all
    assert "GA_GATE_AT(0, t)" in render_header(ir, gate_trace=True)
    for kid in ("a", "b", "v", "k2", "cudnn"):
        path, x, io_, _ = models[kid]
        tr, layers = gates.trace(path, x)
        by_layer = {}
        for r in layers:
            by_layer.setdefault(r.keras_name, []).append(r)
        for name, rs in by_layer.items():
            k_in, k_out = io_[name]
            ref = gates.reference(rs, k_in)  # float64 from the exported arrays, on Keras' input of the layer
            assert set(ref) == {k for k in tr if k.startswith(name + "/")}
            for k, v in ref.items():
                assert tr[k].shape == v.shape and np.isfinite(tr[k]).all()
                np.testing.assert_allclose(tr[k], v, atol=2e-5, rtol=1e-4, err_msg=f"{kid} {k}")
            hs = [tr[f"{r.key}/h"] for r in rs]
            if len(rs) == 2:  # Bidirectional: both h at every input timestep, merged like Keras
                want = _merge(rs[0].merge, hs[0], hs[1])
            elif rs[0].node.options["go_backwards"]:  # Keras returns a go_backwards layer's steps as they ran
                want = hs[0][:, ::-1]
            else:
                want = hs[0]
            np.testing.assert_allclose(want, k_out, atol=1e-5, rtol=1e-4, err_msg=f"{kid} {name}")
    tr, layers = gates.trace(models["a"][0], models["a"][1], layer="lstm_1")
    assert sorted(tr) == sorted(f"lstm_1/forward/{s}" for s in ("i", "f", "c_tilde", "o", "c", "h"))


def test_trace_of_a_masked_timestep_is_nan(keras, tmp_path):
    inp = keras.Input((None, 2))
    m = keras.Model(inp, keras.layers.LSTM(3, return_sequences=True, name="lm")(keras.layers.Masking(0.0)(inp)))
    randomize(m, seed=8)
    m.save(tmp_path / "gm.keras")
    x = np.random.default_rng(9).standard_normal((2, 5, 2)).astype(np.float32)
    x[0, 2] = 0.0  # masked: Keras keeps the state, no gate is computed
    tr, _ = gates.trace(tmp_path / "gm.keras", x)
    h, k = tr["lm/forward/h"], np.asarray(m(x, training=False))
    assert np.isnan(h[0, 2]).all() and np.isfinite(np.delete(h[0], 2, axis=0)).all() and np.isfinite(h[1]).all()
    keep = np.isfinite(h)
    np.testing.assert_allclose(h[keep], k[keep], atol=1e-5, rtol=1e-4)


def test_explain_script_reproduces_keras_at_every_timestep(models, tmp_path):
    for kid in ("a", "b", "v", "k2"):
        path, _, io_, _ = models[kid]
        npz, script = tmp_path / f"{kid}.npz", tmp_path / f"{kid}_explain.py"
        rc, text, _ = _cli("gates", path, "--export", npz, "--explain", "--script", script)
        assert rc == 0
        code = script.read_text()
        assert "import numpy as np" in code and "tensorflow" not in code and "import kerasc" not in code
        assert "c  = f * c_tm1 + i * c~" in text and "h  = z * h_tm1 + (1 - z) * h~" in text or kid in "bv"
        for name, (k_in, k_out) in io_.items():
            np.save(tmp_path / "x.npy", k_in)
            r = subprocess.run([sys.executable, str(script), str(npz), str(tmp_path / "x.npy"), name,
                                str(tmp_path / "y.npy")], capture_output=True, text=True, timeout=60, cwd=tmp_path)
            assert r.returncode == 0, r.stderr
            np.testing.assert_allclose(np.load(tmp_path / "y.npy"), k_out, atol=1e-5, rtol=1e-4,
                                       err_msg=f"{kid} {name}")
    rc, text, _ = _cli("gates", models["k2"][0], "--explain", "--layer", "l2", "--script", tmp_path / "k2.py")
    assert "hard_sigmoid_k2(x_t @ l2/forward/kernel/i" in text  # Keras 2's hard_sigmoid, by name


def test_plot_panels_hold_the_exported_arrays(models, tmp_path):
    pytest.importorskip("matplotlib", reason="plots need matplotlib: pip install -e '.[report]'")
    import matplotlib.pyplot as plt

    from kerasc import gates_plot

    path, x, _, slices = models["a"]
    layers = gates.recurrent_layers(gates.lower(path))
    exported = gates.arrays(layers)
    for r in layers[:2]:  # an LSTM, a GRU (reset_after=False) inside a Bidirectional
        for shared in (True, False):
            heat, hist = gates_plot.weight_specs(r, shared=shared)
            assert heat.shared is shared
            assert sorted(n for p in heat.panels for n in p.names) == sorted(a.name for a in r.arrays)
            assert sorted(n for p in hist.panels for n in p.names) == sorted(a.name for a in r.arrays)
            for p in heat.panels + hist.panels:
                for n, part in zip(p.names, p.parts):
                    np.testing.assert_array_equal(part, exported[n])
                    np.testing.assert_array_equal(part, slices[n])
            for p in heat.panels:  # gate boundaries every U columns, gates in Keras' order
                assert p.boundaries == tuple(k * r.units for k in range(len(p.parts)))
                assert "".join(p.labels) == GATES[r.cell]
            fig = gates_plot.draw(heat)
            try:
                axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
                assert len(axes) == len(heat.panels)
                for ax, p in zip(axes, heat.panels):
                    np.testing.assert_array_equal(ax.images[0].get_array().filled(np.nan), p.data)
                lims = {ax.images[0].get_clim() for ax in axes}
                assert (len(lims) == 1) is shared or len(heat.panels) == 1
            finally:
                plt.close(fig)
    tr, traced = gates.trace(path, x)
    for spec in gates_plot.trace_specs(tr, traced):
        for p in spec.panels:
            np.testing.assert_array_equal(p.data, tr[p.names[0]][0].T)  # units x time of sample 0
    np.save(tmp_path / "x.npy", x)
    rc, _, err = _cli("gates", path, "--layer", "bi", "--plot", tmp_path / "p", "--independent-axes", "--trace",
                      tmp_path / "x.npy", "--trace-out", tmp_path / "t.npz")
    assert rc == 0, err
    files = sorted(f.name for f in (tmp_path / "p").iterdir())
    assert files == sorted(f"bi_{d}_{what}.png" for d in ("forward", "backward")
                           for what in ("weights", "hist", "trace"))
    assert all((tmp_path / "p" / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for f in files)
    with np.load(tmp_path / "t.npz") as z:
        assert sorted(z.files) == sorted(k for k in tr if k.startswith("bi/"))
        assert all(np.array_equal(z[k], tr[k]) for k in z.files)


def test_verify_report_gates_section_renders_in_chromium(models, tmp_path):
    pytest.importorskip("matplotlib", reason="the report needs matplotlib: pip install -e '.[report]'")
    loaded_images = script_module("tools/browser.py").loaded_images

    import kerasc
    from kerasc import report as kreport

    path, x, _, slices = models["b"]
    rep = kerasc.verify(path, x=x)
    page = kreport.write_html(rep, tmp_path / "html")
    html = page.read_text()
    assert 'id="gates"' in html
    for name in slices:
        assert f">{name}<" in html
    chromium = require_tool("chromium")
    images = loaded_images(chromium, page)
    assert len(images) == 1 + 2 * 3 and all(ok and w > 100 and h > 100 for ok, w, h in images), images
