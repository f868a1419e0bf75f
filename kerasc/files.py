"""Writing output files: atomically (a reader never sees half a header) and with the permissions
`open()` would give them (a new file 0666 less the umask, an overwritten file keeps its mode), so a
firmware build run by another user, or a container sharing the volume, can read what kerasc wrote."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import Union


def _umask() -> int:
    """The process umask, read without changing it where Linux tells it (/proc), else set and restored."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def _mode_for(path: Path) -> int:
    try:
        return stat.S_IMODE(path.stat().st_mode)  # overwriting: keep the file's mode, as open("w") does
    except OSError:
        return 0o666 & ~_umask()


def atomic_write(path: Path, data: Union[str, bytes], encoding: str = "ascii") -> None:
    """Write `data` to `path` through a temporary file in the same directory and a rename.

    Text is written with "\\n" line ends in `encoding` (generated C is ASCII). OSError propagates:
    callers turn it into the error message their command prints."""
    path = Path(path)
    raw = data.encode(encoding) if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
        os.chmod(tmp, _mode_for(path))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_output(path: Path, data: Union[str, bytes], encoding: str = "utf-8") -> Path:
    """atomic_write into `path`, creating its directory; an OSError becomes the one-line
    ConversionError the commands print (exit 2)."""
    from .errors import ConversionError

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, data, encoding)
    except OSError as exc:
        raise ConversionError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path
