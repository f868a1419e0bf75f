"""The command line as a new user meets it: help with examples, usage errors, inputs that do not fit."""

import numpy as np
import pytest

from tests.support.env import DEMO
from tests.support.programs import kerasc


def test_plain_kerasc_shows_help_with_examples():
    r = kerasc(no_tf=True)
    assert r.returncode == 2 and r.stdout == ""
    for needle in ("usage: kerasc", "convert", "verify", "inspect", "examples:", "kerasc verify model.keras --report",
                   "Exit codes"):
        assert needle in r.stderr, needle


def test_verify_help_names_the_defaults():
    r = kerasc("verify", "--help", no_tf=True)
    assert r.returncode == 0
    text = " ".join(r.stdout.split())
    for needle in ("--timesteps T", "default 16", "default 2", "default 1e-05", "default 0.0001", "--report DIR",
                   "--plot FILE.png", "kerasc[report]", "--quiet"):
        assert needle in text, needle


@pytest.mark.parametrize("args,needle", [
    (["--batch", "-1"], "argument --batch: '-1' is not a positive integer"),
    (["--timesteps", "0"], "argument --timesteps: '0' is not a positive integer"),
    (["--atol", "nan"], "argument --atol: 'nan' is not a tolerance"),
    (["--rtol=-1e-4"], "argument --rtol: '-1e-4' is not a tolerance"),
])
def test_bad_numbers_are_usage_errors(args, needle):
    r = kerasc("verify", DEMO, *args, no_tf=True)
    assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("shape", [(3, 5, 4), (5, 3), (0, 5, 3)])
def test_inputs_that_do_not_fit_are_refused_before_keras_loads(tmp_path, shape):
    """No TensorFlow in the child: the shape is checked before the slow part."""
    np.save(tmp_path / "x.npy", np.zeros(shape, np.float32))
    r = kerasc("verify", DEMO, "--inputs", tmp_path / "x.npy", no_tf=True)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == (f"kerasc: error: inputs of shape {shape} do not fit model 'activity', which takes "
                                "(batch, timesteps, 3)")


def test_broken_pipe_is_not_a_traceback():
    import os
    import subprocess
    import sys

    from tests.support.env import ROOT

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.Popen([sys.executable, "-m", "kerasc", "inspect", str(DEMO), "--json"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env)
    p.stdout.read(10)
    p.stdout.close()  # the reader goes away, as `| head -1` does
    err = p.stderr.read().decode()
    assert p.wait(timeout=60) == 0 and "Traceback" not in err, err
