"""kerasc.verify and the Python API on .keras files: the report names the first layer and timestep
that disagree; files and live models give the same C; several seeds of the demo-like stack."""

import dataclasses

import numpy as np
import pytest

import kerasc
from tests.support.models import keras_truth, randomize
from tests.support.parity import assert_close


@pytest.fixture(scope="module")
def saved(keras, tmp_path_factory):
    m = keras.Sequential([keras.Input((None, 3)), keras.layers.GRU(6, return_sequences=True, name="g"),
                          keras.layers.LSTM(5, name="l"), keras.layers.Dense(3, activation="softmax", name="d")],
                         name="saved_model")
    randomize(m, seed=11)
    path = tmp_path_factory.mktemp("m") / "saved_model.keras"
    m.save(path)
    return m, path


def test_file_and_live_model_give_the_same_header(saved):
    from kerasc.codegen import render_header

    m, path = saved
    live, filed = render_header(kerasc.build_ir(m)), render_header(kerasc.build_ir(path))
    # identical but for the source line
    strip = lambda t: "\n".join(t.splitlines()[1:])  # noqa: E731
    assert strip(live) == strip(filed)
    assert "from saved_model.keras (Keras 3." in filed.splitlines()[0]


def test_compile_predict_from_file_matches_keras(saved):
    m, path = saved
    cm = kerasc.compile(path)
    x = np.random.default_rng(1).standard_normal((4, 11, 3)).astype(np.float32)
    assert_close(cm.predict(x), keras_truth(m, x), "compiled from .keras")
    assert cm.predict(x).shape == m.predict(x, verbose=0).shape


def test_verify_report_passes(saved):
    _, path = saved
    report = kerasc.verify(path, timesteps=20, batch=3)
    assert report.ok, report.table()
    assert [r.name for r in report.layers] == ["g", "l", "d"]
    assert report.layers[0].shape == (3, 20, 6) and report.layers[1].shape == (3, 5)
    assert 0 < report.max_abs_err < 1e-5
    assert "PASS" in report.table()


def test_verify_the_exact_math_build(saved, tmp_path, capsys):
    """--exact-math / exact_math=True verifies the -DKC_EXACT_MATH build (libm's tanhf/expf) a firmware may
    ship: a different build from the default (other bits), also within the contract, named in the report."""
    from kerasc.cli import main
    from kerasc.errors import ConversionError
    from kerasc.testing import assert_matches_keras

    m, path = saved
    x = np.random.default_rng(2).standard_normal((3, 20, 3)).astype(np.float32)
    fast, exact = kerasc.compile(path), kerasc.compile(path, exact_math=True)
    assert exact.defines == ("KC_EXACT_MATH",) and fast.defines == ()
    assert not np.array_equal(fast.predict(x), exact.predict(x))  # the macro reached the build
    truth = keras_truth(m, x)
    assert_close(exact.predict(x), truth, "exact math")
    report = kerasc.verify(path, x, exact_math=True)
    assert report.ok and "-DKC_EXACT_MATH" in report.environment["C compiler"], report.environment
    assert "-DKC_EXACT_MATH" not in kerasc.verify(path, x).environment["C compiler"]
    assert assert_matches_keras(path, x, exact_math=True).ok
    with pytest.raises(ConversionError, match="exact_math=True but the compiled model was built with the default"):
        kerasc.verify(path, x, compiled=fast, exact_math=True)
    out = tmp_path / "v.json"
    assert main(["verify", str(path), "--exact-math", "--timesteps", "8", "--json", str(out)]) == 0
    assert "-DKC_EXACT_MATH" in out.read_text()


def test_fixture_and_junit_with_the_exact_math_build(saved, tmp_path):
    """The kerasc_model fixture (ModelFactory) builds the -DKC_EXACT_MATH C on request and checks that
    build; its default build refuses exact_math=True with a message saying how to get the other build;
    the JUnit report of `verify --exact-math` names the build like the JSON does."""
    import xml.etree.ElementTree as ET

    from kerasc.cli import main
    from kerasc.errors import ConversionError
    from kerasc.testing import ModelFactory

    m, path = saved
    x = np.random.default_rng(3).standard_normal((2, 9, 3)).astype(np.float32)
    factory = ModelFactory(tmp_path / "fixture")
    exact = factory(path, exact_math=True)
    assert exact.compiled.defines == ("KC_EXACT_MATH",)
    report = exact.assert_matches_keras(x)
    assert "-DKC_EXACT_MATH" in report.environment["C compiler"]
    fast = factory(path)
    assert fast is not exact and fast.compiled.defines == ()
    with pytest.raises(ConversionError, match=r"kerasc_model\(model, exact_math=True\)"):
        fast.assert_matches_keras(x, exact_math=True)
    junit = tmp_path / "v.xml"
    assert main(["verify", str(path), "--exact-math", "--timesteps", "8", "--junit", str(junit)]) == 0
    props = {e.get("name"): e.get("value") for e in ET.parse(junit).iter("property")}
    assert "-DKC_EXACT_MATH" in props["C compiler"], props


def test_verify_finds_the_first_wrong_layer_and_timestep(saved):
    """Corrupt one recurrent weight of layer 'l' in the C (not Keras): verify must fail there,
    and layer 'g' before it must still pass."""
    from kerasc.harness import compile_models

    m, path = saved
    ir = kerasc.build_ir(path, name="corrupted")
    node = ir.nodes[1]
    arrays = list(node.arrays)
    bad = arrays[1].values.copy()  # U_i of the LSTM
    bad[0, 0] += 0.5
    arrays[1] = dataclasses.replace(arrays[1], values=bad)
    nodes = list(ir.nodes)
    nodes[1] = dataclasses.replace(node, arrays=tuple(arrays), gates=tuple(
        dataclasses.replace(g, U=arrays[1]) if g.name == "i" else g for g in node.gates))
    cm = compile_models([dataclasses.replace(ir, nodes=tuple(nodes))])[0]
    report = kerasc.verify(path, compiled=cm, timesteps=8)
    assert not report.ok
    assert report.layers[0].ok and not report.layers[1].ok
    assert report.first_failure.name == "l"
    assert "layer [1] 'l' (LSTM)" in report.first_failure.first_bad
    assert "first disagreement" in report.table()


@pytest.mark.parametrize("seed", range(4))
def test_several_seeds_saturating_weights(keras, seed):
    m = keras.Sequential([keras.Input((None, 4)), keras.layers.LSTM(16, return_sequences=True),
                          keras.layers.GRU(12, return_sequences=True), keras.layers.SimpleRNN(8),
                          keras.layers.Dense(4)])
    randomize(m, seed=100 + seed, gain=2.0)
    x = np.random.default_rng(seed).standard_normal((2, 30, 4)).astype(np.float32)
    report = kerasc.verify(m, x=x, name=f"seed{seed}")
    assert report.ok, report.table()
