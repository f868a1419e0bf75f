"""Shared fixtures. Ground truth is always real Keras (eager call, training=False)."""

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from tests.support.env import ON_CI  # noqa: E402  (after the TensorFlow log level is set)


def pytest_addoption(parser):
    parser.addoption("--regen-golden", action="store_true", help="rewrite tests/c/golden/*.h from the current code")


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


@pytest.fixture(scope="session")
def keras():
    import keras as k

    return k


@pytest.fixture(scope="module")
def prepared(request, keras):
    """The module's CASES, built with random weights, Keras truth taken, and all compiled into one
    extension, by the module's PREPARE (default support.parity.prepare: {case id: (model, x, keras_y, compiled)})."""
    from tests.support.parity import prepare

    return getattr(request.module, "PREPARE", prepare)(request.module.CASES, keras)
