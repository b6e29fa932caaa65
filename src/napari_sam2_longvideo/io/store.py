"""The label store: labels and per-frame records on disk, chunk by chunk, the basis of resuming.

Layout of the store folder::

    store.json        shape, dtype, the chunk plan and the chunks that are finished
    chunk_00000.npz   labels (frames x H x W) and records of chunk 0, compressed

A chunk's file is written under a temporary name, flushed and renamed; only then is the chunk added to
``store.json`` (itself replaced atomically). A crash at any moment leaves either the chunk finished and
listed, or not listed and redone on resume: never a listed chunk with half its data.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from pathlib import Path

import numpy as np

from ..engine.chunks import Chunk
from ..engine.overlaps import TRACK_DTYPE
from ..errors import UserInputError

INDEX_NAME = "store.json"


def write_atomically(path: Path, write) -> None:
    """Call ``write(handle)`` on a temporary file beside ``path``, flush it to disk, then rename it."""
    temporary = path.with_name(path.name + ".partial")
    with open(temporary, "wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


class LabelStore:
    """Chunked, compressed labels of a whole video; readable lazily like a ``(T, H, W)`` array.

    Use `create` for a new store and `open` for an existing one.
    """

    def __init__(self, folder: Path, shape: tuple[int, int, int], dtype, chunks: list[Chunk], done):
        self.folder = Path(folder)
        self.shape = tuple(int(v) for v in shape)
        self.dtype = np.dtype(dtype)
        self.chunks = list(chunks)
        self._done = set(done)
        # Napari asks for the same frames again and again while the user scrubs; two decompressed
        # chunks cover a scrub across a boundary without holding the video.
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_size = 2

    # -- creation ----------------------------------------------------------------------------------
    @classmethod
    def create(cls, folder, shape, dtype, chunks: list[Chunk]) -> LabelStore:
        store = cls(folder, shape, dtype, chunks, done=())
        store.folder.mkdir(parents=True, exist_ok=True)
        for stale in store.folder.glob("chunk_*.npz*"):
            stale.unlink()
        store._write_index()
        return store

    @classmethod
    def open(cls, folder) -> LabelStore:
        folder = Path(folder)
        try:
            index = json.loads((folder / INDEX_NAME).read_text())
        except (OSError, ValueError) as error:
            raise UserInputError(f"{folder} is not a label store of this plugin ({error}).") from error
        chunks = [Chunk(i, s, e) for i, (s, e) in enumerate(index["chunks"])]
        return cls(folder, index["shape"], index["dtype"], chunks, index["done"])

    def reload(self) -> None:
        """Read the list of finished chunks again (another process or thread is writing the store)."""
        index = json.loads((self.folder / INDEX_NAME).read_text())
        self._done = set(index["done"])
        self._cache.clear()

    def _write_index(self) -> None:
        index = {
            "shape": list(self.shape),
            "dtype": self.dtype.str,
            "chunks": [[c.start, c.stop] for c in self.chunks],
            "done": sorted(self._done),
        }
        write_atomically(self.folder / INDEX_NAME, lambda h: h.write(json.dumps(index).encode()))

    # -- chunks ------------------------------------------------------------------------------------
    def _chunk_path(self, index: int) -> Path:
        return self.folder / f"chunk_{index:05d}.npz"

    def is_done(self, index: int) -> bool:
        return index in self._done

    @property
    def done_chunks(self) -> list[int]:
        return sorted(self._done)

    @property
    def frames_done(self) -> int:
        return sum(len(self.chunks[i]) for i in self._done)

    @property
    def complete(self) -> bool:
        return len(self._done) == len(self.chunks)

    def write_chunk(self, chunk: Chunk, labels: np.ndarray, records: np.ndarray) -> None:
        """Save a finished chunk, then mark it finished."""
        expected = (len(chunk),) + self.shape[1:]
        if labels.shape != expected:
            raise ValueError(f"chunk {chunk.index} labels have shape {labels.shape}, not {expected}")
        labels = labels.astype(self.dtype, copy=False)
        records = np.asarray(records, TRACK_DTYPE)
        write_atomically(
            self._chunk_path(chunk.index),
            lambda h: np.savez_compressed(h, labels=labels, records=records),
        )
        self._done.add(chunk.index)
        self._write_index()
        self._cache.pop(chunk.index, None)

    def read_chunk(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        with np.load(self._chunk_path(index)) as data:
            return data["labels"], data["records"]

    def _chunk_labels(self, index: int) -> np.ndarray:
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        if index in self._done:
            labels = self.read_chunk(index)[0]
        else:
            chunk = self.chunks[index]
            labels = np.zeros((len(chunk),) + self.shape[1:], self.dtype)
        # unfinished chunks are not cached: they fill in while a run goes on
        if index in self._done:
            self._cache[index] = labels
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return labels

    def chunk_of(self, frame: int) -> Chunk:
        if not 0 <= frame < self.shape[0]:
            raise IndexError(f"frame {frame} is outside 0..{self.shape[0] - 1}")
        size = len(self.chunks[0])
        return self.chunks[min(frame // size, len(self.chunks) - 1)]

    def frame(self, t: int) -> np.ndarray:
        """Labels of frame ``t`` (zeros where the chunk is not finished yet)."""
        chunk = self.chunk_of(t)
        return self._chunk_labels(chunk.index)[t - chunk.start]

    def records(self) -> np.ndarray:
        """Every finished chunk's records, in frame order."""
        parts = [self.read_chunk(i)[1] for i in self.done_chunks]
        return np.concatenate(parts) if parts else np.zeros(0, TRACK_DTYPE)

    # -- lazy array view, for napari and exports ---------------------------------------------------
    @property
    def ndim(self) -> int:
        return 3

    def __len__(self) -> int:
        return self.shape[0]

    def __array__(self, dtype=None, copy=None):
        stack = np.stack([self.frame(t) for t in range(self.shape[0])])
        return stack if dtype is None else stack.astype(dtype)

    def __getitem__(self, key):
        if not isinstance(key, tuple):
            key = (key,)
        first, rest = key[0], key[1:]
        if isinstance(first, (int, np.integer)):
            return self.frame(int(first) % self.shape[0])[rest]
        frames = range(self.shape[0])[first]
        stack = np.stack([self.frame(t) for t in frames]) if len(frames) else np.zeros(
            (0,) + self.shape[1:], self.dtype
        )
        return stack[(slice(None),) + rest]
