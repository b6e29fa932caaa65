"""One run per output folder: a lock held for the whole run, and a note of who holds it.

Two runs writing one folder would interleave their chunks and their ``run.json`` (and one of them would
die renaming a file the other had just renamed). So a run locks ``.lock`` in the folder before it reads,
clears or writes anything there, and keeps the lock until it ends, however it ends. The lock is the
operating system's (`filelock`: ``flock`` on POSIX, ``LockFileEx`` on Windows), which the kernel drops
when the holding process dies: a run that was killed never blocks the next one, and nothing has to
guess whether an old lock file is stale.

Beside it, ``.lock-holder.json`` says who holds the folder (host, process id, start time) so that a
refused run can name them. It is only a note: the lock decides, and a note left by a killed run is
overwritten by the next one.
"""

from __future__ import annotations

import datetime
import json
import os
import socket
from pathlib import Path

from filelock import FileLock, Timeout

from ..errors import FolderInUseError, UserInputError
from .files import write_atomically

LOCK_FILE = ".lock"
HOLDER_FILE = ".lock-holder.json"


class RunLock:
    """The lock of one output folder, taken at once or refused.

    Parameters
    ----------
    folder : Path
        The output folder; it must exist.
    """

    def __init__(self, folder):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self.holder_path = self.folder / HOLDER_FILE
        # not thread-local: napari's worker thread takes it, and the generator may be closed from another
        self._lock = FileLock(self.path, timeout=0, thread_local=False)

    @property
    def held(self) -> bool:
        return self._lock.is_locked

    def acquire(self) -> RunLock:
        """Take the lock now, or raise `FolderInUseError` naming the run that has it."""
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            raise FolderInUseError(
                f"Output folder {self.folder} is in use by another run ({describe_holder(self.folder)}). "
                "Wait for that run to end or stop it, or choose another --out."
            ) from None
        except OSError as error:
            raise UserInputError(
                f"Cannot lock the output folder {self.folder} ({self.path}: {error.strerror or error}). "
                "Choose a folder you can write to with --out."
            ) from error
        try:
            note = json.dumps(holder_note(), indent=2)
            write_atomically(self.holder_path, lambda handle: handle.write(note.encode()))
        except BaseException:
            self._lock.release()
            raise
        return self

    def release(self, remove_empty_folder: bool = False) -> None:
        """Let the next run in; with ``remove_empty_folder``, remove the folder if the lock is all it holds."""
        if not self.held:
            return
        try:
            self.holder_path.unlink(missing_ok=True)
            if remove_empty_folder and {p.name for p in self.folder.iterdir()} <= {LOCK_FILE}:
                self.path.unlink(missing_ok=True)  # while still held, so no other run is between
        finally:
            self._lock.release()
        if remove_empty_folder:
            try:
                self.folder.rmdir()
            except OSError:
                pass  # something appeared in it meanwhile (another run's lock): it is theirs now

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc_info) -> None:
        self.release()


def holder_note() -> dict:
    """Who is taking the lock: this process."""
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def describe_holder(folder) -> str:
    """The holder of ``folder``'s lock in words, from its note; says so when there is none to read."""
    try:
        note = json.loads((Path(folder) / HOLDER_FILE).read_text())
        return f"process {int(note['pid'])} on host {note['host']}, started {note['started']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "its process has not said which it is yet"
