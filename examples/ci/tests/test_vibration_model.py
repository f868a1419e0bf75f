"""Parity of the vibration model's C with Keras: re-proven by CI on every retrain.

Needs `pip install 'kerasc[verify]' pytest`; kerasc's pytest plugin provides the kerasc_model fixture.
"""

import os
from pathlib import Path

import numpy as np
import pytest

from kerasc.testing import assert_matches_keras

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "vibration.keras"
REFERENCE = np.load(ROOT / "data" / "reference.npz")  # held-out recordings and their labels
# The header the firmware build generated (kerasc_add_model), set by the CI workflow after building
FIRMWARE_HEADER = os.environ.get("VIBRATION_HEADER")


def test_c_matches_keras():
    """Every layer at every timestep, on seeded random inputs (the seed is in any failure message)."""
    assert_matches_keras(MODEL)


def test_c_matches_keras_on_recordings(kerasc_model):
    """The same on real recordings: converted and compiled once per session by the fixture."""
    kerasc_model(MODEL).assert_matches_keras(REFERENCE["accel"])


def test_c_classifies_recordings_like_keras(kerasc_model):
    """What the firmware will say: the C's most likely condition, streaming sample by sample."""
    m = kerasc_model(MODEL)
    for x, label in zip(REFERENCE["accel"], REFERENCE["labels"]):
        m.reset()
        for x_t in x:
            y = m.step(x_t)
        assert int(np.argmax(y)) == int(label)


@pytest.mark.skipif(not FIRMWARE_HEADER, reason="VIBRATION_HEADER is not set: point it at the vibration.h your "
                                                "firmware build generated (the CI workflow does)")
def test_firmware_header_matches_keras():
    """The very header that went into the firmware, not a fresh conversion: catches a build made
    from an older model file."""
    assert_matches_keras(MODEL, header=FIRMWARE_HEADER)
