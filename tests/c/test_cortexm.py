"""The Cortex-M cycle benchmark (issue 19, benchmarks/cmsim): the simulator's per-instruction cycles
against the figures of the Cortex-M4 and Cortex-M0 Technical Reference Manuals, its instruction
counts against qemu-system-arm's execution log (an independent count), and the benchmark's outputs
(kerasc step, CMSIS-NN f32 LSTM) against Keras. Cycle counts are deterministic: no timing here."""

import pytest

from tests.support.env import ON_CI, require_tool, script_module


def _need_sim():
    require_tool("arm-none-eabi-gcc")
    for mod in ("unicorn", "capstone"):
        try:
            __import__(mod)
        except ImportError:
            msg = f"{mod} is not installed (pip install -c constraints.txt 'kerasc[bench]')"
            if ON_CI:
                pytest.fail(msg + "; CI must have it")
            pytest.skip(msg)
    script_module("benchmarks/cmsim/__init__.py")
    from cmsim import build as cmb

    return cmb


N = 16  # copies of each instruction in a microbenchmark
# (name, setup, instruction(s) repeated N times, clobbers, expected cycles per copy) from the TRMs:
# Cortex-M4 TRM (DDI 0439) table 3-1 and table 7-1 (FPU); P (pipeline refill) = 2.
M4_CASES = [
    ("alu add", "", "add r0, r0, #1", 1),
    ("mul", "", "mul r0, r0, r0", 1),
    ("mla", "", "mla r0, r0, r0, r0", 2),
    ("smull 64-bit", "", "smull r0, r1, r2, r3", 1),
    ("smlal 64-bit", "", "smlal r0, r1, r2, r3", 1),
    ("smlad (DSP)", "", "smlad r0, r1, r2, r0", 1),
    ("sxtb16 (DSP)", "", "sxtb16 r0, r1", 1),
    ("ldr pipelined (N loads: N+1)", "mov r1, sp", "ldr r0, [r1]", (N + 1) / N),
    ("ldr dependent address", "mov r1, sp\n str r1, [sp]", "ldr r1, [r1]", 2),
    ("str #imm (always 1)", "mov r1, sp", "str r0, [r1, #0]", 1),
    ("ldrd", "mov r1, sp", "ldrd r2, r3, [r1]", 3),
    ("ldm 4 registers (1+N)", "mov r1, sp", "ldm r1, {r2, r3, r12, r0}", 5),
    ("push+pop 2 registers (1+N each)", "", "push {r2, r3}\n pop {r2, r3}", 6),
    ("b taken (1+P)", "", "b 1f\n nop\n 1:", 3),
    ("bl (1+P)", "", "bl 1f\n nop\n 1:", 3),
    ("b not taken + cmp", "", "cmp r0, r0\n bne 1f\n 1:", 2),
    ("vadd.f32", "", "vadd.f32 s0, s1, s2", 1),
    ("vmul.f32", "", "vmul.f32 s0, s1, s2", 1),
    ("vfma.f32", "", "vfma.f32 s0, s1, s2", 3),
    ("vmla.f32", "", "vmla.f32 s0, s1, s2", 3),
    ("vdiv.f32", "", "vdiv.f32 s0, s1, s2", 14),
    ("vsqrt.f32", "", "vsqrt.f32 s0, s1", 14),
    ("vldr", "mov r1, sp", "vldr s0, [r1]", 2),
    ("vstr", "mov r1, sp", "vstr s0, [r1]", 2),
    ("vldm 8 registers (1+N)", "mov r1, sp", "vldmia r1, {s0-s7}", 9),
    ("vstm 4 doubles = 8 words (1+N)", "mov r1, sp\n sub sp, sp, #64", "vstmia r1, {d0-d3}", 9),
    ("vmov core to S", "", "vmov s0, r0", 1),
    ("vmov two core registers", "", "vmov r0, r1, d0", 2),
]
# Cortex-M0 TRM (DDI 0432) table 3-1.
M0_CASES = [
    ("alu adds", "", "adds r0, #1", 1),
    ("muls (fast multiplier)", "", "muls r0, r0, r0", 1),
    ("ldr (2, no pipelining)", "mov r1, sp", "ldr r0, [r1]", 2),
    ("str", "mov r1, sp", "str r0, [r1]", 2),
    ("ldm 2 registers (1+N)", "mov r1, sp", "ldm r1!, {r2, r3}", 3),
    ("push+pop 2 registers (1+N each)", "", "push {r2, r3}\n pop {r2, r3}", 6),
    ("b taken (3)", "", "b 1f\n nop\n 1:", 3),
    ("bl (4)", "", "bl 1f\n nop\n 1:", 4),
    ("b not taken + cmp", "", "cmp r0, r0\n bne 1f\n 1:", 2),
]


def _micro_source(cases) -> str:
    body = []
    for _, setup, insn, _ in [("baseline", "", "", 0), *cases]:
        rep = f".rept {N}\n {insn}\n .endr" if insn else ""
        asm = f".syntax unified\n mov r7, sp\n {setup}\n bl cm_mark\n {rep}\n bl cm_mark\n mov sp, r7"
        body.append(f'    __asm__ volatile("{asm}"'.replace("\n", "\\n") + ' ::: "r0", "r1", "r2", "r3", "r7", '
                    '"r12", "lr", "memory", "cc");')
    return "void cm_mark(void);\nint main(void)\n{\n" + "\n".join(body) + "\n    return 0;\n}\n"


def _per_copy(cmb, tmp_path, target, cases, **kw):
    src = tmp_path / f"micro_{target}.c"
    src.write_text(_micro_source(cases))
    m = cmb.run_elf(cmb.build([src], tmp_path / f"micro_{target}.elf", target, "-O1"), target, **kw)
    assert len(m.run.marks) == 2 * (len(cases) + 1)
    base = m.between(0, 1)[0]
    return {name: (m.between(2 * i + 2, 2 * i + 3)[0] - base) / N for i, (name, *_r) in enumerate(cases)}, m


@pytest.mark.parametrize("target,cases", [("cortex-m4f", M4_CASES), ("cortex-m0", M0_CASES)])
def test_instruction_classes_cost_the_manuals_cycles(tmp_path, target, cases):
    cmb = _need_sim()
    got, _ = _per_copy(cmb, tmp_path, target, cases)
    want = {name: cyc for name, _, _, cyc in cases}
    assert got == want


def test_flash_wait_states_add_to_a_branch_refill(tmp_path):
    cmb = _need_sim()
    case = [("b taken", "", "b 1f\n nop\n 1:", 0)]
    got0, _ = _per_copy(cmb, tmp_path, "cortex-m4f", case, ws=0)
    got2, _ = _per_copy(cmb, tmp_path, "cortex-m4f", case, ws=2, fetch_ws=False)
    assert (got0["b taken"], got2["b taken"]) == (3, 5)  # 1 + P, then 1 + P + 2 wait states on the refill


@pytest.fixture(scope="module")
def small_lstm(keras):
    from tests.support.models import randomize

    m = keras.Sequential([keras.Input((None, 5)), keras.layers.LSTM(6, return_sequences=True)])
    randomize(m, 3, gain=1.0)
    return m


@pytest.mark.parametrize("target", ["cortex-m4f", "cortex-m0"])
def test_instruction_counts_equal_qemus(tmp_path, small_lstm, target):
    """The same ELF (reset + 2 steps of a generated LSTM, zero inputs) counted by qemu-system-arm's
    one-instruction-per-block execution log and by the simulator: equal in total and at every mark."""
    cmb = _need_sim()
    require_tool("qemu-system-arm")
    bc = script_module("benchmarks/bench_cortexm.py")
    from cmsim import qemu

    from kerasc.codegen import write_files
    from kerasc.lower import build

    ir = build(small_lstm, "cmq")
    write_files(ir, tmp_path, force=True)
    (tmp_path / "main.c").write_text(bc.kerasc_main(ir, 2))
    elf = cmb.build([tmp_path / "main.c"], tmp_path / "q.elf", target, "-O2", includes=[tmp_path])
    m = cmb.run_elf(elf, target)
    s = m.syms
    n, marks = qemu.count(elf, s["Reset_Handler"][0] & ~1, s["cm_exit"][0] & ~1, s["cm_mark"][0] & ~1)
    assert (m.run.instructions, [k for _, k in m.run.marks]) == (n, marks)
    assert n > 1000  # a real step ran (soft-float calls on the M0 make it much longer)


def test_kerasc_and_cmsis_nn_match_keras_on_the_simulated_cores(tmp_path, small_lstm):
    _need_sim()
    bc = script_module("benchmarks/bench_cortexm.py")

    cmsis = bc.find_cmsis()
    rows, text = bc.run([("small LSTM", None, 0, small_lstm)], ["cortex-m4f", "cortex-m0"], ["-Os"], T=3,
                        work=tmp_path, progress=lambda s: None)
    cells = rows[0].cells
    yards = {"CMSIS-NN f32", "CMSIS-NN s8", "CMSIS-NN s16"}
    kerasc_rows = {"kerasc float32", "kerasc --weights int8", "kerasc --quantize int8", "kerasc --quantize int16x8"}
    assert {k[0] for k in cells} == kerasc_rows | (yards if cmsis else set())
    # float: rounding only; the integer kernels: int8 weights (1/254 of each gate matrix's range) and an
    # int8 output (steps of 1/128) -- a wrong gate order or scale errs by tenths; kerasc's integer inference
    # within its documented default tolerance (qint.TOLERANCE, docs/integer.md); int16x8: int16 h, the same int8 weights
    tol = {"kerasc float32": 1e-5, "kerasc --weights int8": 0.02, "kerasc --quantize int8": 0.06,
           "kerasc --quantize int16x8": 0.06, "CMSIS-NN f32": 1e-3, "CMSIS-NN s8": 0.02, "CMSIS-NN s16": 0.02}
    for (impl, target, _), c in cells.items():
        assert c.err is not None and c.err < tol[impl], (impl, target, c.err)
        assert c.cycles > c.insns > 0 and c.stack > 0 and c.flash > 0
    assert "### cortex-m0" in text and "kerasc float32" in text


def test_cli_bench_target_cortex_m(tmp_path, small_lstm, capsys):
    _need_sim()
    from kerasc.cli import main

    path = tmp_path / "m.keras"
    small_lstm.save(path)
    assert main(["bench", str(path), "--target", "cortex-m4f", "-q", "--timesteps", "2"]) == 0
    out = capsys.readouterr().out
    assert "### cortex-m4f" in out and "| -O2 |" in out and "| -Os |" in out


def test_cli_bench_target_refuses_a_model_without_a_step(tmp_path, keras, capsys):
    _need_sim()
    from kerasc.cli import main

    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    path = tmp_path / "dense.keras"
    m.save(path)
    assert main(["bench", str(path), "--target", "cortex-m0", "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kerasc: error: ") and "Traceback" not in err and len(err.strip().splitlines()) == 1
