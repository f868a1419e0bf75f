"""Shared fixtures. Ground truth is always real Keras (eager call, training=False)."""

import os
import shutil
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

ON_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_addoption(parser):
    parser.addoption("--regen-golden", action="store_true", help="rewrite tests/golden/*.h from the current code")


ROBUSTNESS_COUNTS: dict = {}


def pytest_runtest_logreport(report):
    """Collect the robustness suite's counts (record_property("robustness.*", n)); works under xdist,
    where the reports reach the controlling process."""
    if report.when == "call":
        for key, value in report.user_properties:
            if key.startswith("robustness."):
                ROBUSTNESS_COUNTS[key] = ROBUSTNESS_COUNTS.get(key, 0) + int(value)


def pytest_terminal_summary(terminalreporter):
    if ROBUSTNESS_COUNTS:
        terminalreporter.write_sep("-", "robustness counts")
        for key in sorted(ROBUSTNESS_COUNTS):
            terminalreporter.write_line(f"{key[len('robustness.'):]}: {ROBUSTNESS_COUNTS[key]}")


def pytest_sessionfinish(session, exitstatus):
    """Under CI=true a skip is a failure: every tool the suite needs can be installed there."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if ON_CI and skipped and session.exitstatus == 0:
        reporter.write_line(f"CI=true: {skipped} test(s) skipped; a skip on CI is a failure", red=True)
        session.exitstatus = 1


def require_tool(name: str) -> str:
    """Path of a command-line tool, or a skip that says why (a failure under CI=true)."""
    path = shutil.which(name)
    if path is None:
        msg = f"{name} is not installed (run `make deps` as root to install it)"
        if ON_CI:
            pytest.fail(msg + "; CI must have it")
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def keras():
    import keras as k

    return k


@pytest.fixture(scope="module")
def prepared(request, keras):
    """The module's CASES, built with random weights, Keras truth taken, and all compiled into one
    extension, by the module's PREPARE (default helpers.prepare: {case id: (model, x, keras_y, compiled)})."""
    from helpers import prepare

    return getattr(request.module, "PREPARE", prepare)(request.module.CASES, keras)
