"""Layers that change the time axis without arithmetic (issue 4), against real Keras at every layer output
and timestep: Cropping1D and ZeroPadding1D (length computed in C from T, several T), RepeatVector (the
classic LSTM autoencoder), Flatten, Reshape and Permute((2, 1)); and the clear refusals of what does not map
onto kerasc tensors (Reshape to 3 axes, Flatten of a variable-length sequence, other Permute dims)."""

import numpy as np
import pytest

from tests.support.graphs import check_layers, check_predict, GCase, prepare_graph
from tests.support.parity import assert_close
from kerasc.errors import ConversionError


def _seq(k, T, F, *layers):
    return k.Sequential([k.Input((T, F)), *layers])


def _vec(k, F, *layers):
    return k.Sequential([k.Input((F,)), *layers])


CASES = [
    GCase("crop-2-1-lstm", lambda k: _seq(k, None, 3, k.layers.Cropping1D((2, 1)),
                                          k.layers.LSTM(3, return_sequences=True)), seed=1),
    GCase("crop-0-3-fixed", lambda k: _seq(k, 6, 2, k.layers.Cropping1D((0, 3)), k.layers.GRU(3)), seed=2),
    GCase("pad-1-3-gru", lambda k: _seq(k, None, 3, k.layers.ZeroPadding1D((1, 3)),
                                        k.layers.GRU(3, return_sequences=True)), seed=3),
    GCase("pad-conv-valid", lambda k: _seq(k, None, 2, k.layers.ZeroPadding1D(2), k.layers.Conv1D(3, 5),
                                           k.layers.SimpleRNN(2)), seed=4),
    GCase("autoencoder", lambda k: _seq(k, None, 3, k.layers.LSTM(6), k.layers.RepeatVector(5),
                                        k.layers.LSTM(6, return_sequences=True),
                                        k.layers.TimeDistributed(k.layers.Dense(3))), timesteps=8, seed=5),
    GCase("repeat-vector-input", lambda k: _vec(k, 4, k.layers.RepeatVector(3), k.layers.GRU(2, return_sequences=True)),
          seed=6),
    GCase("conv-flatten-dense", lambda k: _seq(k, 8, 3, k.layers.Conv1D(4, 3, activation="relu"),
                                               k.layers.MaxPooling1D(2), k.layers.Flatten(), k.layers.Dense(2)),
          seed=7),
    GCase("flatten-vector", lambda k: _vec(k, 5, k.layers.Flatten(), k.layers.Dense(2)), seed=8),
    GCase("reshape-vec-to-seq", lambda k: _vec(k, 3, k.layers.Dense(8), k.layers.Reshape((4, 2)),
                                               k.layers.LSTM(3, return_sequences=True)), seed=9),
    GCase("reshape-seq-to-vec", lambda k: _seq(k, 4, 3, k.layers.LSTM(2, return_sequences=True),
                                               k.layers.Reshape((-1,)), k.layers.Dense(2)), seed=10),
    GCase("reshape-seq-to-seq", lambda k: _seq(k, 4, 3, k.layers.Reshape((6, -1)), k.layers.GRU(2)), seed=11),
    GCase("permute", lambda k: _seq(k, 5, 3, k.layers.Dense(4), k.layers.Permute((2, 1)),
                                    k.layers.LSTM(2, return_sequences=True)), seed=12),
    GCase("constant-axes-meet", lambda k: (lambda v, w: k.Model([v, w], k.layers.LSTM(2)(k.layers.Concatenate()([
        k.layers.RepeatVector(4)(v), k.layers.Reshape((4, 2))(w)]))))(k.Input((3,)), k.Input((8,))), seed=13),
]
PREPARE = prepare_graph


@pytest.mark.parametrize("case", CASES, ids=str)
def test_predict_matches_keras(prepared, case):
    check_predict(prepared[case.id], case.id)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_every_layer_every_timestep(prepared, case):
    assert check_layers(prepared[case.id], case.id) >= 2


@pytest.mark.parametrize("cid", ["crop-2-1-lstm", "pad-1-3-gru", "pad-conv-valid", "autoencoder"])
def test_other_lengths(prepared, cid):
    p = prepared[cid]
    rng = np.random.default_rng(1)
    for T in (4, 9):
        x = rng.standard_normal((2, T, p.model.inputs[0].shape[2])).astype(np.float32)
        assert_close(p.cm.predict(x), np.asarray(p.model(x, training=False)), f"{cid} T={T}")


def test_crop_to_nothing_is_refused(prepared):
    cm = prepared["crop-2-1-lstm"].cm
    with pytest.raises(ValueError, match=r"3 timesteps are too few for '.*' \(Cropping1D\)"):
        cm.predict(np.zeros((1, 3, 3), np.float32))


@pytest.mark.parametrize("cid,cls,why", [
    ("autoencoder", "RepeatVector", "starts a new time axis of 5 steps"),
    ("crop-2-1-lstm", "Cropping1D", "reads future timesteps (it crops the start)"),
    ("pad-1-3-gru", "ZeroPadding1D", "lengthens the time axis"),
    ("permute", "Permute", "swaps time and features (a new time axis of 4 steps)"),
    ("reshape-seq-to-vec", "Reshape", "needs the whole sequence (it flattens it)"),
])
def test_streaming_refused_naming_the_layer(prepared, cid, cls, why):
    p = prepared[cid]
    name = next(layer.name for layer in p.model.layers if type(layer).__name__ == cls)
    assert p.cm.ir.stream_note == f"'{name}' ({cls}) {why}"
    assert prepared["flatten-vector"].cm.ir.stream_note == "the input has no time axis"


def test_work_floats_macro_is_exact(prepared, tmp_path):
    """NAME_WORK_FLOATS(T) in the header equals what the harness allocates (ir.work_floats), for several T."""
    import subprocess

    from tests.support.env import require_tool
    from kerasc.codegen import write_files

    cc = require_tool("gcc")
    ir = prepared["pad-conv-valid"].cm.ir
    assert ir.needs_work and len(ir.work_domains) >= 2  # the input's axis and the padded one
    write_files(ir, tmp_path)
    (tmp_path / "w.c").write_text(f'#include <stdio.h>\n#include "{ir.name}.h"\nint main(void);\n'
                                  f'int main(void) {{ int T; for (T = 1; T < 40; ++T) '
                                  f'printf("%lu ", (unsigned long){ir.NAME}_WORK_FLOATS(T)); return 0; }}\n')
    subprocess.run([cc, "-std=c99", "-Wall", "-Werror", "-I", str(tmp_path), str(tmp_path / "w.c"), "-o",
                    str(tmp_path / "w"), "-lm"], check=True)
    got = [int(v) for v in subprocess.run([str(tmp_path / "w")], capture_output=True, text=True,
                                          check=True).stdout.split()]
    assert got == [ir.work_floats(T) for T in range(1, 40)]



@pytest.mark.parametrize("cid", ["repeat-vector-input", "reshape-vec-to-seq", "pad-conv-valid", "constant-axes-meet"])
def test_self_test_program_builds_and_passes(prepared, cid, tmp_path):
    """`convert --self-test` for models with a work buffer: a vector input that becomes a sequence (its
    NAME_predict takes no timesteps but does take work) and an axis made longer; -Werror, returns 0.
    A model of several inputs is refused before anything is written (the program had a wrong call)."""
    import kerasc
    from tests.support.env import require_tool
    from tests.support.flags import STRICT
    from tests.support.programs import run

    cc = require_tool("gcc")
    if len(prepared[cid].model.inputs) > 1:
        with pytest.raises(ConversionError, match=r"has 2 inputs and 1 outputs: the self-test \(--self-test\) is "
                           r"not supported for it; supported: models with one input and one output"):
            kerasc.convert(prepared[cid].model, tmp_path, self_test=True)
        assert not list(tmp_path.iterdir())
        return
    paths = kerasc.convert(prepared[cid].model, tmp_path, self_test=True)
    assert prepared[cid].cm.ir.needs_work
    run([cc, *STRICT, f"-I{tmp_path}", paths[-1], "-o", tmp_path / "selftest", "-lm"])
    assert run([tmp_path / "selftest"], check=False).returncode == 0


@pytest.mark.parametrize("cid,fixed", [("conv-flatten-dense", (8, 9)), ("reshape-seq-to-seq", (4,)),
                                       ("permute", (5,)), ("reshape-seq-to-vec", (4,))])
def test_fixed_length_layers_refuse_other_lengths_in_c(prepared, cid, fixed, tmp_path):
    """Flatten, Reshape and Permute of a sequence are built for its fixed length: NAME_predict called with
    a `timesteps` that gives that sequence another length returns -1 (it read past x, or only part of it,
    and returned 0). Conv1D(3) and MaxPooling1D(2) make 8 and 9 steps both 3 (Keras computes both)."""
    import subprocess

    from tests.support.env import require_tool
    from tests.support.flags import STRICT
    from kerasc.codegen import write_files

    cc = require_tool("gcc")
    ir = prepared[cid].cm.ir
    write_files(ir, tmp_path)
    work = ", work" if ir.needs_work else ""
    (tmp_path / "t.c").write_text(
        f'#include <stdio.h>\n#include "{ir.name}.h"\nint main(void);\nstatic float x[64 * 64], y[64 * 64], '
        f'work[64 * 64];\nint main(void) {{ int T; {ir.name}_state st; {ir.name}_scratch scr; (void)work; for (T = 1; T < 12; ++T) '
        f'printf("%d ", {ir.name}_predict(&st, &scr, x, T, y{work})); return 0; }}\n')
    subprocess.run([cc, *STRICT, "-I", str(tmp_path), str(tmp_path / "t.c"), "-o", str(tmp_path / "t"), "-lm"],
                   check=True)
    got = subprocess.run([str(tmp_path / "t")], capture_output=True, text=True, check=True).stdout.split()
    assert got == ["0" if T in fixed else "-1" for T in range(1, 12)]

# Keras refuses most of these shapes itself when building a model; a file may still hold them (or a
# fixed-length model may be converted at another length), so the handlers are called on the records.
REFUSED = [
    ("Reshape", {"target_shape": [2, 2, 2]}, 8, None, None,
     r"'r' \(Reshape\): target_shape=\[2, 2, 2\] is not supported for a vector of 8 values; supported: \(n,\) or "
     r"\(timesteps, n\)"),
    ("Reshape", {"target_shape": [3, -1]}, 8, None, None, r"target_shape=\[3, -1\] is not supported for a vector"),
    ("Reshape", {"target_shape": [-1]}, 3, True, None,
     r"'r' \(Reshape\) reshapes the time axis of a sequence with a variable number of timesteps"),
    ("Flatten", {}, 3, True, None, r"'r' \(Flatten\) flattens of a sequence with a variable number of timesteps"),
    ("Permute", {"dims": [1, 2]}, 3, True, 4, r"'r' \(Permute\): dims=\[1, 2\] is not supported; supported: \(2, 1\)"),
    ("Cropping1D", {"cropping": [2, 2]}, 3, True, 4, r"'r' \(Cropping1D\): cropping=\(2, 2\) leaves no timestep of 4"),
    ("Conv1D", {"filters": 2, "kernel_size": [3], "padding": "valid"}, 3, True, 2,
     r"'r' \(Conv1D\): kernel spans 3 timesteps but the sequence has 2"),
    ("Conv1D", {"filters": 2, "kernel_size": [3], "padding": "full"}, 3, True, None,
     r"'r' \(Conv1D\): padding='full' is not supported; supported: 'valid' or 'same' or 'causal'"),
    ("Conv1D", {"filters": 4, "kernel_size": [3], "groups": 2}, 3, True, None,
     r"'r' \(Conv1D\): groups=2 is not supported with 3 input features and filters=4"),
    ("Conv1D", {"filters": 4, "kernel_size": [3], "data_format": "channels_first"}, 3, True, None,
     r"'r' \(Conv1D\): data_format='channels_first' is not supported"),
    ("MaxPooling1D", {"pool_size": [5], "strides": [5]}, 3, True, 4,
     r"'r' \(MaxPooling1D\): pool_size=5 is longer than the sequence \(4 timesteps\)"),
    ("RepeatVector", {"n": 3}, 3, True, None, r"'r' \(RepeatVector\) needs a vector input"),
]


@pytest.mark.parametrize("cls,config,width,seq,steps,match", REFUSED,
                         ids=[f"{r[0]}-{i}" for i, r in enumerate(REFUSED)])
def test_refusals_name_layer_and_option(cls, config, width, seq, steps, match):
    from kerasc.layers import Context, to_node
    from kerasc.load import LayerRecord

    weights = [np.zeros((3, width, config.get("filters", 1)), np.float32),
               np.zeros(config.get("filters", 1), np.float32)] if cls == "Conv1D" else []
    rec = LayerRecord("r", cls, {"name": "r", **config}, weights)
    ctx = Context(index=0, prefix="m", in_width=width, in_seq=bool(seq), in_timesteps=steps)
    with pytest.raises(ConversionError, match=match):
        to_node(rec, ctx)


def test_axes_of_different_lengths_may_not_meet(keras):
    """Two time axes meet only when their lengths are always equal (same formula, or same constant); a model
    input fixed to n steps may still be called with other lengths from C, so it counts as n only where the node
    that meets the constant axis checks that length in C (issue 17: attention pooling)."""
    import kerasc

    L = keras.layers
    x = keras.Input((None, 2))
    m = keras.Model(x, L.Add(name="add")([L.Conv1D(2, 3, padding="same", name="a")(x), L.Conv1D(2, 3, name="b")(x)]))
    with pytest.raises(ConversionError, match=r"layer 'add' \(Add\) meets sequences whose lengths may differ "
                                              r"\(changed by 'a' \(Conv1D\), 'b' \(Conv1D\)\)"):
        kerasc.build_ir(m)
    x, v = keras.Input((None, 2)), keras.Input((3,))
    m = keras.Model([x, v], L.Concatenate(name="cat")([x, L.RepeatVector(4, name="rv")(v)]))
    with pytest.raises(ConversionError, match=r"'cat' \(Concatenate\) meets .* 'rv' \(RepeatVector\)"):
        kerasc.build_ir(m)
    # a constant axis of the input's fixed length meets it (attention pooling): the node where they meet
    # checks that length in C (issue 17), so a caller's other length is refused rather than misread
    x = keras.Input((4, 2))
    m = keras.Model([x, v], L.Concatenate(name="cat")([x, L.RepeatVector(4, name="rv")(v)]))
    cat = next(n for n in kerasc.build_ir(m).nodes if n.keras_name == "cat")
    assert cat.fixed_in == 4
    x = keras.Input((None, 2))
    same = keras.Model(x, L.Add()([L.Conv1D(2, 3, strides=2)(x), L.MaxPooling1D(3, strides=2)(x)]))
    assert kerasc.build_ir(same).stream_note  # valid k3 s2 and pool 3 s2: one formula, one axis
