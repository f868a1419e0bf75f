"""Exceptions raised by kerasc. The CLI maps them to exit codes (see cli.py)."""


class KerascError(Exception):
    """Base class for every error kerasc raises on purpose."""

    exit_code = 2


class ConversionError(KerascError):
    """The model cannot be converted: unsupported layer or option, unreadable file, bad name.

    The message names the culprit (file, layer, option) and what is supported.
    """

    exit_code = 2


class MissingExtraError(KerascError):
    """An optional dependency (e.g. TensorFlow for `verify`) is not installed."""

    exit_code = 3


class BuildError(KerascError):
    """The C compiler rejected the generated code. Always a kerasc bug: please report it."""

    exit_code = 2
