"""Writing files reproducibly and so that a reader never sees half of one."""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
from pathlib import Path


def write_atomically(path: Path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``.

    An interruption leaves either the old file or the new one, never a mix, and no temporary
    file behind. Text is written as UTF-8; the file gets mode 0644.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


_ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)


def reproducible_zip(entries: list[tuple[str, bytes, int]]) -> bytes:
    """Return a deflated zip of ``(name, data, mode)`` entries, in the order given.

    Every entry gets the same timestamp and its given Unix mode, so the same entries always give
    the same bytes (``zipfile`` and ``np.savez`` would stamp the current time).
    """
    archive_bytes = io.BytesIO()
    with zipfile.ZipFile(archive_bytes, "w") as archive:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = mode << 16
            info.create_system = 3  # Unix, so that the mode above counts
            archive.writestr(info, data, compresslevel=9)
    return archive_bytes.getvalue()
