"""Writing files so that a crash never leaves half of one."""

from __future__ import annotations

import os
import threading
from pathlib import Path


def write_atomically(path: Path, write) -> None:
    """Call ``write(handle)`` on a temporary file beside ``path``, flush it to disk, then rename it.

    The temporary file is this process's and thread's own, so that two writers of one file (the chunks
    of ``--parallel-chunks`` each saving the contrast backend's hand-over) never rename each other's:
    the last to finish wins, whole.
    """
    temporary = path.with_name(f"{path.name}.{os.getpid()}-{threading.get_ident()}.partial")
    with open(temporary, "wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
