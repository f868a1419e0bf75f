"""The robustness suite's fixtures: valid model files to break (tests/support/robust.py)."""

from tests.support.robust import valid_h5_model, valid_layers_model, valid_model  # noqa: F401  (fixtures)
