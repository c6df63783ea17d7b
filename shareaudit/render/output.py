"""Writing one output file atomically: a reader never sees half a file, a crash never leaves one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from shareaudit.errors import InputError


def write_atomically(
    path: Path, text: str | Iterable[str], encoding: str = "utf-8", newline: str | None = None
) -> None:
    """Write `text` (or its pieces, one after the other) to a temporary file beside `path`, then rename it
    over `path`.

    errors="replace": a lone surrogate from a hostile server's name must not stop an output. A path
    that cannot be written (a missing parent under a regular file, no permission) is an InputError.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline=newline, errors="replace") as handle:
            if isinstance(text, str):
                handle.write(text)
            else:
                handle.writelines(text)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
