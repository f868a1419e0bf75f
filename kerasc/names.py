"""C identifiers from user-supplied names (model file stems, `--name`)."""

from __future__ import annotations

import re
import unicodedata

from .errors import ConversionError

# C99 and C++ keywords, plus names the C library or our runtime reserve.
RESERVED = frozenset("""
auto break case char const continue default do double else enum extern float for goto if inline int long
register restrict return short signed sizeof static struct switch typedef union unsigned void volatile while
_Bool _Complex _Imaginary alignas alignof and and_eq asm bitand bitor bool catch char16_t char32_t class
compl constexpr const_cast decltype delete dynamic_cast explicit export false friend mutable namespace new
noexcept not not_eq nullptr operator or or_eq private protected public reinterpret_cast static_assert
static_cast template this thread_local throw true try typeid typename using virtual wchar_t xor xor_eq
main errno assert offsetof kc
""".split())

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def sanitize(raw: str) -> str:
    """Lower-case C identifier from any string: `My Model-v2` -> `my_model_v2`, `1st` -> `m_1st`."""
    text = unicodedata.normalize("NFKD", str(raw)).encode("ascii", "ignore").decode()
    ident = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    ident = re.sub(r"_+", "_", ident)
    if not ident:
        ident = "model"
    if ident[0].isdigit():
        ident = "m_" + ident
    if ident in RESERVED or ident.startswith("kc_"):
        ident += "_model"
    return ident


def validate(name: str) -> str:
    """An explicit `--name` must already be a usable identifier; say what is wrong otherwise."""
    if not isinstance(name, str) or not _IDENT.match(name):
        raise ConversionError(
            f"--name {name!r} is not a C identifier (letters, digits and '_', not starting with a digit); "
            f"for example {sanitize(str(name))!r}"
        )
    low = name.lower()
    if low != name:
        raise ConversionError(f"--name {name!r} must be lower case (macros use the upper-case form); "
                              f"for example {low!r}")
    if low in RESERVED or low.startswith("kc_") or low.startswith("_") or "__" in low:
        raise ConversionError(f"--name {name!r} is reserved (C/C++ keyword, runtime prefix kc_, or leading/double "
                              f"underscore); for example {sanitize(name + '_model')!r}")
    return name
