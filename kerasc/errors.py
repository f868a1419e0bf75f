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


def printable(text: object, keep_newlines: bool = False) -> str:
    """`text` with every control or format character escaped (newline, NUL, terminal escapes, U+2028,
    bidi overrides, ...), so a message naming a hostile layer stays one line and cannot drive a terminal.
    keep_newlines: keep "\\n" (multi-line tables whose cells are escaped already)."""
    import unicodedata

    out = []
    for ch in str(text):
        if keep_newlines and ch == "\n":
            out.append(ch)
            continue
        cat = unicodedata.category(ch)
        if cat[0] == "C" or cat in ("Zl", "Zp"):
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(ch)
    return "".join(out)
