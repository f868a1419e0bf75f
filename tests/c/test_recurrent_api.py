"""The C API of graph models built as real programs (gcc, clang, g++, arm-none-eabi-gcc, -Werror), run
against Keras; the CLI's view of them; and clear refusals for what kerasc does not convert."""

import subprocess

import numpy as np
import pytest

from tests.support.env import require_tool
from tests.support.flags import CXX, M4F, STRICT
from tests.support.models import randomize



def _seq2seq(k):
    L = k.layers
    enc, dec = k.Input((None, 3)), k.Input((None, 2))
    _, fh, fc, bh, bc = L.Bidirectional(L.LSTM(3, return_state=True), name="encoder")(enc)
    h, c = L.Concatenate()([fh, bh]), L.Concatenate()([fc, bc])
    y, h2, c2 = L.LSTM(6, return_sequences=True, return_state=True, name="decoder")(dec, initial_state=[h, c])
    return k.Model([enc, dec], [L.Dense(2)(y), h2], name="s2s")


def _stateful_masked(k):
    L = k.layers
    return k.Sequential([k.Input((None, 3), batch_size=1), L.Masking(0.0),
                         L.GRU(4, return_sequences=True, stateful=True), L.LSTM(3, stateful=True), L.Dense(2)],
                        name="smask")


MAIN = r"""
#include <stdio.h>
#include "s2s.h"
#include "smask.h"

static const float enc[%(TE)d][3] = %(enc)s;
static const float dec[%(TD)d][2] = %(dec)s;
static const float seq[%(TS)d][3] = %(seq)s;

int main(void)
{
    s2s_state st; s2s_scratch st_scr;
    smask_state sm; smask_scratch sm_scr;
    float y0[%(TD)d * S2S_OUT0_SIZE + 1], y1[S2S_OUT1_SIZE + 1], z[SMASK_OUTPUT_SIZE];
    float work[%(TE)d * 16];
    int t, rc;
    y0[%(TD)d * S2S_OUT0_SIZE] = -12345.0f; /* canaries after each output */
    y1[S2S_OUT1_SIZE] = -12345.0f;
    rc = s2s_predict(&st, &st_scr, &enc[0][0], %(TE)d, &dec[0][0], %(TD)d, y0, y1%(work)s);
    for (t = 0; t < %(TD)d * S2S_OUT0_SIZE + 1; ++t) printf("%%.9g ", (double)y0[t]);
    for (t = 0; t < S2S_OUT1_SIZE + 1; ++t) printf("%%.9g ", (double)y1[t]);
    printf("\n%%d\n", rc);
    smask_reset(&sm);
    for (rc = 0; rc < 2; ++rc) { /* stateful: the second call continues from the first */
        smask_predict(&sm, &sm_scr, &seq[0][0], %(TS)d, z);
        for (t = 0; t < SMASK_OUTPUT_SIZE; ++t) printf("%%.9g ", (double)z[t]);
        printf("\n");
    }
    (void)work;
    return 0;
}
"""


def _c_array(a):
    from kerasc.ir import c_float

    return "{" + ", ".join("{" + ", ".join(c_float(v) for v in row) + "}" for row in a) + "}"


@pytest.fixture(scope="module")
def built(keras, tmp_path_factory):
    import kerasc

    out = tmp_path_factory.mktemp("api")
    models = {}
    for make, seed in ((_seq2seq, 1), (_stateful_masked, 2)):
        m = make(keras)
        randomize(m, seed, 1.5)
        kerasc.convert(m, out)
        models[m.name] = m
    rng = np.random.default_rng(3)
    enc, dec, seq = (rng.standard_normal(s).astype(np.float32) for s in ((7, 3), (4, 2), (6, 3)))
    seq[-2:] = 0.0  # masked tail
    ir = kerasc.build_ir(models["s2s"])
    assert ir.work_per_step * 7 <= 7 * 16
    main = MAIN % {"TE": 7, "TD": 4, "TS": 6, "enc": _c_array(enc), "dec": _c_array(dec), "seq": _c_array(seq),
                   "work": ", work" if ir.needs_work else ""}
    (out / "main.c").write_text(main)
    return out, models, (enc, dec, seq)


@pytest.mark.parametrize("cc", ["gcc", "clang", "g++", "arm-none-eabi-gcc"])
def test_headers_compile_strict(built, cc):
    out, _, _ = built
    exe = require_tool(cc)
    flags = CXX if cc == "g++" else STRICT
    extra = [*M4F, "-c", "-o", str(out / "m.o")] if cc.startswith("arm") else ["-o", str(out / f"main_{cc}"), "-lm"]
    r = subprocess.run([exe, *flags, "-O2", f"-I{out}", str(out / "main.c"), *extra],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_c_program_matches_keras(built):
    """Argument order state, inputs (each sequence with its length), outputs, work; stateful predict."""
    out, models, (enc, dec, seq) = built
    cc = require_tool("gcc")
    exe = out / "main_run"
    subprocess.run([cc, *STRICT, "-O2", f"-I{out}", str(out / "main.c"), "-o", str(exe), "-lm"],
                   check=True)
    lines = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split("\n")
    vals = np.array(lines[0].split(), dtype=np.float32)
    assert lines[1] == "0"
    y0, y1 = models["s2s"]([enc[None], dec[None]], training=False)
    n0 = 4 * 2
    np.testing.assert_allclose(vals[:n0], np.asarray(y0).ravel(), atol=1e-5, rtol=1e-4)
    assert vals[n0] == -12345.0  # canary intact
    np.testing.assert_allclose(vals[n0 + 1:n0 + 1 + 6], np.asarray(y1).ravel(), atol=1e-5, rtol=1e-4)
    assert vals[n0 + 7] == -12345.0
    sm = models["smask"]
    for layer in sm.layers:
        if getattr(layer, "stateful", False):
            layer.reset_states()
    for line in lines[2:4]:
        k = np.asarray(sm(seq[None], training=False))[0]
        np.testing.assert_allclose(np.array(line.split(), dtype=np.float32), k, atol=1e-5, rtol=1e-4)


def _save(model, path):
    model.save(path)
    return str(path)


def test_inspect_says_streaming_or_why_not(keras, tmp_path, capsys):
    import json

    from kerasc.cli import main

    L = keras.layers
    bi = keras.Sequential([keras.Input((None, 3)), L.Bidirectional(L.GRU(2, return_sequences=True), name="bi_gru"),
                           L.LSTM(2)], name="bi")
    causal = keras.Sequential([keras.Input((None, 3)), L.Masking(), L.LSTM(2, stateful=False)], name="causal")
    assert main(["inspect", _save(bi, tmp_path / "bi.keras")]) == 0
    text = capsys.readouterr().out
    assert "streaming (bi_step): no, 'bi_gru' (Bidirectional) reads the sequence backwards" in text
    assert "work buffer" in text
    assert main(["inspect", "--json", _save(causal, tmp_path / "causal.keras")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["streaming"] is True and info["work_bytes_per_timestep"] == 0


def test_verify_cli_on_a_seq2seq_file(keras, tmp_path, capsys):
    from kerasc.cli import main

    m = _seq2seq(keras)
    randomize(m, 5, 1.5)
    assert main(["verify", _save(m, tmp_path / "s2s.keras"), "--timesteps", "5"]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "encoder[4]" in out and "decoder[2]" in out, out


REFUSALS = [
    ("shared", "is called 2 times; supported: each layer called once"),
    ("td_dropout", "wraps Dropout; supported: TimeDistributed(Dense)"),
    ("mul_masked", "merges masked inputs"),
    ("concat_time", "axis=1 is not supported; supported: -1"),
    ("two_masks", "masked by different Masking layers"),
]


def _refused_model(k, kind):
    L = k.layers
    x = k.Input((5, 3))
    if kind == "shared":
        rnn = L.LSTM(2)
        return k.Model(x, L.Add()([rnn(x), rnn(L.Dense(3)(x))]))
    if kind == "td_dropout":
        return k.Model(x, L.TimeDistributed(L.Dropout(0.1))(x))
    if kind == "mul_masked":
        m = L.Masking()(x)
        return k.Model(x, L.LSTM(2)(L.Multiply()([L.LSTM(2, return_sequences=True)(m),
                                                   L.GRU(2, return_sequences=True)(m)])))
    if kind == "concat_time":
        return k.Model(x, L.Concatenate(axis=1)([L.LSTM(2, return_sequences=True)(x), L.GRU(2, return_sequences=True)(x)]))
    x2 = k.Input((5, 3))
    both = L.Concatenate()([L.Masking()(x), L.Masking(1.0)(x2)])
    return k.Model([x, x2], L.LSTM(2)(both))


@pytest.mark.parametrize("kind,message", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refused_with_a_precise_message(keras, kind, message):
    import kerasc

    with pytest.raises(kerasc.ConversionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        kerasc.build_ir(_refused_model(keras, kind))


def test_seq2seq_example_verifies(tmp_path):
    """examples/seq2seq: the trained encoder-decoder file, on its held inputs, every layer and timestep."""
    import kerasc
    from tests.support.env import ROOT

    here = ROOT / "examples" / "seq2seq"
    held = np.load(here / "held_inputs.npz")
    report = kerasc.verify(here / "reverse.keras", x=[held["encoder_in"], held["decoder_in"]])
    assert report.ok, report.table()
    assert [r.name for r in report.layers][:3] == ["padding", "encoder[0]", "encoder[1]"]
    assert len(report.layers) == 10
