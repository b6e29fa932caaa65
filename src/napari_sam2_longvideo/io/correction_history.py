"""What each correction of a run overwrote, kept for undo, and the log of corrections in effect.

Layout in the run folder::

    corrections.jsonl               one JSON object a line per correction in effect, oldest first
    corrections/0001/labels.zarr    the frames it overwrote (frames ``start`` to ``start + T - 1``)
    corrections/0001/records_00005.npy ...  the records files of the chunks it changed, as they were

An entry says ``kind`` (``swap`` or ``retrack``), ``frame``, ``animals``, ``frames_retracked``,
``seconds``, and for undo ``start``, ``stop`` (the frames overwritten, ``stop`` excluded), ``chunks``
(whose records were replaced) and ``backup`` (its folder). Undo writes the frames and record files back
and drops the entry and its folder, so undoing again undoes the correction before.
"""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import zarr

from .files import write_atomically
from .run_folder import CORRECTIONS_DIR, CORRECTIONS_LOG, LABELS_ZARR
from .store import COMPRESSOR, LabelStore


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

    def new_backup(self, store: LabelStore, start: int) -> Backup:
        """A backup folder for the next correction, which overwrites frames from ``start`` on."""
        self.backups.mkdir(exist_ok=True)
        taken = [int(p.name) for p in self.backups.iterdir() if p.name.isdigit()]
        path = self.backups / f"{max(taken, default=0) + 1:04d}"
        if path.exists():
            shutil.rmtree(path)  # left by a correction that failed before it was logged
        return Backup(path, store, start)

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

    def __init__(self, path: Path, store: LabelStore, start: int):
        self.path, self.store, self.start = Path(path), store, int(start)
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

    def keep_records(self, chunks) -> None:
        for index in chunks:
            if index not in self.chunks:
                shutil.copy2(self.store.records_path(index), self.path / self.store.records_path(index).name)
                self.chunks.append(index)

    def discard(self) -> None:
        """Remove the backup of a correction that changed nothing."""
        shutil.rmtree(self.path)

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
