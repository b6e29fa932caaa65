"""What each correction of a run overwrote, kept for undo, and the log of corrections in effect.

Layout in the run folder::

    corrections.jsonl               one JSON object a line per correction in effect, oldest first
    corrections/0001/labels.zarr    the frames it overwrote (frames ``start`` to ``start + T - 1``)
    corrections/0001/records_00005.npy ...  the records files of the chunks it changed, as they were

An entry says ``kind`` (``swap`` or ``retrack``), ``frame``, ``animals``, ``frames_retracked``,
``seconds``, and for undo ``start``, ``stop`` (the frames overwritten, ``stop`` excluded), ``chunks``
(whose records were replaced) and ``backup`` (its folder). Undo writes the frames and record files back
and drops the entry and its folder, so undoing again undoes the correction before.

A correction is logged when it ends. One killed before (SIGKILL, power loss) leaves its backup folder,
whose ``kept.json`` says what it holds: it is written after each range of frames or record file is
kept and before the store is overwritten there, so it covers everything the correction changed.
`CorrectionHistory.log_interrupted` turns such a folder into a log entry (``interrupted: true``) that
undo takes back like any other; the next correction or undo on the run does that first.
"""

from __future__ import annotations

import itertools
import json
import shutil
import time
from pathlib import Path

import zarr

from .files import write_atomically
from .run_folder import CORRECTIONS_DIR, CORRECTIONS_LOG, LABELS_ZARR
from .store import COMPRESSOR, LabelStore


KEPT_FILE = "kept.json"


class CorrectionHistory:
    """The corrections of the run in ``folder``, oldest first."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.log_path = self.folder / CORRECTIONS_LOG
        self.backups = self.folder / CORRECTIONS_DIR

    def entries(self) -> list[dict]:
        if not self.log_path.exists():
            return []
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line.strip()]

    def new_backup(self, store: LabelStore, start: int, about: dict | None = None) -> Backup:
        """A backup folder for the next correction, which overwrites frames from ``start`` on.

        ``about`` (``kind``, ``frame``, ``animals``) goes into its log entry should it be interrupted.
        """
        self.backups.mkdir(exist_ok=True)
        taken = [int(p.name) for p in self.backups.iterdir() if p.name.isdigit()]
        path = self.backups / f"{max(taken, default=0) + 1:04d}"
        if path.exists():
            shutil.rmtree(path)
        return Backup(path, store, start, about)

    def log_interrupted(self, write: bool = True) -> list[dict]:
        """Log the corrections that were killed before they were logged; return their new entries.

        A backup folder no entry names is one: with what it kept (``kept.json``) it becomes an entry that
        undo can take back; without (killed before it overwrote anything) it is removed. With ``write``
        False nothing changes on disk (for a reader without the run's lock): the entries are only returned.
        """
        if not self.backups.is_dir():
            return []
        named = {e["backup"] for e in self.entries()}
        found = []
        for path in sorted(p for p in self.backups.iterdir() if p.name.isdigit()):
            relative = str(path.relative_to(self.folder))
            if relative in named:
                continue
            kept = path / KEPT_FILE
            if not kept.exists():
                if write:
                    shutil.rmtree(path)
                continue
            state = json.loads(kept.read_text())
            found.append({
                "kind": state.get("kind", "unknown"), "frame": state.get("frame", state["start"]),
                "animals": state.get("animals", []), "frames_retracked": state["stop"] - state["start"],
                "interrupted": True, "start": state["start"], "stop": state["stop"], "chunks": state["chunks"],
                "backup": relative, "seconds": None,
                "logged": time.strftime("%Y-%m-%dT%H:%M:%S"),
            })
        if found and write:
            self._write(self.entries() + found)
        return found

    def append(self, entry: dict) -> None:
        self._write(self.entries() + [entry])

    def pop(self) -> dict | None:
        """Remove the last entry from the log and return it (its backup folder is the caller's to remove)."""
        entries = self.entries()
        if not entries:
            return None
        self._write(entries[:-1])
        return entries[-1]

    def _write(self, entries: list[dict]) -> None:
        text = "".join(json.dumps(e) + "\n" for e in entries)
        write_atomically(self.log_path, lambda handle: handle.write(text.encode()))


class Backup:
    """The frames and record files a correction overwrites, kept as they were before it.

    Frames are added in order from ``start`` (`keep_frames`), each range before it is overwritten;
    record files are copied whole (`keep_records`) before they are replaced.
    """

    def __init__(self, path: Path, store: LabelStore, start: int, about: dict | None = None):
        self.path, self.store, self.start = Path(path), store, int(start)
        self.about = dict(about or {})
        self.path.mkdir(parents=True)
        shape = (store.shape[0] - self.start,) + store.shape[1:]
        self.frames = zarr.create_array(
            self.path / LABELS_ZARR, shape=shape, dtype=store.dtype, chunks=(store.block_length,) + shape[1:],
            fill_value=0, compressors=COMPRESSOR,
        )
        self.stop = self.start  # frames kept so far: start .. stop - 1
        self.chunks: list[int] = []

    def keep_frames(self, start: int, stop: int) -> None:
        """Keep the store's frames ``start..stop - 1`` (the next ones after those kept already)."""
        if start != self.stop:
            raise ValueError(f"frames must be kept in order: {self.stop} next, not {start}")
        self.frames[start - self.start : stop - self.start] = self.store.labels[start:stop]
        self.stop = stop
        self._write_kept()

    def keep_records(self, chunks) -> None:
        for index in chunks:
            if index not in self.chunks:
                shutil.copy2(self.store.records_path(index), self.path / self.store.records_path(index).name)
                self.chunks.append(index)
        self._write_kept()

    def discard(self) -> None:
        """Remove the backup of a correction that changed nothing."""
        shutil.rmtree(self.path)

    def _write_kept(self) -> None:
        """What is kept so far, for `CorrectionHistory.log_interrupted`: written before the store changes."""
        text = json.dumps(dict(self.about, start=self.start, stop=self.stop, chunks=sorted(self.chunks)))
        write_atomically(self.path / KEPT_FILE, lambda handle: handle.write(text.encode()))

    def finish(self) -> dict:
        """Trim the kept frames to those overwritten; what the log entry needs for undo."""
        self.frames.resize((self.stop - self.start,) + self.store.shape[1:])
        return {"start": self.start, "stop": self.stop, "chunks": sorted(self.chunks),
                "backup": str(self.path.relative_to(self.path.parents[1]))}


def restore(folder: Path, store: LabelStore, entry: dict) -> None:
    """Write back what the correction of ``entry`` overwrote, then remove its backup folder."""
    path = Path(folder) / entry["backup"]
    frames = zarr.open_array(path / LABELS_ZARR, mode="r")
    start = entry["start"]
    for first, last in block_ranges(start, entry["stop"], store.block_length):
        store.labels[first:last] = frames[first - start : last - start]
    for index in entry["chunks"]:
        kept = (path / store.records_path(index).name).read_bytes()
        write_atomically(store.records_path(index), lambda handle, kept=kept: handle.write(kept))
    shutil.rmtree(path)


def block_ranges(start: int, stop: int, block_length: int):
    """``(first, last)`` ranges covering ``start..stop - 1``, cut where the store's blocks begin."""
    edges = [start, *range((start // block_length + 1) * block_length, stop, block_length), stop]
    return [(a, b) for a, b in itertools.pairwise(edges) if b > a]
