"""bench: time the generated C (step and whole sequence) against Keras and, when they are at hand,
two yardsticks: the straightforward C step ref_rnn.c ($KERASC_REF_RNN, or ../shared/bench/ beside a
source checkout) and a hand-optimised C++/Eigen step written the way RTNeural's Eigen backend computes
one (bench_c/eigen_rnn.cpp, shipped with kerasc; needs the Eigen 3 headers and a C++ compiler).

The C is timed by a small C program compiled here (templates/bench/timer.c.j2), never through
Python: the figure is the generated code's own. Keras is timed as a user would call it (eager
step of a stateful copy, a tf.function step, predict). `valgrind --tool=callgrind` instruction
counts give a figure that noisy machines do not move. Every table records the CPU model.

Modules: settings (builds, Settings, Row), tools (finding compilers and yardsticks; CPU facts), cbuild (C
timing programs), callgrind (instruction counts), keras_side (Keras timings), tables (the report), runner
(one run over the models).
"""

from __future__ import annotations

from .callgrind import callgrind_instructions
from .cbuild import build_eigen, build_floor, build_timer, compile_c, run_floor, run_ref, run_timer
from .keras_side import keras_timings, throughput
from .runner import bench_inputs, bench_model, macs_per_step, ref_kind, run, run_cortexm
from .settings import BASE_FLAGS, DEFAULT_T, EIGEN_BASE_FLAGS, FLAG_SETS, FLOOR_FLAGS, TRIAL_NS, Row, Settings, reps_for
from .tables import format_tables, header_lines, us_text
from .tools import compiler_version, cpu_model, find_eigen, find_ref

__all__ = ["BASE_FLAGS", "DEFAULT_T", "EIGEN_BASE_FLAGS", "FLAG_SETS", "FLOOR_FLAGS", "TRIAL_NS", "Row", "Settings",
           "bench_inputs", "bench_model", "build_eigen", "build_floor", "build_timer", "callgrind_instructions",
           "compile_c", "compiler_version", "cpu_model", "find_eigen", "find_ref", "format_tables", "header_lines",
           "keras_timings", "macs_per_step", "ref_kind", "reps_for", "run", "run_cortexm", "run_floor", "run_ref", "run_timer",
           "throughput", "us_text"]
