"""The extension point for custom layer classes (kerasc.extend, docs/extending.md), on the worked example of
examples/custom_layer (AttentionAverage, a custom Keras class): the example runs end to end; without a plugin the
class is refused by name, pointing at the extension point; with it (--plugin FILE or MODULE, KERASC_PLUGINS, an
installed entry point) convert, verify against the Keras class (.keras and Keras 2 .h5, float32/float16/int8
weights), inspect, gates and the self-test work, and the C is -Werror clean on every compiler; a plugin whose C
is wrong fails verify; register_layer refuses what would shadow kerasc's own layers or templates."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

import kerasc
from tests.support.env import ROOT, require_tool, script_module
from tests.support.flags import CXX, M0, M4F, STRICT
from tests.support.models import randomize
from tests.support.programs import env_with_kerasc, kerasc as kerasc_cmd, run

EXAMPLE = ROOT / "examples" / "custom_layer"
PLUGIN = EXAMPLE / "kerasc_attention_average.py"


def _env(**extra: str) -> dict:
    env = env_with_kerasc()
    env.pop("KERASC_PLUGINS", None)
    env.pop("KERASC_NO_PLUGINS", None)
    env.update(extra)
    return env


@pytest.fixture
def plugin():
    """The example plugin loaded in this process for one test, by its file as --plugin does (import =
    registration), and forgotten after."""
    from kerasc.extend import load_plugin, unregister_layer

    try:
        yield sys.modules[load_plugin(str(PLUGIN))]
    finally:
        unregister_layer("AttentionAverage")
        for m in ("kerasc_attention_average", "attention_average"):
            sys.modules.pop(m, None)
        if str(EXAMPLE) in sys.path:
            sys.path.remove(str(EXAMPLE))


def _model(keras, masked: bool = True, seed: int = 4):
    keras_class = script_module("examples/custom_layer/attention_average.py").keras_class
    L = keras.layers
    inp = keras.Input((None, 3), name="x")
    h = L.Masking(0.0, name="masking")(inp) if masked else inp
    h = L.LSTM(6, return_sequences=True, name="lstm")(h)
    h = keras_class(keras)(name="attention")(h)
    return randomize(keras.Model(inp, L.Dense(2, name="head")(h), name="attn_avg"), seed=seed)


def _inputs(seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((3, 10, 3)).astype(np.float32)
    x[1, 6:] = 0.0  # padding: masked steps get no attention
    return x


@pytest.fixture(scope="module")
def files(keras, tmp_path_factory):
    """attn_avg.keras (Keras 3) and attn_avg_k2.h5 (Keras 2, tf_keras), the same layers, and inputs."""
    d = tmp_path_factory.mktemp("custom")
    _model(keras).save(d / "attn_avg.keras")
    import tf_keras

    _model(tf_keras, seed=5).save(d / "attn_avg_k2.h5")
    np.save(d / "x.npy", _inputs())
    return d


def test_example_runs_end_to_end(tmp_path):
    """examples/custom_layer/run.py: trains the model, is refused without the plugin, and inspect, verify,
    convert --self-test and the self-test built with -Werror all pass with it."""
    p = run([sys.executable, EXAMPLE / "run.py", tmp_path], env=env_with_kerasc(), timeout=600)
    out = p.stdout
    assert "is a custom layer class ('kerasc_example>AttentionAverage'" in out
    assert "PASS: pulses" in out and "attention                AttentionAverag" in out
    assert "self-test exit 0 (the C agrees with Keras)" in out
    acc = float(out.split("trained: accuracy ")[1].split("%")[0])
    assert acc > 60.0, out  # trained, not a random head (3 classes: 33 %)


@pytest.mark.parametrize("fname, needle", [
    ("attn_avg.keras", "is a custom layer class ('kerasc_example>AttentionAverage', module 'attention_average') "
                       "that no plugin registers; to convert it, register a lowering and a C template for it with "
                       "kerasc.extend.register_layer and load that plugin (--plugin MODULE|FILE.py): see "
                       "docs/extending.md"),
    ("attn_avg_k2.h5", "is not supported; supported layers: LSTM"),
])
def test_unregistered_custom_class_is_refused_by_name(files, fname, needle):
    for cmd in ("convert", "inspect"):
        p = kerasc_cmd(cmd, files / fname, "-o", files / "refused", no_tf=True, env=_env()) if cmd == "convert" \
            else kerasc_cmd(cmd, files / fname, no_tf=True, env=_env())
        text = p.stderr + p.stdout
        assert p.returncode == 2, text
        assert "layer 'attention' (AttentionAverage)" in text and needle in text, text
        assert "docs/extending.md" in text
    assert not (files / "refused").exists()


@pytest.mark.parametrize("fname", ["attn_avg.keras", "attn_avg_k2.h5"])
def test_plugin_file_convert_verify_inspect_gates(files, fname, tmp_path):
    """--plugin FILE.py: verify against the Keras class at every layer and timestep with each weight type;
    convert and inspect without TensorFlow (the plugin names its Keras class by a string)."""
    path = files / fname
    for weights in ("float32", "float16", "int8"):
        p = kerasc_cmd("verify", path, "--plugin", PLUGIN, "--inputs", files / "x.npy", "--weights", weights,
                       "--json", tmp_path / f"{weights}.json", "-q", env=_env())
        assert p.returncode == 0, p.stdout + p.stderr
        import json

        report = json.loads((tmp_path / f"{weights}.json").read_text())
        att = next(r for r in report["layers"] if r["name"] == "attention")
        assert att["class"] == "AttentionAverage" and att["ok"], att
        assert att["max_abs_err"] < (1e-5 if weights == "float32" else 5e-2)
    p = kerasc_cmd("convert", path, "--plugin", PLUGIN, "-o", tmp_path / "out", no_tf=True, env=_env(), check=True)
    header = (tmp_path / "out" / f"{path.stem}.h").read_text()
    assert "Keras layer 'attention': AttentionAverage() over time (masked steps get no weight)" in header
    assert "AttentionAverage.call: e_t = tanh(x_t . w + b)" in header
    p = kerasc_cmd("inspect", path, "--plugin", PLUGIN, no_tf=True, env=_env(), check=True)
    row = next(line for line in p.stdout.splitlines() if line.split()[1:2] == ["attention"])
    assert " ok " in row and "plugin=kerasc_attention_average" in row and "(T, 6)  (6,)" in row, row
    p = kerasc_cmd("gates", path, "--plugin", PLUGIN, no_tf=True, env=_env(), check=True)
    assert "lstm" in p.stdout


def test_plugin_header_is_clean_on_every_compiler(files, tmp_path):
    """The plugin's C, inside the generated header, with -Werror on gcc, clang, g++ and arm-none-eabi-gcc
    (M4F hard float, M0 soft float), and the double (exact) build (whose float literals promote, by design)."""
    out = tmp_path / "out"
    kerasc_cmd("convert", files / "attn_avg.keras", "--plugin", PLUGIN, "-o", out, no_tf=True, env=_env(), check=True)
    src = tmp_path / "use.c"
    src.write_text('#include "attn_avg.h"\n'
                   "int use(const kc_float *x, kc_float *y);\n"
                   "int use(const kc_float *x, kc_float *y)\n{\n    static attn_avg_state st;\n    static attn_avg_scratch scr;\n"
                   "    attn_avg_reset(&st);\n    attn_avg_step(&st, &scr, x, y);\n    return 0;\n}\n")
    builds = [["gcc", *STRICT], ["gcc", *[f for f in STRICT if f != "-Wdouble-promotion"], "-DKC_FLOAT=double"], [require_tool("clang"), *STRICT],
              [require_tool("g++"), *CXX], [require_tool("arm-none-eabi-gcc"), *STRICT, *M4F],
              [require_tool("arm-none-eabi-gcc"), *STRICT, *M0]]
    for cc in builds:
        run([*cc, "-O2", f"-I{out}", "-c", src, "-o", tmp_path / "use.o"])


def test_plugin_by_module_environment_and_entry_point(files, tmp_path):
    """--plugin MODULE (on PYTHONPATH), KERASC_PLUGINS, and an installed distribution's entry point in group
    kerasc.layers all load the plugin; KERASC_NO_PLUGINS turns the environment and entry points off."""
    path = files / "attn_avg.keras"
    base = _env()
    with_path = dict(base, PYTHONPATH=base["PYTHONPATH"] + os.pathsep + str(EXAMPLE))
    assert kerasc_cmd("inspect", path, "--plugin", "kerasc_attention_average", env=with_path).returncode == 0
    assert kerasc_cmd("inspect", path, env=dict(base, KERASC_PLUGINS=str(PLUGIN))).returncode == 0
    site = tmp_path / "site"
    dist = site / "attention_plugin-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: attention-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[kerasc.layers]\nattention = kerasc_attention_average\n")
    installed = dict(base, PYTHONPATH=os.pathsep.join([base["PYTHONPATH"], str(site), str(EXAMPLE)]))
    p = kerasc_cmd("inspect", path, env=installed)
    assert p.returncode == 0 and "plugin=kerasc_attention_average" in p.stdout, p.stdout + p.stderr
    for env in (dict(installed, KERASC_NO_PLUGINS="1"), dict(base, KERASC_PLUGINS=str(PLUGIN), KERASC_NO_PLUGINS="1")):
        p = kerasc_cmd("inspect", path, env=env)
        assert p.returncode == 2 and "no plugin registers" in p.stdout, p.stdout + p.stderr


def test_plugin_that_fails_to_import_is_a_clear_error(files, tmp_path):
    bad = tmp_path / "broken_plugin.py"
    bad.write_text("raise RuntimeError('the plugin author made a typo')\n")
    for spec in (bad, tmp_path / "missing.py", "no_such_plugin_module"):
        p = kerasc_cmd("inspect", files / "attn_avg.keras", "--plugin", spec, no_tf=True, env=_env())
        assert p.returncode == 2 and p.stderr.startswith("kerasc: error: "), p.stderr
        assert len(p.stderr.strip().splitlines()) == 1 and str(spec) in p.stderr, p.stderr
    assert "RuntimeError: the plugin author made a typo" in kerasc_cmd(
        "inspect", files / "attn_avg.keras", "--plugin", bad, no_tf=True, env=_env()).stderr


def test_python_api_stream_and_testing_helper(keras, plugin):
    """Imported in Python, the plugin's layer compiles, streams (the output after step t is the attention
    average of steps 0..t, Keras' output for that prefix) and passes assert_matches_keras."""
    from kerasc.testing import assert_matches_keras

    m = _model(keras, masked=False)
    x = _inputs()[:1]
    cm = kerasc.compile(m)
    assert [n.kind for n in cm.ir.nodes] == ["lstm", "attention_average", "dense"] and cm.can_stream
    cm.reset()
    for t in range(x.shape[1]):
        y = cm.step(x[0, t])
        np.testing.assert_allclose(y, m(x[:, :t + 1], training=False).numpy()[0], atol=1e-5, rtol=1e-4)
    assert_matches_keras(m, x=_inputs())


def test_a_wrong_plugin_fails_verify(keras, plugin, tmp_path):
    """verify checks the plugin's C against the Keras class: a template that forgets the bias fails, at the
    custom layer."""
    from kerasc.extend import register_layer, unregister_layer

    template = (EXAMPLE / "attention_average.c.j2").read_text()
    wrong = template.replace("kc_float e = {{ b }}[0];", "kc_float e = 0.0f; (void){{ b }};")
    assert wrong != template
    (tmp_path / "attention_average.c.j2").write_text(wrong)
    m = _model(keras)
    assert kerasc.verify(m, x=_inputs()).ok
    unregister_layer("AttentionAverage")
    register_layer("AttentionAverage", doc=plugin.DOC, kinds=("attention_average",), template_dir=tmp_path,
                   mask=kerasc.extend.Mask.TAKE)(plugin.attention_average)
    report = kerasc.verify(m, x=_inputs())
    assert not report.ok
    assert [r.ok for r in report.layers] == [True, True, False, False], report.table()


def test_register_layer_refuses_what_would_shadow_kerasc(tmp_path):
    from kerasc.errors import ConversionError
    from kerasc.extend import LayerDoc, register_layer

    (tmp_path / "mine.c.j2").write_text("/* */\n")
    (tmp_path / "dense.c.j2").write_text("/* */\n")
    doc = LayerDoc(options=())
    cases = [("LSTM", ("mine",), "is a layer kerasc converts itself"),
             ("Mine", ("dense",), "is one of kerasc's own node kinds"),
             ("Mine", ("other",), "no template"),
             ("not a name", ("mine",), "is not a Python identifier")]
    for cls, kinds, needle in cases:
        with pytest.raises(ConversionError, match=needle):
            register_layer(cls, doc=doc, kinds=kinds, template_dir=tmp_path)(lambda rec, ctx: None)
    from kerasc import layers

    assert "Mine" not in layers.REGISTRY and layers.traits("LSTM").kinds == ("lstm",)


def test_a_custom_class_named_like_a_keras_layer_is_not_converted_as_it(keras, tmp_path):
    """A user's class called Dense (a subclass that may compute anything) is the user's, not Keras' Dense:
    refused as a custom class in a .keras file and from a live model."""

    @keras.saving.register_keras_serializable(package="mine")
    class Dense(keras.layers.Dense):  # noqa: N801 - the point is the clash
        def call(self, x):
            return super().call(x) * 2.0

    m = keras.Sequential([keras.Input((4, 3)), keras.layers.LSTM(5), Dense(2, name="head")], name="clash")
    m.save(tmp_path / "clash.keras")
    for source in (m, tmp_path / "clash.keras"):
        with pytest.raises(kerasc.ConversionError, match=r"layer 'head' \(Dense\) is a custom layer class "
                                                          r"\('mine>Dense'"):
            kerasc.convert(source, tmp_path / "out")
    assert not (tmp_path / "out").exists()
