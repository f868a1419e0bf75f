"""Documentation generated from the code cannot drift: the supported-layers block of docs/layers.md is
what `python -m kerasc.docs` renders from the layer registry, and the options it lists are exactly
the ones conversion accepts. The MkDocs site (mkdocs.yml, docs/) builds with --strict, and the
README's links into docs/ point at pages that exist."""

import re
import subprocess
import sys

import numpy as np
import pytest

from tests.support.env import ROOT
from kerasc import activations, docs
from kerasc.errors import ConversionError
from kerasc.layers import DOCS, REGISTRY, TRAINING_ONLY, Context, to_node
from kerasc.load import LayerRecord

README = ROOT / "README.md"
LAYERS_PAGE = ROOT / docs.PAGE


def test_layers_page_block_is_up_to_date():
    text = LAYERS_PAGE.read_text(encoding="utf-8")
    assert text.count(docs.BEGIN) == 1 and text.count(docs.END) == 1
    assert docs.replace_block(text) == text, f"{docs.PAGE} is out of date: run `{docs.COMMAND}`"


def test_mkdocs_site_builds_strict(tmp_path):
    """Every page in the nav, every link and anchor resolves: mkdocs --strict turns each into a failure."""
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--clean", "-f", str(ROOT / "mkdocs.yml"),
                        "-d", str(tmp_path / "site")], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, f"mkdocs build --strict failed:\n{r.stdout}{r.stderr}"
    assert "WARNING" not in r.stderr, r.stderr
    assert (tmp_path / "site" / "layers" / "index.html").is_file()
    assert (tmp_path / "site" / "img" / "report.png").is_file()


def test_readme_is_a_front_page_whose_links_exist():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250, "README.md is the front page: move details into docs/"
    assert "make demo" in "\n".join(text.splitlines()[:6]) and "make test" in "\n".join(text.splitlines()[:6])
    targets = re.findall(r"\]\(((?:docs/)[^)#\s]+)(?:#[^)]*)?\)", text)
    assert targets, "README.md links into docs/"
    missing = sorted({t for t in targets if not (ROOT / t).exists()})
    assert not missing, f"README.md links to missing files: {missing}"


def run(*args):
    return subprocess.run([sys.executable, "-m", "kerasc.docs", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=60)


def test_check_mode_flags_a_stale_file(tmp_path):
    stale = tmp_path / "README.md"
    stale.write_text(f"intro\n{docs.BEGIN}\n| old table |\n{docs.END}\noutro\n", encoding="utf-8")
    r = run("--check", str(stale))
    assert r.returncode == 1 and "out of date" in r.stderr and docs.COMMAND in r.stderr
    assert run("--write", str(stale)).returncode == 0
    text = stale.read_text(encoding="utf-8")
    assert text.startswith("intro\n") and text.endswith("\noutro\n") and "| `LSTM` |" in text
    assert run("--check", str(stale)).returncode == 0
    (tmp_path / "plain.md").write_text("no markers\n")
    r = run("--check", str(tmp_path / "plain.md"))
    assert r.returncode == 2 and "markers" in r.stderr


def test_every_layer_activation_and_training_option_is_in_the_block():
    block = docs.supported_block()
    for cls, spec in docs.layer_docs():
        assert f"| `{cls}` |" in block
        for opt in spec.options:
            assert f"`{opt.name}" in block
    for name in activations.SUPPORTED_DENSE + activations.KERAS2 + TRAINING_ONLY:
        assert f"`{name}`" in block, name
    assert set(DOCS) == set(REGISTRY), "every registered handler needs a LayerDoc (register(..., doc=...))"


def test_a_handler_without_docs_is_an_error(monkeypatch):
    monkeypatch.setitem(REGISTRY, "Undocumented", lambda rec, ctx: None)
    with pytest.raises(docs.DocsError, match="Undocumented"):
        docs.supported_block()


def _minimal_record(cls: str) -> LayerRecord:
    """A record of `cls` with the documented options at their defaults and weights of the right shape."""
    gates = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1, "CuDNNLSTM": 4, "CuDNNGRU": 3}
    config = {"name": "probe", "units": 2}
    if cls == "Dense":
        weights = [np.zeros((3, 2), np.float32), np.zeros(2, np.float32)]
    elif cls.startswith("CuDNN"):
        n = gates[cls] * 2
        weights = [np.zeros((3, n), np.float32), np.zeros((2, n), np.float32), np.zeros(2 * n, np.float32)]
    else:
        n = gates[cls] * 2
        bias = np.zeros((2, n) if cls == "GRU" else n, np.float32)
        weights = [np.zeros((3, n), np.float32), np.zeros((2, n), np.float32), bias]
    return LayerRecord("probe", cls, config, weights)


# Layers a single record can exercise (merges, Masking and the wrappers are checked by the parity
# suites of tests/parity/test_recurrent_*.py tests/c/test_recurrent_api.py, which build them in real Keras graphs).
SINGLE_RECORD = sorted(c for c in REGISTRY if c in ("LSTM", "GRU", "SimpleRNN", "Dense", "CuDNNLSTM", "CuDNNGRU"))


def test_every_registered_layer_is_documented():
    from kerasc.docs import layer_docs

    assert {cls for cls, _ in layer_docs()} == set(REGISTRY)


@pytest.mark.parametrize("cls", SINGLE_RECORD)
def test_documented_options_are_exactly_the_accepted_ones(cls):
    ctx = Context(index=0, prefix="m", in_width=3, in_seq=True, legacy=cls.startswith("CuDNN"))
    rec = _minimal_record(cls)
    to_node(rec, ctx)
    for opt in DOCS[cls].options:
        value = opt.values[0] if opt.values else opt.default
        if value is None or opt.name == "units":
            continue
        rec.config[opt.name] = value
        to_node(rec, ctx)  # each documented option, at a documented value, is accepted
    rec.config["not_an_option"] = 1
    with pytest.raises(ConversionError) as exc:
        to_node(rec, ctx)
    listed = str(exc.value).split("supported options: ")[1].split(", ")
    assert listed == sorted(o.name for o in DOCS[cls].options)
