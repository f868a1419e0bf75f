"""Shared by the firmware tests: small Keras models with random weights (saturating, not chaotic),
compiler flag sets of the portability matrix, and running programs on the host or under QEMU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from helpers import randomize

ROOT = Path(__file__).resolve().parent.parent

WARN = ["-Wall", "-Wextra", "-Wpedantic", "-Wshadow", "-Wconversion", "-Wdouble-promotion", "-Wvla", "-Werror"]
C99 = ["-std=c99"] + WARN
M4F = ["-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"]
M0 = ["-mcpu=cortex-m0", "-mthumb", "-mfloat-abi=soft"]


def _seq(k, T, feats, *layers):
    return k.Sequential([k.Input((T, feats)), *layers])


# name -> builder(keras) of the models the firmware tests run; each a different recurrent shape
MODELS = {
    "lstm_seq": lambda k: _seq(k, None, 3, k.layers.LSTM(6, return_sequences=True)),
    "gru_last": lambda k: _seq(k, None, 4, k.layers.GRU(5, reset_after=False), k.layers.Dense(3, activation="softmax")),
    "rnn_relu": lambda k: _seq(k, 9, 2, k.layers.SimpleRNN(7, activation="tanh", return_sequences=True),
                               k.layers.Dense(2, activation="relu")),
    "stacked": lambda k: _seq(k, None, 3, k.layers.LSTM(8, return_sequences=True), k.layers.GRU(6, return_sequences=True),
                              k.layers.SimpleRNN(4)),
    "backwards": lambda k: _seq(k, None, 3, k.layers.GRU(5, return_sequences=True, go_backwards=True),
                                k.layers.LSTM(4, go_backwards=True), k.layers.Dense(2)),
    "dense_vec": lambda k: k.Sequential([k.Input((5,)), k.layers.Dense(4, activation="tanh"), k.layers.Dense(2)]),
}


def make_model(keras, key: str, seed: int = 0):
    """A named test model with random weights N(0, 1.75/sqrt(fan_in)), named `key`."""
    model = MODELS[key](keras)
    model.name = key
    return randomize(model, seed=2000 + seed)


def save_model(keras, key: str, directory: Path, seed: int = 0) -> Path:
    path = Path(directory) / f"{key}.keras"
    make_model(keras, key, seed).save(path)
    return path


def env_with_kerasc() -> dict:
    """Environment in which `python -m kerasc` runs the kerasc under test."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return env


def kerasc_cli(*args: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kerasc", *args], capture_output=True, text=True,
                          env=env or env_with_kerasc(), check=check, timeout=600)


def run(cmd: list, *, cwd=None, check: bool = True, timeout: int = 300, **kw) -> subprocess.CompletedProcess:
    """Run a command; on failure the assertion shows its output."""
    p = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} exited {p.returncode}\nstdout:\n{p.stdout[-4000:]}\n"
                             f"stderr:\n{p.stderr[-4000:]}")
    return p


def parse_floats(text: str) -> np.ndarray:
    return np.array([float(v) for v in text.split()], dtype=np.float64)
