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

# NAME.h must not shadow a header some translation unit includes with <...>: the output directory is on
# the include path (-I, as kerasc_add_model puts it), and -I directories are searched before the system's.
# The C standard headers (C89 to C23), the POSIX.1-2024 headers outside sub-directories, and the
# compiler/CMSIS headers the generated code or common firmware include.
C_STANDARD_HEADERS = frozenset("""
assert complex ctype errno fenv float inttypes iso646 limits locale math setjmp signal stdalign stdarg stdatomic
stdbit stdbool stdckdint stddef stdint stdio stdlib stdnoreturn string tgmath threads time uchar wchar wctype
""".split())
POSIX_HEADERS = frozenset("""
aio cpio devctl dirent dlfcn endian fcntl fmtmsg fnmatch ftw glob grp iconv langinfo libgen libintl monetary
mqueue ndbm netdb nl_types poll pthread pwd regex sched search semaphore spawn strings stropts syslog tar
termios trace ulimit unistd utime utmpx wordexp
""".split())
TOOLCHAIN_HEADERS = frozenset("""
alloca malloc memory features immintrin xmmintrin emmintrin arm_neon arm_acle arm_math arm_mve cmsis_compiler
cmsis_gcc intrinsics
""".split())
HEADER_NAMES = C_STANDARD_HEADERS | POSIX_HEADERS | TOOLCHAIN_HEADERS

# The longest file kerasc writes is NAME_selftest.c; file systems allow 255 bytes per name, and the
# generated symbols add up to ~30 characters to NAME. 128 leaves room for all of it.
MAX_NAME_LENGTH = 128

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
    check_file_safe(name, f"--name {name!r}", explicit=True)
    return name


def check_file_safe(name: str, what: str, explicit: bool = False) -> str:
    """Refuse a prefix whose files (NAME.h, NAME_selftest.c) could not be written or would shadow a system
    header on the include path. `what` says where the name came from (--name, or the file it was derived from)."""
    fix = "choose another" if explicit else "pass --name (name= in Python) with another"
    if len(name) > MAX_NAME_LENGTH:
        raise ConversionError(f"{what}: the name is {len(name)} characters long; at most {MAX_NAME_LENGTH} "
                              f"(NAME.h and NAME_selftest.c must fit file systems' 255-byte names): {fix}, "
                              f"e.g. {name[:40].rstrip('_')!r}")
    if name in HEADER_NAMES:
        raise ConversionError(f"{what}: kerasc would write {name}.h, which shadows the system header <{name}.h> "
                              f"wherever the output directory is on the include path: {fix} name, e.g. "
                              f"{name + '_model'!r}")
    return name
