"""Embedding on token-id inputs (issue #4), against real Keras 3 and Keras 2 (tf_keras .h5 files):
Sequential and Functional, mask_zero (masked timesteps skipped by the RNNs downstream exactly as
Keras does), Bidirectional, streaming one token per step, float16/int8 tables, the documented
behaviour of out-of-range tokens (an all-zero row, where Keras raises), the C API's int32_t
argument under strict compilers, the command line (verify, --inputs, inspect, --self-test, bench)
and the refusals. All models of the module are compiled into one extension."""

import os
import subprocess
import sys

import numpy as np
import pytest

from tests.support.env import require_tool, ROOT
from tests.support.flags import CXX, STRICT
from tests.support.models import keras_truth, randomize
from tests.support.parity import assert_close, compile_all

import kerasc
from kerasc import ConversionError
from kerasc.lower import build
from kerasc.harness import token_ids
from kerasc.verify import make_inputs



class TokCase:
    """One model: built by `build(framework)`; saved to a file when `ext` is given (Keras 2: .h5)."""

    def __init__(self, cid, build, *, fw="keras", ext=None, timesteps=7, batch=3, seed=0, zeros=False,
                 causal=True):
        self.id, self.build, self.fw, self.ext = cid, build, fw, ext
        self.timesteps, self.batch, self.seed, self.zeros, self.causal = timesteps, batch, seed, zeros, causal

    def __repr__(self):
        return self.id


def _seq(k, *layers):
    return k.Sequential(list(layers))


def k3_func_mask_stack(k):
    i = k.Input((8,))  # float32, as Keras makes it by default: Embedding casts it to int32
    e = k.layers.Embedding(30, 6, mask_zero=True)(i)
    h = k.layers.LSTM(4, return_sequences=True)(e)
    return k.Model(i, k.layers.LSTM(3)(h))


def func_bidir(dtype):
    def build(k):
        i = k.Input((None,), dtype=dtype)
        e = k.layers.Embedding(15, 4, mask_zero=True)(i)
        b = k.layers.Bidirectional(k.layers.GRU(3))(e)
        return k.Model(i, k.layers.Dense(2)(b))
    return build


def k3_two_inputs(k):
    tok = k.Input((None,), dtype="int32", name="tokens")
    feat = k.Input((None, 2), name="features")
    e = k.layers.Embedding(10, 3)(tok)
    return k.Model([tok, feat], k.layers.LSTM(4)(k.layers.Concatenate()([e, feat])))


def k3_two_tables(k):
    """One token input read by two Embedding layers (tokens drawn below the smaller input_dim)."""
    i = k.Input((None,), dtype="int32")
    a = k.layers.Embedding(10, 4)(i)
    b = k.layers.Embedding(6, 4)(i)
    return k.Model(i, k.layers.GRU(3)(k.layers.Add()([a, b])))


def k2_func_lstm(k):
    i = k.Input((7,))
    e = k.layers.Embedding(25, 6)(i)
    h = k.layers.LSTM(5, return_sequences=True)(e)
    return k.Model(i, k.layers.Dense(3)(h))


L = lambda k: k.layers  # noqa: E731
CASES = [
    TokCase("k3-seq-lstm-dense", lambda k: _seq(k, k.Input((None,), dtype="int32"), L(k).Embedding(20, 5),
                                                L(k).LSTM(6), L(k).Dense(3, activation="softmax"))),
    TokCase("k3-seq-mask-gru", lambda k: _seq(k, k.Input((None,), dtype="int32"),
                                              L(k).Embedding(12, 4, mask_zero=True),
                                              L(k).GRU(5, return_sequences=True)), zeros=True, batch=4, seed=1),
    TokCase("k3-func-mask-stack", k3_func_mask_stack, timesteps=8, zeros=True, batch=4, seed=2),
    TokCase("k3-func-mask-bidir-int64", func_bidir("int64"), zeros=True, batch=4, seed=3, causal=False),
    TokCase("k3-uint8-dense-mask-rnn", lambda k: _seq(k, k.Input((6,), dtype="uint8"),
                                                      L(k).Embedding(9, 3, mask_zero=True),
                                                      L(k).Dense(4, activation="tanh"), L(k).SimpleRNN(5)),
            timesteps=6, zeros=True, batch=4, seed=4),
    TokCase("k3-embedding-only", lambda k: _seq(k, k.Input((5,), dtype="int32"), L(k).Embedding(7, 3)),
            timesteps=5, seed=5),
    TokCase("k3-two-inputs", k3_two_inputs, seed=6),
    TokCase("k3-two-tables-add", k3_two_tables, seed=12),
    TokCase("k3-file", lambda k: _seq(k, k.Input((None,), dtype="int32"), L(k).Embedding(11, 4, mask_zero=True),
                                      L(k).LSTM(3)), ext=".keras", zeros=True, batch=4, seed=7),
    TokCase("k2-seq-input-length", lambda k: _seq(k, L(k).Embedding(20, 5, input_length=6), L(k).LSTM(4),
                                                  L(k).Dense(2)), fw="tf_keras", ext=".h5", timesteps=6, seed=8),
    TokCase("k2-seq-mask-gru", lambda k: _seq(k, k.Input((None,)), L(k).Embedding(12, 4, mask_zero=True),
                                              L(k).GRU(5, return_sequences=True)),
            fw="tf_keras", ext=".h5", zeros=True, batch=4, seed=9),
    TokCase("k2-func-mask-bidir", func_bidir("int32"), fw="tf_keras", ext=".h5", zeros=True, batch=4, seed=10,
            causal=False),
    TokCase("k2-func-lstm-dense", k2_func_lstm, fw="tf_keras", ext=".h5", timesteps=7, seed=11),
]
QUANT_CASES = ("k3-seq-mask-gru", "k2-seq-input-length")


def _tokens(ir, case):
    """Uniform tokens in [0, input_dim) (float inputs N(0, 1)); with `zeros`, token 0 (masked under
    mask_zero) as trailing padding, leading, in the middle, and a whole sequence of it."""
    x = make_inputs(ir, case.timesteps, case.batch, case.seed)
    xs = x if isinstance(x, list) else [x]
    tok = next(a for a in xs if a.dtype == np.int32)
    if case.zeros:
        tok[tok == 0] = 1
        tok[0, -2:] = 0
        tok[1, 0] = 0
        tok[2, tok.shape[1] // 2] = 0
        tok[3, :] = 0
    return x


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """{case id: (keras model, source, x, keras y, compiled)}, plus quantized variants under
    'ID@float16' / 'ID@int8'; every model in one extension."""
    import importlib

    out_dir = tmp_path_factory.mktemp("emb")
    rows, sources = {}, {}
    for case in CASES:
        fw = importlib.import_module(case.fw)
        model = case.build(fw)
        randomize(model, seed=1000 + case.seed)
        source = model
        if case.ext:
            source = out_dir / f"{case.id}{case.ext}"
            model.save(str(source))
        x = _tokens(build(source), case)
        y = keras_truth(model, x) if not isinstance(x, list) else np.asarray(model(x, training=False))
        rows[case.id] = (model, source, x, y)
        sources[case.id] = source
        if case.id in QUANT_CASES:
            for w in ("float16", "int8"):
                rows[f"{case.id}@{w}"] = rows[case.id]
                sources[f"{case.id}@{w}"] = (source, w)
    return {key: (*rows[key], cm) for key, cm in compile_all(sources, prefix="e").items()}


@pytest.mark.parametrize("case", CASES, ids=str)
def test_every_layer_every_timestep_matches_keras(prepared, case):
    model, source, x, y, cm = prepared[case.id]
    assert_close(cm.predict(x), y, case.id)
    report = kerasc.verify(source, x=x, compiled=cm)
    assert report.ok, report.table()
    assert report.layers[0].keras_class == "Embedding"
    if case.zeros:  # mask_zero: the recurrent layers receive Embedding's mask
        assert all(n.mask is not None for n in cm.ir.nodes if n.recurrent)


@pytest.mark.parametrize("case", [c for c in CASES if c.causal and c.id != "k3-two-inputs"], ids=str)
def test_streaming_one_token_per_step(prepared, case):
    model, source, x, y, cm = prepared[case.id]
    seq = y.ndim == 3
    for b in range(len(x)):
        cm.reset()
        for t in range(x.shape[1]):
            y_t = cm.step(x[b, t])  # a scalar token id
            if seq:
                assert_close(y_t, y[b, t], f"{case.id} sample {b} step {t}")
        if not seq:
            assert_close(y_t, y[b], f"{case.id} sample {b} after the last step")


def test_two_inputs_stream_tokens_and_floats(prepared):
    model, source, x, y, cm = prepared["k3-two-inputs"]
    cm.reset()
    for t in range(x[0].shape[1]):
        y_t = cm.step(np.array([x[0][0, t]]), x[1][0, t])
    assert_close(y_t, y[0], "two inputs, streamed")


@pytest.mark.parametrize("weights", ["float16", "int8"])
@pytest.mark.parametrize("cid", QUANT_CASES)
def test_quantized_tables_within_documented_tolerance(prepared, cid, weights):
    from kerasc.quant import dequantized

    model, source, x, y, cm = prepared[f"{cid}@{weights}"]
    table = cm.ir.nodes[0].arrays[0]
    assert table.ctype == {"float16": "uint16_t", "int8": "int8_t"}[weights]
    report = kerasc.verify(source, x=x, compiled=cm)
    assert report.ok, report.table()
    # The lookup widens exactly the stored row: the Embedding output is the dequantized table's row.
    _, layers = cm.trace(x)
    np.testing.assert_array_equal(layers[0], dequantized(table)[x])


def test_out_of_range_tokens_give_zero_rows(prepared, keras):
    """Documented behaviour: a token < 0 or >= input_dim embeds as all zeros (Keras raises an error).
    Ground truth: the same Keras model with one extra, all-zero row, fed that row's index instead."""
    model, source, x, y, cm = prepared["k3-seq-mask-gru"]
    bad = np.array([-1, 12, 13, 1000, -(2 ** 31), 2 ** 31 - 1, 2 ** 40, -(2 ** 40)], dtype=np.int64)
    xo = x.astype(np.int64)
    xo[:, 1] = bad[:len(xo)]
    xo[:, -1] = bad[-len(xo):]
    with pytest.raises(Exception, match="not in \\[0, 12\\)"):
        model(xo.astype(np.int32), training=False)
    twin = keras.Sequential([keras.Input((None,), dtype="int32"), keras.layers.Embedding(13, 4, mask_zero=True),
                             keras.layers.GRU(5, return_sequences=True)])
    table, *rest = model.get_weights()
    twin.set_weights([np.vstack([table, np.zeros((1, 4), np.float32)])] + rest)
    remapped = np.where((xo < 0) | (xo >= 12), 12, xo).astype(np.int32)
    want = np.asarray(twin(remapped, training=False))
    assert_close(cm.predict(xo), want, "out-of-range tokens")
    _, layers = cm.trace(xo)
    assert np.all(layers[0][(xo < 0) | (xo >= 12)] == 0.0)
    cm.reset()
    for t in range(xo.shape[1]):
        y_t = cm.step(xo[0, t])
    assert_close(y_t, want[0, -1], "out-of-range tokens, streamed")


def test_float_tokens_are_truncated_like_keras(prepared):
    """A float32 input (Keras 2's Sequential default) holding token ids: Keras' Embedding casts to int32
    (toward zero), and so does the harness before the C sees int32_t."""
    model, source, x, y, cm = prepared["k3-func-mask-stack"]
    xf = x.astype(np.float32) + np.where(x > 0, 0.75, 0.0).astype(np.float32)
    assert_close(cm.predict(xf), np.asarray(model(xf, training=False)), "float tokens")
    np.testing.assert_array_equal(token_ids(np.array([2.9, -0.5, np.nan, 1e12, 7])), [2, 0, -1, -1, 7])


def test_shapes_and_header_document_tokens(prepared, tmp_path):
    model, source, x, y, cm = prepared["k3-seq-lstm-dense"]
    assert cm.input_shape == (None,)
    assert cm.ir.input_ctypes == ("int32_t",)
    with pytest.raises(ValueError, match="token ids of shape \\(batch, timesteps\\)"):
        cm.predict(x[:, :, None])
    path = kerasc.convert(model, tmp_path, name="tok")[0]
    text = path.read_text()
    assert "TOK__API int tok_predict(tok_state *st, tok_scratch *scr, const int32_t *x, int timesteps, kc_float *y)" in text
    assert "TOK__API void tok_step(tok_state *st, tok_scratch *scr, const int32_t *x, kc_float *y)" in text
    assert "#define TOK_IN0_TOKENS 20" in text
    assert "gives an\n *       all-zero embedding row" in text


@pytest.fixture(scope="module")
def c_files(prepared, tmp_path_factory):
    """Headers of a masked token model in float32, float16 and int8, and a self-test of it."""
    model = prepared["k3-seq-mask-gru"][0]
    out = tmp_path_factory.mktemp("c")
    kerasc.convert(model, out, name="tok", self_test=True)
    kerasc.convert(model, out, name="tok16", weights="float16")
    kerasc.convert(model, out, name="tok8", weights="int8")
    (out / "all.c").write_text('#include "tok.h"\n#include "tok16.h"\n#include "tok8.h"\n'
                               "int use(const int32_t *x, float *y);\n"
                               "int use(const int32_t *x, float *y)\n{\n"
                               "    tok_state a; tok_scratch a_scr;\n    tok16_state b; tok16_scratch b_scr;\n    tok8_state c; tok8_scratch c_scr;\n"
                               "    tok_reset(&a);\n    tok_step(&a, &a_scr, x, y);\n"
                               "    return tok_predict(&a, &a_scr, x, 3, y) + tok16_predict(&b, &b_scr, x, 3, y) + "
                               "tok8_predict(&c, &c_scr, x, 3, y);\n}\n")
    return out


@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_selftest_strict_c99_runs_and_passes(c_files, cc, tmp_path):
    require_tool(cc)
    exe = tmp_path / "selftest"
    subprocess.run([cc, *STRICT, "-O2", f"-I{c_files}", str(c_files / "tok_selftest.c"), "-o", str(exe), "-lm"],
                   check=True, capture_output=True, text=True)
    assert subprocess.run([str(exe)]).returncode == 0
    text = (c_files / "tok_selftest.c").read_text()
    assert "static const int32_t tok__selftest_x[2][16]" in text


def test_selftest_passes_on_arm_under_qemu(c_files, tmp_path):
    cc, qemu = require_tool("arm-linux-gnueabihf-gcc"), require_tool("qemu-arm")
    exe = tmp_path / "selftest_arm"
    subprocess.run([cc, *STRICT, "-O2", "-static", f"-I{c_files}", str(c_files / "tok_selftest.c"), "-o", str(exe),
                    "-lm"], check=True, capture_output=True, text=True)
    assert subprocess.run([qemu, str(exe)]).returncode == 0


def test_corrupted_expected_value_fails(c_files, tmp_path):
    """The self-test can fail: one of Keras' outputs changed by 1e-2 must make it return 1."""
    text = (c_files / "tok_selftest.c").read_text()
    head, tail = text.split("static const float tok__selftest_y", 1)
    first = tail.index("f,")
    start = tail.rindex(" ", 0, first) + 1
    value = float(tail[start:first]) + 1e-2
    src = tmp_path / "tok_selftest.c"
    src.write_text(head + "static const float tok__selftest_y" + tail[:start] + f"{value:.9g}" + tail[first:])
    exe = tmp_path / "bad"
    subprocess.run([require_tool("gcc"), "-std=c99", "-O2", f"-I{c_files}", str(src), "-o", str(exe), "-lm"],
                   check=True)
    assert subprocess.run([str(exe)]).returncode == 1


def test_token_headers_compile_as_cpp_and_for_cortex_m(c_files, tmp_path):
    subprocess.run([require_tool("g++"), *CXX, "-c", f"-I{c_files}", str(c_files / "all.c"), "-o", str(tmp_path / "cpp.o")], check=True)
    subprocess.run([require_tool("gcc"), *STRICT, "-c", f"-I{c_files}", str(c_files / "all.c"), "-o",
                    str(tmp_path / "c.o")], check=True)
    subprocess.run([require_tool("arm-none-eabi-gcc"), "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard",
                    "-mfpu=fpv4-sp-d16", *STRICT, "-O2", "-c", f"-I{c_files}", str(c_files / "all.c"), "-o",
                    str(tmp_path / "m4.o")], check=True)


def _cli(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "kerasc", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=300)


def test_cli_verify_inspect_and_bench(prepared, tmp_path):
    model, source, x, y, cm = prepared["k3-file"]
    r = _cli("verify", source, "--timesteps", 9, "--report", tmp_path / "report")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "PASS" in r.stdout and "(2, 9)" in r.stdout
    assert (tmp_path / "report" / "index.html").stat().st_size > 0
    np.save(tmp_path / "tokens.npy", x.astype(np.int64))
    r = _cli("verify", source, "--inputs", tmp_path / "tokens.npy")
    assert r.returncode == 0, r.stdout + r.stderr
    np.savez(tmp_path / "tokens.npz", only=x)
    r = _cli("verify", source, "--inputs", tmp_path / "tokens.npz", "--weights", "int8")
    assert r.returncode == 0, r.stdout + r.stderr
    r = _cli("inspect", source)
    assert r.returncode == 0, r.stderr
    assert "input (T,) int32 -> output (3,)" in r.stdout
    assert "(T,) int32  (T, 4)" in r.stdout
    r = _cli("bench", source, "--quick", "--no-keras", "--timesteps", 5)
    assert r.returncode == 0 and "µs" in r.stdout, r.stdout + r.stderr


def test_convert_token_files_without_tensorflow(prepared, tmp_path):
    """convert reads .keras and Keras 2 .h5 token models with TensorFlow and Keras blocked."""
    block = ("import sys; [sys.modules.__setitem__(m, None) for m in ('tensorflow', 'keras', 'tf_keras')]; "
             "from kerasc.cli import main; sys.exit(main(sys.argv[1:]))")
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for cid in ("k3-file", "k2-func-mask-bidir"):
        source = prepared[cid][1]
        r = subprocess.run([sys.executable, "-c", block, "convert", str(source), "-o", str(tmp_path), "--name", "t",
                            "--weights", "int8", "--force"], capture_output=True, text=True, env=env, timeout=300)
        assert r.returncode == 0, r.stderr
        assert "const int32_t *x" in (tmp_path / "t.h").read_text()


def test_legacy_functional_mask_reaches_the_rnn(prepared):
    """tf_keras propagates Embedding's mask in Functional models without recording it in the file."""
    cm = prepared["k2-func-mask-bidir"][4]
    assert all(n.mask is not None for n in cm.ir.nodes if n.recurrent)


# ------------------------------------------------------------------ refusals (no compiler needed)

def test_integer_input_feeding_another_layer_is_refused(keras):
    i = keras.Input((None,), dtype="int32", name="ids")
    e = keras.layers.Embedding(5, 2)(i)
    m = keras.Model(i, [e, keras.layers.Reshape((-1, 1))(i)])
    with pytest.raises(ConversionError, match="input 'ids' has dtype 'int32' and feeds 'reshape.*integer inputs "
                                              "feed only Embedding"):
        build(m)


def test_embedding_on_a_float_tensor_is_refused(keras):
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Embedding(5, 2, name="e")])
    with pytest.raises(ConversionError, match="layer 'e' \\(Embedding\\) reads a float tensor; supported"):
        build(m)


def test_token_input_shapes_and_dtypes_are_checked(keras):
    m = keras.Sequential([keras.Input((3, 2), dtype="int32", name="ids"), keras.layers.Embedding(5, 2)])
    with pytest.raises(ConversionError, match="input 'ids' of token ids has shape .*supported: \\(batch, timesteps\\)"):
        build(m)
    m = keras.Sequential([keras.Input((3,), dtype="bool", name="ids"), keras.layers.Embedding(5, 2)])
    with pytest.raises(ConversionError, match="input 'ids' has dtype 'bool'; supported: float32, or token ids"):
        build(m)
    m = keras.Sequential([keras.Input((None, 3), dtype="int32", name="ids"), keras.layers.LSTM(2)])
    with pytest.raises(ConversionError, match="input 'ids' has dtype 'int32' and feeds 'lstm"):
        build(m)


def test_lora_is_refused_and_training_options_are_ignored(keras):
    m = keras.Sequential([keras.Input((None,), dtype="int32"), keras.layers.Embedding(6, 3, lora_rank=2, name="e")])
    with pytest.raises(ConversionError, match="layer 'e' \\(Embedding\\): option lora_rank=2 is not supported"):
        build(m)
    m = keras.Sequential([keras.Input((None,), dtype="int32"),
                          keras.layers.Embedding(6, 3, embeddings_regularizer="l2", embeddings_constraint="non_neg",
                                                 embeddings_initializer="zeros", name="e")])
    node = build(m).nodes[0]
    assert node.ignored == ("embeddings_regularizer", "embeddings_constraint")
