"""Writing files so that a crash never leaves half of one."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomically(path: Path, write) -> None:
    """Call ``write(handle)`` on a temporary file beside ``path``, flush it to disk, then rename it."""
    temporary = path.with_name(path.name + ".partial")
    with open(temporary, "wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
