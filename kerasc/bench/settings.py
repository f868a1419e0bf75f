"""What a bench run times and how: the builds compared, trial lengths, the figures of one model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

# Builds compared: the reference flags, then portable builds without -march; then the same
# with the optional vector path of kc_runtime.h (-DKC_SIMD: GNU C vectors, bit-identical results).
FLAG_SETS = {
    "-O3 -march=native": ["-O3", "-march=native"],
    "-O2": ["-O2"],
    "-Os": ["-Os"],
    "-O3 -march=native -DKC_SIMD": ["-O3", "-march=native", "-DKC_SIMD"],
    "-Os -DKC_SIMD": ["-Os", "-DKC_SIMD"],
}
BASE_FLAGS = ["-std=c99"]
FLOOR_FLAGS = ["-O3", "-march=native"]  # the read floor is the machine's: measured with its fastest loads
EIGEN_BASE_FLAGS = ["-std=c++17", "-w"]  # -w: Eigen's own headers warn under GCC 12 at -O3 -march=native
TRIAL_NS = 2e6  # aim for ~2 ms per timed trial: short trials, many of them, so the minimum skips
# the moments other processes take the core (and its caches) away
DEFAULT_T = 100


@dataclass
class Settings:
    timesteps: int = DEFAULT_T
    rounds: int = 5  # alternating kerasc / reference runs; the minimum over them is reported
    trials: int = 10  # timed trials inside one run of the C timer (and runs of the reference per round)
    keras_reps: int = 100
    batch: int = 32  # sequences per cm.predict / model.predict throughput call
    callgrind: bool = True
    keras: bool = True
    flag_sets: dict = field(default_factory=lambda: dict(FLAG_SETS))

    @classmethod
    def quick(cls) -> "Settings":
        return cls(timesteps=20, rounds=1, trials=1, keras_reps=3, batch=4, callgrind=False)


@dataclass
class Row:
    """The figures of one model. Times in ns; None where not applicable."""

    label: str
    macs: int
    kc_step: dict = field(default_factory=dict)  # flags -> ns per timestep (min)
    kc_seq: dict = field(default_factory=dict)  # flags -> ns per predict of one sequence
    ref_step: dict = field(default_factory=dict)
    eigen_step: dict = field(default_factory=dict)  # flags -> ns per timestep of bench_c/eigen_rnn.cpp
    kc_ir: dict = field(default_factory=dict)  # flags -> instructions per timestep (callgrind)
    ref_ir: dict = field(default_factory=dict)
    weight_bytes: int = 0
    floor: Optional[float] = None  # ns to read weight_bytes once from cache (bench_c/stream_bound.c)
    kc_err: Optional[float] = None
    ref_err: Optional[float] = None
    eigen_err: Optional[float] = None
    keras: dict = field(default_factory=dict)  # what -> seconds per call
    throughput: dict = field(default_factory=dict)  # "kerasc"/"keras" -> sequences per second
    notes: list = field(default_factory=list)


def reps_for(ns_per_unit: float, units_per_rep: int) -> int:
    return max(1, int(TRIAL_NS / max(ns_per_unit * units_per_rep, 1.0)))
