"""Writing output files: atomically (a reader never sees half a header) and with the permissions
`open()` would give them (a new file 0666 less the umask, an overwritten file keeps its mode), so a
firmware build run by another user, or a container sharing the volume, can read what kerasc wrote."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import Optional, Union


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


def atomic_write_all(files: "dict[Path, Union[str, bytes]]", encoding: str = "ascii") -> None:
    """Write several files all or none: every one is written to a temporary file beside its target
    first; only when all of them are written are they renamed into place, and should a rename fail,
    the files already replaced get their old content back (and new ones are removed).

    OSError propagates (after the rollback): callers turn it into their command's error message."""
    import errno

    items = [(Path(p), d.encode(encoding) if isinstance(d, str) else d) for p, d in files.items()]
    for path, _ in items:  # what would make a rename fail, known before anything is written
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
    temps: list[tuple[Path, str]] = []
    backups: dict[Path, Optional[str]] = {}
    replaced: list[Path] = []
    try:
        for path, raw in items:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent))
            temps.append((path, tmp))
            with os.fdopen(fd, "wb") as fh:
                fh.write(raw)
            os.chmod(tmp, _mode_for(path))
        for path, _ in temps:  # keep the old content of every file that will be replaced
            backups[path] = _backup(path)
        for path, tmp in temps:
            os.replace(tmp, path)
            replaced.append(path)
    except BaseException:
        for path in reversed(replaced):
            old = backups.get(path)
            try:
                if old is None:
                    os.unlink(path)
                else:
                    os.replace(old, path)
                    backups[path] = None
            except OSError:
                pass
        raise
    finally:
        for _, tmp in temps:
            if os.path.exists(tmp):
                os.unlink(tmp)
        for old in backups.values():
            if old is not None and os.path.exists(old):
                os.unlink(old)


def _backup(path: Path) -> Optional[str]:
    """A hard link (or, where links are not possible, a copy) of an existing file; None if there is none."""
    import shutil

    if not os.path.lexists(path):
        return None
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".old", dir=str(path.parent))
    os.close(fd)
    os.unlink(tmp)
    try:
        os.link(path, tmp)
    except OSError:
        shutil.copy2(path, tmp)
    return tmp
