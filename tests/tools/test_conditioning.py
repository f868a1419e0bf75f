"""The three-outcome verdict of verify (kerasc.conditioning, docs/verify.md) on a chaotic LSTM stack:
a correct port is PASS (float32-limited); one wrong weight in the float32 C, one wrong weight in both
builds, and a swapped gate order are FAIL at the place they start; --strict keeps bare tolerance."""

import dataclasses
import json
import re

import numpy as np
import pytest

import kerasc
from kerasc.conditioning import FAIL, LIMITED, PASS
from tests.support.reference import np_lstm

T, U, F = 60, 24, 4


def _chaotic(keras, name="chaos"):
    """LSTM(24) -> LSTM(24) with random recurrent weights scaled up until one float32 ulp of noise on the
    inputs moves the float64 output by more than 1e-3 within T steps (float64 numpy, no kerasc)."""
    L = keras.layers
    m = keras.Sequential([keras.Input((None, F)), L.LSTM(U, return_sequences=True, name="l1"),
                          L.LSTM(U, return_sequences=True, name="l2")], name=name)
    x = np.random.default_rng(0).standard_normal((2, T, F)).astype(np.float32)
    xp = np.nextafter(x, np.where(np.random.default_rng(1).random(x.shape) < 0.5, -np.inf, np.inf).astype(np.float32))
    scale = 3.0
    while True:
        rng = np.random.default_rng(0)
        ws = []
        for w in m.get_weights():
            if w.ndim == 2 and w.shape[0] == U:  # recurrent kernels (and l2's input kernel): the chaos
                ws.append((rng.standard_normal(w.shape) * scale / np.sqrt(U)).astype(np.float32))
            elif w.ndim == 2:
                ws.append((rng.standard_normal(w.shape) / np.sqrt(w.shape[0])).astype(np.float32))
            else:
                ws.append((rng.standard_normal(w.shape) * 0.5).astype(np.float32))
        m.set_weights(ws)
        w64 = [w.astype(np.float64) for w in ws]

        def run(a):
            return np_lstm(np_lstm(a.astype(np.float64), *w64[:3]), *w64[3:])

        moved = np.abs(run(xp) - run(x)).max()
        if moved > 1e-3:
            return m, x, scale, moved
        scale *= 1.25
        assert scale < 20, "no chaotic scale found"


@pytest.fixture(scope="module")
def chaos(keras):
    return _chaotic(keras)


def test_chaotic_model_is_pass_float32_limited(chaos):
    m, x, scale, moved = chaos
    report = kerasc.verify(m, x=x)
    assert not report.ok  # outside tolerance of Keras: today's verify would say FAIL
    v = report.verdict
    assert v.outcome == LIMITED, report.table()
    assert report.exit_code == 4 and report.passed
    ex = report.exact
    last = ex.layers[-1]
    assert last.max_sens > 1e-4 and last.max_ke > 1e-4  # Keras itself is that far from exact arithmetic
    assert np.all(last.ratio_ce_t <= ex.factor)
    pos, t = v.amplification
    assert ex.layers[pos].sens_t[t] > ex.layers[pos].tol_t[t] and t > 0  # it starts after the first steps
    assert "amplifies float32 rounding" in v.sentence and f"timestep {t}" in v.sentence
    table = report.table()
    assert "PASS (float32-limited): chaos" in table and "C-exact" in table and "float32-limited: " in table


def test_strict_keeps_bare_tolerance(chaos):
    m, x, _, _ = chaos
    report = kerasc.verify(m, x=x, strict=True)
    assert report.exact is None and report.outcome == FAIL and report.exit_code == 1


def _header_with_wrong_weight(ir):
    """The generated header with the first recurrent weight of l1's input gate changed (a test hook on
    the text: the product has no switch for it)."""
    from kerasc.codegen import render_header

    text = render_header(ir)
    m = re.search(rf"{ir.name}__\w*U_i\w*\[[^=]*= \{{\s*\{{?\s*(-?[0-9.e+-]+f)", text)
    assert m, "no U_i array in the header"
    value = float(m.group(1)[:-1])
    return text[:m.start(1)] + f"{value + 0.5:.9g}f" + text[m.end(1):]


def test_wrong_weight_in_the_float_c_fails_at_the_first_step(chaos):
    from kerasc.harness import compile_models

    m, x, _, _ = chaos
    ir = kerasc.build_ir(m, name="chaos_wrong_c")
    cm = compile_models([ir], headers={f"{ir.name}.h": _header_with_wrong_weight(ir)})[0]
    report = kerasc.verify(m, x=x, compiled=cm)  # the double build comes from the IR: right
    v = report.verdict
    assert v.outcome == FAIL and report.exit_code == 1
    assert v.where[0] == 0 and v.where[1] <= 1, v.sentence
    assert "kerasc is worse than Keras against exact arithmetic at layer [0] 'l1' (LSTM)" in v.sentence


def _with_node(ir, pos, node):
    nodes = list(ir.nodes)
    nodes[pos] = node
    return dataclasses.replace(ir, nodes=tuple(nodes))


def test_wrong_weight_in_both_builds_fails(chaos):
    """A wrong port reads a weight wrongly: the double build is as wrong as the float32 one, so only
    Keras and the sensitivity can tell, right at the first step."""
    from kerasc.harness import compile_models

    m, x, _, _ = chaos
    ir = kerasc.build_ir(m, name="chaos_wrong_ir")
    node = ir.nodes[0]
    gates = list(node.gates)
    U_i = gates[0].U
    bad = dataclasses.replace(U_i, values=U_i.values + np.float32(0.5) * (np.arange(U_i.values.size) == 0).reshape(
        U_i.values.shape))
    gates[0] = dataclasses.replace(gates[0], U=bad)
    arrays = tuple(bad if a is U_i else a for a in node.arrays)
    wrong = _with_node(ir, 0, dataclasses.replace(node, gates=tuple(gates), arrays=arrays))
    report = kerasc.verify(m, x=x, compiled=compile_models([wrong])[0])
    v = report.verdict
    assert v.outcome == FAIL, report.table()
    assert v.where[0] == 0 and v.where[1] <= 1, v.sentence
    assert "the C computes something else than Keras at layer [0] 'l1' (LSTM)" in v.sentence


def test_swapped_gate_order_fails(chaos):
    from kerasc.harness import compile_models

    m, x, _, _ = chaos
    ir = kerasc.build_ir(m, name="chaos_swapped")
    node = ir.nodes[1]
    g = {gate.name: gate for gate in node.gates}
    swap = {"i": "f", "f": "i"}  # read Keras' i, f, c, o as f, i, c, o
    gates = tuple(dataclasses.replace(gate, W=g[swap[gate.name]].W, U=g[swap[gate.name]].U, b=g[swap[gate.name]].b)
                  if gate.name in swap else gate for gate in node.gates)
    swapped = _with_node(ir, 1, dataclasses.replace(node, gates=gates))
    report = kerasc.verify(m, x=x, compiled=compile_models([swapped])[0])
    v = report.verdict
    assert v.outcome == FAIL
    assert v.where == (1, 0), v.sentence


def test_well_conditioned_token_model_is_plain_pass_with_embedding_sensitivity(keras):
    """Token inputs: the sensitivity perturbs the Embedding table (one extension for the copies)."""
    from tests.support.models import randomize

    L = keras.layers
    m = keras.Sequential([keras.Input((None,), dtype="int32"), L.Embedding(20, 6, name="e"),
                          L.LSTM(8, return_sequences=True, name="l"), L.Dense(3, name="d")], name="cond_tokens")
    randomize(m, seed=2)
    report = kerasc.verify(m, timesteps=10)
    assert report.outcome == PASS and report.exit_code == 0
    ex = report.exact
    assert ex.perturbed == "Embedding tables" and len(ex.layers) == len(report.layers)
    assert 0 < ex.layers[1].max_sens < 1e-5 and ex.layers[-1].max_ke < 1e-5


def test_cli_exit_codes_json_and_junit(chaos, tmp_path):
    import xml.etree.ElementTree as ET

    from kerasc.cli import main

    m, x, _, _ = chaos
    path = tmp_path / "chaos.keras"
    m.save(path)
    np.save(tmp_path / "x.npy", x)
    args = ["verify", str(path), "--inputs", str(tmp_path / "x.npy"), "--json", str(tmp_path / "v.json"),
            "--junit", str(tmp_path / "v.xml")]
    assert main(args) == 4
    doc = json.loads((tmp_path / "v.json").read_text())
    assert doc["verdict"] == LIMITED and doc["exit_code"] == 4 and doc["ok"] is False and doc["strict"] is False
    assert "amplifies float32 rounding" in doc["verdict_reason"]
    layer = doc["layers"][-1]["exact"]
    assert len(layer["c_err_t"]) == T and len(layer["sensitivity_t"]) == T and layer["max_keras_err"] > 1e-4
    suite = ET.parse(tmp_path / "v.xml").getroot().find("testsuite")
    assert suite.get("failures") == "0"
    assert {p.get("name"): p.get("value") for p in suite.iter("property")}["verdict"] == LIMITED
    assert main(args + ["--strict"]) == 1
    doc = json.loads((tmp_path / "v.json").read_text())
    assert doc["verdict"] == FAIL and doc["strict"] is True and doc["layers"][0]["exact"] is None


def test_assert_matches_keras_uses_the_verdict(chaos):
    from kerasc.testing import assert_matches_keras

    m, x, _, _ = chaos
    assert assert_matches_keras(m, x).outcome == LIMITED
    with pytest.raises(AssertionError, match="does not match Keras"):
        assert_matches_keras(m, x, strict=True)


def test_html_report_states_the_limited_verdict(chaos, tmp_path):
    from kerasc import report as kreport

    m, x, _, _ = chaos
    report = kerasc.verify(m, x=x)
    html = kreport.write_html(report, tmp_path).read_text(encoding="utf-8")
    assert 'class="badge limited" id="verdict">PASS (float32-limited)<' in html
    assert "float32 rounding explains it" in html and "amplifies float32 rounding" in html
    assert "|C − exact|" in html and "|Keras − exact|" in html and "-DKC_FLOAT=double" in html


def test_stateful_model_every_exact_run_starts_from_zero_state(keras):
    from tests.support.models import randomize

    L = keras.layers
    m = keras.Sequential([keras.Input((None, 3), batch_size=2), L.GRU(5, return_sequences=True, stateful=True,
                                                                      name="g"), L.Dense(2, name="d")],
                         name="cond_stateful")
    randomize(m, seed=4)
    for _ in range(2):  # the second verify too: states are reset on every side
        report = kerasc.verify(m, timesteps=8, batch=2)
        assert report.outcome == PASS
        assert all(le.max_ke < 1e-5 and le.max_sens < 1e-5 for le in report.exact.layers), report.table()


@pytest.mark.parametrize("mask_value", [0.0, -1.0])
def test_padding_stays_padding_under_the_one_ulp_noise(keras, mask_value):
    """Masking: the 1-ulp noise leaves the mask value alone (nextafter(0, inf) is a denormal: a padded step
    would count as data, and the sensitivity of a well-conditioned padded model read 0.16, not 1e-7)."""
    from tests.support.models import randomize

    L = keras.layers
    m = keras.Sequential([keras.Input((None, 3)), L.Masking(mask_value, name="mask"),
                          L.LSTM(8, return_sequences=True, name="l"), L.GlobalAveragePooling1D(name="avg")],
                         name="cond_padded")
    randomize(m, seed=3)
    x = np.random.default_rng(3).standard_normal((2, 12, 3)).astype(np.float32)
    x[0, 7:] = mask_value  # a padded tail
    report = kerasc.verify(m, x=x)
    assert report.outcome == PASS, report.table()
    sens = [le.max_sens for le in report.exact.layers]
    assert 0 < max(sens) < 1e-5, report.table()
