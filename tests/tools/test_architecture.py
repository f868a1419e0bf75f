"""The module structure of docs/architecture.md holds: a layer is one module and one template (proved by
adding Keras UnitNormalization from tests/tools/example_layer/ alone and checking it against real Keras), every
node kind has the template of its name, only keras_bridge imports Keras, and no module reaches into
another's private helpers."""

from __future__ import annotations

import ast
import importlib
import re
import sys
from pathlib import Path

import numpy as np
import pytest

import kerasc
from tests.support.env import ROOT
from tests.support.models import randomize

PKG = Path(kerasc.__file__).resolve().parent


@pytest.fixture
def unit_normalization():
    """Register the example layer for one test (import = registration), and forget it afterwards."""
    from kerasc import layers

    assert "UnitNormalization" not in layers.REGISTRY  # kerasc itself does not convert it
    sys.modules.pop("tests.tools.example_layer.unit_normalization", None)
    module = importlib.import_module("tests.tools.example_layer.unit_normalization")
    try:
        yield module
    finally:
        layers.unregister(module.CLASS)
        sys.modules.pop("tests.tools.example_layer.unit_normalization", None)


def test_a_layer_is_one_module_and_one_template(keras, unit_normalization, tmp_path):
    """Importing the module registers traits, lowering and template: convert, inspect, streaming, int8 and
    verify against Keras at every layer and timestep then work with no other change."""
    from kerasc import layers
    from kerasc.describe import describe

    assert layers.traits("UnitNormalization").mask is layers.Mask.PASS
    assert layers.kinds()["unit_normalization"] == Path(unit_normalization.__file__).with_suffix(".c.j2")
    assert "UnitNormalization" in layers.supported_layers()
    inp = keras.Input((None, 3))
    h = keras.layers.Masking(0.0, name="masking")(inp)
    h = keras.layers.Dense(5, name="proj")(h)
    h = keras.layers.UnitNormalization(name="unit")(h)  # passes the mask on to the GRU, as Keras does
    model = randomize(keras.Model(inp, keras.layers.GRU(4, name="gru")(h), name="unit_norm"), seed=5)
    x = np.random.default_rng(5).standard_normal((2, 6, 3)).astype(np.float32)
    x[1, 4:] = 0.0  # a padded tail: masked steps
    cm = kerasc.compile(model)
    assert [n.kind for n in cm.ir.nodes] == ["masking", "dense", "unit_normalization", "gru"]
    assert cm.can_stream
    report = kerasc.verify(model, x=x, compiled=cm)
    assert report.ok, report.table()
    assert [r.name for r in report.layers] == ["masking", "proj", "unit", "gru"]
    unit = report.layers[2]
    assert unit.keras_class == "UnitNormalization" and unit.max_abs_err < 1e-5
    cm.reset()
    streamed = np.stack([cm.step(x[0, t]) for t in range(x.shape[1])])
    np.testing.assert_allclose(streamed[-1], model(x[:1], training=False).numpy()[0], atol=1e-5, rtol=1e-4)
    header = kerasc.convert(model, tmp_path)[0].read_text()
    assert "Keras layer 'unit': UnitNormalization(axis=-1) per timestep" in header
    row = next(r for r in describe(model).layers if r.name == "unit")
    assert row.ok and row.keras_class == "UnitNormalization" and row.streaming
    assert kerasc.verify(model, x=x, weights="int8").ok  # quant reads Node.kernels: none here, Dense's int8


def test_every_kind_has_the_template_of_its_name():
    """A kind K is emitted by templates/layers/K.c.j2; a module making one kind is named like it."""
    from kerasc import layers

    from kerasc._resources import templates_dir

    templates = templates_dir() / "layers"
    kinds = layers.kinds()
    assert kinds, "no layer declares its node kinds"
    for kind, path in kinds.items():
        assert path == templates / f"{kind}.c.j2" and path.is_file(), kind
    partials = {"rnn_mask"}  # included by model.h.j2 after a masked recurrent kind
    assert {p.name[:-len(".c.j2")] for p in templates.glob("*.c.j2")} == set(kinds) | partials
    by_module: dict[str, set[str]] = {}
    for cls, handler in layers.REGISTRY.items():
        by_module.setdefault(handler.__module__.rsplit(".", 1)[-1], set()).update(layers.traits(cls).kinds)
    for module, made in by_module.items():
        if module == "recurrent":  # LSTM, GRU, SimpleRNN: one kind per Keras class, named like the class
            assert made == {"lstm", "gru", "simple_rnn"}
        elif made:
            assert module in made, f"layers/{module}.py makes {sorted(made)}: one of them should be {module!r}"


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every import in a source file (relative imports as '.x')."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            out.append(("." * node.level + (node.module or ""), [a.name for a in node.names]))
    return out


def test_only_keras_bridge_imports_keras():
    sources = sorted(PKG.rglob("*.py"))
    assert sources
    importers = {p.relative_to(PKG).as_posix() for p in sources for mod, _ in _imports(p)
                 if mod.split(".")[0] in ("keras", "tensorflow", "tf_keras")}
    assert importers == {"keras_bridge.py"}
def test_no_private_helper_crosses_a_module():
    crossing = [f"{p.relative_to(PKG)}: from {mod} import {n}" for p in sorted(PKG.rglob("*.py"))
                for mod, names in _imports(p) if mod.startswith(".") for n in names
                if n.startswith("_") and n != "__version__"]
    assert crossing == []


def test_tests_share_one_support_package():
    """Test modules take what they share from tests/support/ only: no sys.path edits, no imports of
    other test modules, one strict-flags list, one randomize(), one compile-all step."""
    tests = ROOT / "tests"
    problems = []
    for path in sorted(tests.rglob("*.py")):
        if path == Path(__file__):  # this test names what it looks for
            continue
        rel = path.relative_to(ROOT)
        text = path.read_text()
        if "sys.path.insert" in text or "sys.path.append" in text:
            problems.append(f"{rel}: edits sys.path")
        if re.search(r"^\s*(from|import) (tests\.\w+\.)?test_\w+", text, re.M):
            problems.append(f"{rel}: imports another test module")
        if rel.parts[1] != "support":
            for pattern, what in ((r"^STRICT\s*=", "its own STRICT flags"), (r"^def randomize\(", "its own randomize()"),
                                  (r"\bcompile_models\(\[?\s*build\(", "its own build-and-compile loop")):
                if re.search(pattern, text, re.M):
                    problems.append(f"{rel}: {what}")
    assert not problems, "\n".join(problems)
