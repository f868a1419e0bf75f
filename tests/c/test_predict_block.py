"""NAME_predict's blocks of input projections (kc_project, then kc_preact_rec per step) and NAME_step_block:
the same bits as the one-pass step path for every recurrent layer and option, and Keras' results.

The split form only reorders which loop a product runs in: each output's sum keeps its order (bias, x[0..],
h[0..]), so predict with blocks, predict without (predict_block=0) and the streaming step agree bit for bit;
Keras is the reference for all of them."""

import subprocess

import numpy as np
import pytest

from tests.support.env import require_tool
from tests.support.flags import CXX, M0, M4F, STRICT
from tests.support.models import randomize

F = 5


def _models(k):
    L = k.layers
    seq = lambda name, *layers: k.Sequential([k.Input((None, F)), *layers], name=name)  # noqa: E731
    return {
        "blk_lstm": seq("blk_lstm", L.LSTM(6, return_sequences=True)),
        "blk_gru": seq("blk_gru", L.GRU(5, return_sequences=True)),
        "blk_gru_rb": seq("blk_gru_rb", L.GRU(5, reset_after=False, return_sequences=True)),
        "blk_rnn": seq("blk_rnn", L.SimpleRNN(7, return_sequences=True)),
        # not fused: hard_sigmoid gates; a stack (the upper layer keeps the one-pass product)
        "blk_stack": seq("blk_stack", L.LSTM(4, recurrent_activation="hard_sigmoid", return_sequences=True),
                         L.GRU(3, activation="relu", return_sequences=True), L.Dense(2)),
        # the backward layer projects a block read backwards; the SimpleRNN reads the stored concatenation
        "blk_bidi": seq("blk_bidi", L.Bidirectional(L.LSTM(4, return_sequences=True)), L.SimpleRNN(3)),
        "blk_mask": seq("blk_mask", L.Masking(0.0), L.GRU(4, return_sequences=True)),
    }


@pytest.fixture(scope="module")
def models(keras):
    out = _models(keras)
    for i, m in enumerate(out.values()):
        randomize(m, 10 + i, 1.5)
    return out


def _x(name, T, batch=2, seed=0):
    x = np.random.default_rng(seed).standard_normal((batch, T, F)).astype(np.float32)
    if name == "blk_mask":
        x[0, 3:6] = 0.0
        x[1, -4:] = 0.0
    return x


@pytest.mark.parametrize("name", ["blk_lstm", "blk_gru", "blk_gru_rb", "blk_rnn", "blk_stack", "blk_bidi", "blk_mask"])
@pytest.mark.parametrize("weights", ["float32", "float16"])
def test_blocks_give_the_step_paths_bits_and_keras_results(models, name, weights):
    """Default block, a block of 3 (T = 17 leaves a partial block) and none: identical outputs, within the
    usual tolerance of Keras (float16 weights: of the float16-rounded model, by the weight type's tolerance)."""
    import kerasc
    from kerasc.quant import default_tolerance

    m = models[name]
    x = _x(name, 17)
    got = {}
    for blk in (8, 3, 0):
        cm = kerasc.compile(m, name=f"{name}_{weights[-2:]}_{blk}", weights=weights, predict_block=blk)
        if name == "blk_mask":  # Masking runs in the GRU's timestep loop: the GRU keeps the one-pass product
            assert cm.ir.projected == () and cm.ir.block_steps == 0
        else:
            assert cm.ir.block_steps == blk and bool(cm.ir.projected) == (blk > 0)
        if blk == 0:
            assert cm.ir.block_floats == 0
        got[blk] = cm.predict(x)
        assert cm.scratch_bytes == cm.ir.scratch_bytes  # sizeof(NAME_scratch), as the header's macro says
    assert np.array_equal(got[8], got[0]) and np.array_equal(got[3], got[0])
    atol, rtol = (1e-5, 1e-4) if weights == "float32" else default_tolerance(weights)
    np.testing.assert_allclose(got[8], m.predict(x, verbose=0), atol=atol, rtol=rtol)


def test_default_blocks_only_for_large_kernels(keras, models):
    """By default blocks go to layers whose kernels do not stay in cache between steps (at least
    PREDICT_BLOCK_MIN_WEIGHTS bytes), sized for PREDICT_BLOCK_BUDGET: small models keep their RAM."""
    import kerasc
    from kerasc.ir import PREDICT_BLOCK_BUDGET, PREDICT_BLOCK_MIN_WEIGHTS

    assert kerasc.build_ir(models["blk_lstm"]).block_steps == 0
    big = keras.Sequential([keras.Input((None, 128)), keras.layers.LSTM(128, return_sequences=True),
                            keras.layers.LSTM(16)])
    ir = kerasc.build_ir(big)
    assert ir.nodes[0].weight_bytes >= PREDICT_BLOCK_MIN_WEIGHTS
    assert ir.projected == (0,)  # the second LSTM reads the first in the same timestep loop
    assert ir.block_steps == PREDICT_BLOCK_BUDGET // (4 * 4 * 128) == 8
    assert ir.block_floats == 8 * 512 and ir.scratch_bytes == (ir.scratch_floats + 8 * 512) * 4
    header = kerasc.codegen.render_header(ir)
    assert "#define SEQUENTIAL_PREDICT_BLOCK 8" in header.replace("  ", " ") or "_PREDICT_BLOCK 8 " in header


def test_blocks_equal_the_streaming_step(models):
    """predict (blocks of input projections) and T calls of NAME_step: the same bits at every timestep."""
    import kerasc

    m = models["blk_stack"]
    cm = kerasc.compile(m, name="blk_stream", predict_block=4)
    x = _x("blk_stack", 11, batch=1)
    y = cm.predict(x)[0]
    cm.reset()
    steps = np.stack([np.asarray(cm.step(x[0, t])).reshape(-1) for t in range(11)])
    assert np.array_equal(steps, y)


def test_predict_block_refusals(models):
    import kerasc
    from kerasc.errors import ConversionError

    for bad in (-1, 257, 2.5, True, "8"):
        with pytest.raises(ConversionError, match="predict_block=.* supported: an integer from 0"):
            kerasc.build_ir(models["blk_lstm"], predict_block=bad)


def test_int8_weights_keep_the_one_pass_product(models):
    """kc_preact_i8 applies its scales after both sums: no split form, so no blocks (and no scratch for them)."""
    import kerasc

    ir = kerasc.build_ir(models["blk_lstm"], weights="int8")
    assert ir.block_steps == 0 and ir.projected == ()


MAIN = r"""
#include <stdio.h>
#include <string.h>
#include "%(p)s.h"

static const float x[%(T)d][%(F)d] = %(x)s;

int main(void)
{
    static %(p)s_state st;
    static %(p)s_scratch scr;
    static float y_step[%(T)d][%(U)d], y_block[%(T)d][%(U)d];
    int t, n0, cuts[] = {1, 5, %(T)d - 6}; /* frames of 1, 5 and the rest */
    %(p)s_reset(&st);
    for (t = 0; t < %(T)d; ++t) {
        %(p)s_step(&st, &scr, x[t], y_step[t]);
    }
    %(p)s_reset(&st);
    for (t = 0, n0 = 0; t < 3; n0 += cuts[t], ++t) {
        %(p)s_step_block(&st, &scr, x[n0], cuts[t], y_block[n0]);
    }
    %(p)s_step_block(&st, &scr, x[0], 0, y_block[0]); /* n < 1: nothing */
    printf("%%d\n", memcmp(y_step, y_block, sizeof y_step) == 0);
    for (t = 0; t < %(T)d; ++t) {
        int j;
        for (j = 0; j < %(U)d; ++j) {
            printf("%%.9g ", (double)y_block[t][j]);
        }
    }
    printf("\n");
    return 0;
}
"""


@pytest.fixture(scope="module")
def block_program(models, tmp_path_factory):
    import kerasc
    from kerasc.ir import c_float

    out = tmp_path_factory.mktemp("step_block")
    m = models["blk_lstm"]
    kerasc.convert(m, out, name="sb", predict_block=4)
    x = _x("blk_lstm", 12, batch=1)[0]
    arr = "{" + ", ".join("{" + ", ".join(c_float(v) for v in row) + "}" for row in x) + "}"
    (out / "main.c").write_text(MAIN % {"p": "sb", "T": 12, "F": F, "U": 6, "x": arr})
    return out, m, x


@pytest.mark.parametrize("cc, flags", [("gcc", ["-O2"]), ("clang", ["-O2"]), ("gcc", ["-O3", "-march=native"]),
                                       ("gcc", ["-O2", "-DKC_SIMD"]), ("gcc", ["-Os"])])
def test_step_block_is_n_steps_and_matches_keras(block_program, cc, flags):
    """Frames of 1, 5 and 6 timesteps through NAME_step_block: bit for bit the 12 NAME_step calls, and Keras."""
    out, m, x = block_program
    exe = out / f"main_{cc}_{'_'.join(f.strip('-') for f in flags)}"
    subprocess.run([require_tool(cc), *STRICT, *flags, f"-I{out}", str(out / "main.c"), "-o", str(exe), "-lm"],
                   check=True)
    lines = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split("\n")
    assert lines[0] == "1"
    y = np.array(lines[1].split(), dtype=np.float32).reshape(12, 6)
    np.testing.assert_allclose(y, m.predict(x[None], verbose=0)[0], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("cc", ["g++", "arm-none-eabi-gcc"])
def test_step_block_compiles_strict(block_program, cc):
    out, _, _ = block_program
    flags = CXX if cc == "g++" else STRICT
    for target in ([M4F, M0] if cc.startswith("arm") else [[]]):
        r = subprocess.run([require_tool(cc), *flags, *target, "-O2", f"-I{out}", "-c", str(out / "main.c"),
                            "-o", str(out / "m.o")], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr


def test_cli_predict_block(models, tmp_path, capsys):
    """`kerasc convert --predict-block N` sets the block (the header says it, convert prints the RAM it takes);
    with --quantize it is refused with the reason (exit 2)."""
    from kerasc.cli import main

    path = tmp_path / "blk.keras"
    models["blk_gru"].save(path)
    assert main(["convert", str(path), "-o", str(tmp_path / "o"), "--predict-block", "4"]) == 0
    assert "of which 240 for predict blocks of 4 timesteps" in capsys.readouterr().out
    assert "_PREDICT_BLOCK 4 " in (tmp_path / "o" / "blk.h").read_text()
    np.save(tmp_path / "cal.npy", _x("blk_gru", 8, batch=4))
    assert main(["convert", str(path), "-o", str(tmp_path / "q"), "--quantize", "int8", "--calibration",
                 str(tmp_path / "cal.npy"), "--predict-block", "4"]) == 2
    assert "--predict-block applies to float headers" in capsys.readouterr().err
