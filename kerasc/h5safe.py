"""h5safe: refuse HDF5 files that would make kerasc read anything but the file itself.

HDF5 lets a dataset keep its bytes outside the file (external storage: `external=[("/etc/passwd",
0, 192)]`), assemble them from other files (virtual datasets), lets a link point into another file
(external links), and lets a dataset name a filter that a plugin loaded from the host decodes. A
model downloaded from the internet could use any of these to copy host files into a generated
header (or run a plugin). Keras never writes them, so `check_hdf5_file` refuses every one of them,
before a single dataset is read: it walks every object of the file, through hard links only.
"""

from __future__ import annotations

from typing import Any

from .errors import ConversionError

# The filters HDF5 itself implements (H5Zpublic.h); anything else is a plugin loaded from the host.
STANDARD_FILTERS = {1: "deflate", 2: "shuffle", 3: "fletcher32", 4: "szip", 5: "nbit", 6: "scaleoffset"}
MAX_OBJECTS = 100_000  # groups + datasets in one weights file (Keras writes a few per layer)
MAX_DEPTH = 64  # group nesting (Keras writes at most ~8)


def check_hdf5_file(h5file: Any, where: str) -> None:
    """Raise ConversionError unless every object of the open h5py.File `h5file` lives in it.

    Refused: external links, soft links (Keras writes neither; a soft link may lead through an external
    one), datasets with external storage, virtual datasets, filters other than HDF5's standard ones,
    more than MAX_OBJECTS objects or nesting deeper than MAX_DEPTH. `where` names the file in messages."""
    import h5py

    seen: set[Any] = {_address(h5file["/"])}
    count = 0
    stack: list[tuple[Any, int]] = [(h5file["/"], 0)]
    while stack:
        group, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ConversionError(f"{where}: HDF5 groups nest deeper than {MAX_DEPTH} levels ({group.name})")
        for key in group:
            path = f"{group.name.rstrip('/')}/{key}"
            link = group.get(key, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                raise ConversionError(f"{where}: HDF5 object {_show(path)} is an external link to "
                                      f"{_show(link.filename)}; kerasc reads only data stored in the model file")
            if isinstance(link, h5py.SoftLink):
                raise ConversionError(f"{where}: HDF5 object {_show(path)} is a soft link to {_show(link.path)}; "
                                      "kerasc reads only objects linked directly (Keras writes no soft links)")
            if not isinstance(link, h5py.HardLink):
                raise ConversionError(f"{where}: HDF5 object {_show(path)} is a user-defined link; kerasc reads "
                                      "only objects stored in the model file")
            count += 1
            if count > MAX_OBJECTS:
                raise ConversionError(f"{where}: more than {MAX_OBJECTS} HDF5 objects; kerasc reads at most that many")
            obj = group.get(key)
            token = _address(obj)
            if token in seen:
                if isinstance(obj, h5py.Group):  # Keras links every group once; twice is a cycle or a trap
                    raise ConversionError(f"{where}: HDF5 group {_show(path)} is linked more than once (a cycle "
                                          "or a shared group); Keras writes a tree")
                continue  # a second hard link to a dataset already checked
            seen.add(token)
            if isinstance(obj, h5py.Group):
                stack.append((obj, depth + 1))
            elif isinstance(obj, h5py.Dataset):
                check_dataset(obj, where, path)


def check_dataset(dset: Any, where: str, path: str) -> None:
    """Refuse a dataset whose bytes are not (only) in this file, or that needs a non-standard filter."""
    if dset.external:
        files = sorted({_show(entry[0]) for entry in dset.external})
        raise ConversionError(f"{where}: HDF5 dataset {_show(path)} keeps its data in external file(s) "
                              f"{', '.join(files)}; kerasc reads only data stored in the model file")
    if dset.is_virtual:
        raise ConversionError(f"{where}: HDF5 dataset {_show(path)} is a virtual dataset (data mapped from other "
                              "files); kerasc reads only data stored in the model file")
    plist = dset.id.get_create_plist()
    for i in range(plist.get_nfilters()):
        code, _flags, _values, name = plist.get_filter(i)
        if code not in STANDARD_FILTERS:
            label = name.decode("ascii", "replace") if isinstance(name, bytes) else str(name)
            raise ConversionError(f"{where}: HDF5 dataset {_show(path)} uses filter {code} ({_show(label)}), "
                                  f"which is not a standard HDF5 filter; kerasc decodes only "
                                  f"{', '.join(STANDARD_FILTERS.values())}")


def _address(obj: Any) -> Any:
    import h5py

    info = h5py.h5o.get_info(obj.id)
    return (info.fileno, getattr(info, "token", None) or getattr(info, "addr", None))


def _show(text: object) -> str:
    from .errors import printable

    return repr(printable(str(text)))
