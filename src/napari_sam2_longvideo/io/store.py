"""The label store: a run's labels as a Zarr array, and beside it the record of finished chunks.

Layout in the run folder::

    labels.zarr/              Zarr v3 array (T, H, W), unsigned integers, 0 = background (fill value)
    store/index.json          format, chunk size, the chunk plan and the chunks that are finished
    store/records_00000.npy   chunk 0's per-frame records (``TRACK_DTYPE``)

``labels.zarr`` is a plain Zarr array: ``zarr.open_array``, ``dask.array.from_zarr`` and napari read it
as it is, one block of frames at a time. Its blocks (Zarr chunks) hold `block_length` frames, a divisor of
the tracking chunk size, so no block holds frames of two tracking chunks: writing chunk k never rewrites a
block of a finished chunk. (The one exception is a run extended beyond a short last chunk, `extend`; there
Zarr's local store, which writes every block to a temporary file and renames it, keeps the block whole.)

A chunk's frames go to the array as they are tracked (`ChunkWriter`). When its last frame is written,
its blocks are flushed to disk, its records are written atomically, and only then is it added to
``index.json`` (itself replaced atomically). A crash at any moment leaves every listed chunk whole; the
frames of a chunk not listed are redone on resume (until then they may hold what the stopped run wrote).

With ``--parallel-chunks`` several processes write one store at once: each the frames of its own chunk
(`ChunkWriter.finish_frames`: its own blocks, as blocks never span two chunks), and one process, which
joins the chunks, the index and the records (`mark_done`, after renumbering a chunk by `map_labels`).
"""

from __future__ import annotations

import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import zarr
from zarr.codecs import ZstdCodec

from ..core.chunks import Chunk
from ..core.records import TRACK_DTYPE, as_track_records
from ..errors import UserInputError
from .files import write_atomically
from .run_folder import LABELS_ZARR, STORE_DIR

INDEX_NAME = "index.json"
FORMAT = 3  # 1 and 2 (before 0.1.0 was released) kept each chunk in store/chunk_NNNNN.npz
MAX_BLOCK_LENGTH = 16  # frames per Zarr block: a napari frame costs decompressing its block
# Zstandard at level 1: 2.6 times smaller than zlib level 1 on the two-mice labels, and faster
# (docs/benchmarks.md). Zarr's check for blocks that are all background is slower than compressing
# them, so every block is written: a block of background compresses to a few hundred bytes.
COMPRESSOR = ZstdCodec(level=1)
ARRAY_CONFIG = {"write_empty_chunks": True}


def block_length(chunk_size: int) -> int:
    """Frames per Zarr block: the largest divisor of ``chunk_size`` up to `MAX_BLOCK_LENGTH`."""
    return max(n for n in range(1, min(chunk_size, MAX_BLOCK_LENGTH) + 1) if chunk_size % n == 0)


class LabelStore:
    """A run's labels, readable like a ``(T, H, W)`` array (lazily: only the blocks asked for are read).

    Use `create` for a new store and `open` for an existing one; ``folder`` is the run folder. The Zarr
    array itself is `labels`, for readers that take one (napari, dask).
    """

    def __init__(self, folder: Path, labels: zarr.Array, chunk_size: int, chunks: list[Chunk], done):
        self.folder = Path(folder)
        self.labels = labels
        self.chunk_size = int(chunk_size)
        self.chunks = list(chunks)
        self._done = set(done)

    # -- creation ----------------------------------------------------------------------------------
    @classmethod
    def create(cls, folder, shape, dtype, chunks: list[Chunk]) -> LabelStore:
        """A new, empty store in ``folder`` (what an earlier store there held is removed)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in (folder / LABELS_ZARR, folder / STORE_DIR):
            if stale.exists():
                shutil.rmtree(stale)
        (folder / STORE_DIR).mkdir()
        chunk_size = len(chunks[0])
        shape = tuple(int(v) for v in shape)
        labels = zarr.create_array(
            folder / LABELS_ZARR, shape=shape, dtype=np.dtype(dtype), chunks=(block_length(chunk_size),) + shape[1:],
            fill_value=0, compressors=COMPRESSOR, config=ARRAY_CONFIG,
            dimension_names=("t", "y", "x"),
        )
        store = cls(folder, labels, chunk_size, chunks, done=())
        store._write_index()
        return store

    @classmethod
    def open(cls, folder, read_only: bool = False) -> LabelStore:
        """The store in run folder ``folder``; refused with what to do for a store of an earlier version."""
        folder = Path(folder)
        refuse_earlier_format(folder)
        index = _read_index(folder)
        try:
            labels = zarr.open_array(folder / LABELS_ZARR, mode="r" if read_only else "r+", config=ARRAY_CONFIG)
        except (OSError, ValueError, KeyError) as error:  # zarr raises several kinds for a missing array
            raise UserInputError(
                f"{folder / LABELS_ZARR} is missing or damaged ({error}); re-run with --overwrite to track again."
            ) from error
        chunks = [Chunk(i, s, e) for i, (s, e) in enumerate(index["chunks"])]
        return cls(folder, labels, index["chunk_size"], chunks, index["done"])

    def reload(self) -> None:
        """Read the list of finished chunks again (another process or thread is writing the store)."""
        index = _read_index(self.folder)
        self.chunks = [Chunk(i, s, e) for i, (s, e) in enumerate(index["chunks"])]
        self._done = set(index["done"])

    def extend(self, num_frames: int) -> None:
        """Make the store hold ``num_frames`` frames: the finished chunks are kept, the rest planned anew.

        The plan goes on from the last finished frame to the next multiple of the chunk size, then in
        whole chunks, as a run of ``num_frames`` frames would have been planned from the start.
        """
        done = self.chunks[: len(self._done)]
        if num_frames < (done[-1].stop if done else 0):
            raise ValueError(f"{self.folder} holds {done[-1].stop} tracked frames, more than {num_frames}")
        chunks, start = list(done), done[-1].stop if done else 0
        while start < num_frames:
            stop = min((start // self.chunk_size + 1) * self.chunk_size, num_frames)
            chunks.append(Chunk(len(chunks), start, stop))
            start = stop
        if num_frames != self.shape[0]:
            self.labels.resize((num_frames,) + self.shape[1:])
        if chunks != self.chunks:
            self.chunks = chunks
            self._write_index()

    def _write_index(self) -> None:
        index = {
            "format": FORMAT,
            "labels": LABELS_ZARR,
            "chunk_size": self.chunk_size,
            "chunks": [[c.start, c.stop] for c in self.chunks],
            "done": sorted(self._done),
        }
        write_atomically(self.folder / STORE_DIR / INDEX_NAME, lambda h: h.write(json.dumps(index).encode()))

    # -- chunks ------------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(v) for v in self.labels.shape)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.labels.dtype)

    @property
    def block_length(self) -> int:
        """Frames per Zarr block."""
        return int(self.labels.chunks[0])

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
        """Save a finished chunk whose labels are all at hand, then mark it finished."""
        with self.chunk_writer(chunk) as writer:
            for frame in labels:
                writer.add(frame)
            writer.finish(records)

    def chunk_writer(self, chunk: Chunk) -> ChunkWriter:
        """A writer that takes ``chunk``'s frames one at a time as they are tracked (`ChunkWriter`)."""
        return ChunkWriter(self, chunk)

    def _records_path(self, index: int) -> Path:
        return self.folder / STORE_DIR / f"records_{index:05d}.npy"

    def _save_chunk(self, chunk: Chunk, records: np.ndarray) -> None:
        """Mark ``chunk`` finished once its frames are in the array: flushed, records, then the index."""
        for block in range(chunk.start // self.block_length, (chunk.stop - 1) // self.block_length + 1):
            _flush(self.folder / LABELS_ZARR / self.labels.metadata.encode_chunk_key((block, 0, 0)))
        records = np.asarray(records, TRACK_DTYPE)
        write_atomically(self._records_path(chunk.index), lambda h: np.save(h, records))
        self._done.add(chunk.index)
        self._write_index()

    def mark_done(self, chunk: Chunk, records: np.ndarray) -> None:
        """Mark ``chunk`` finished, its frames written by another process (`ChunkWriter.finish_frames`).

        Only one process may mark chunks (it alone writes ``index.json``): the one that joins the chunks
        of ``--parallel-chunks``, whose workers write the frames of their chunks' own blocks.
        """
        self._save_chunk(chunk, records)

    def map_labels(self, chunk: Chunk, lookup: np.ndarray) -> None:
        """Replace every label ``v`` on ``chunk``'s frames by ``lookup[v]`` (a chunk's animals renumbered),
        one block at a time; `mark_done` afterwards flushes them."""
        lookup = np.asarray(lookup, self.dtype)
        for start in range(chunk.start, chunk.stop, self.block_length):
            stop = min(chunk.stop, (start // self.block_length + 1) * self.block_length)
            self.labels[start:stop] = lookup[self.labels[start:stop]]

    def records_path(self, index: int) -> Path:
        """The file of chunk ``index``'s records (a correction backs it up before replacing it)."""
        return self._records_path(index)

    def replace_records(self, index: int, records: np.ndarray) -> None:
        """Replace finished chunk ``index``'s records (a correction rewrote some of its frames)."""
        records = np.asarray(records, TRACK_DTYPE)
        write_atomically(self._records_path(index), lambda h: np.save(h, records))

    def save_assignments(self, index: int, rows: list[dict]) -> None:
        """Keep the detector's identity assignments made for chunk ``index`` (``frame``, ``animal``,
        ``cost``, ``margin`` each), for the review; none: no file."""
        path = self.folder / STORE_DIR / f"assignments_{index:05d}.json"
        if rows:
            write_atomically(path, lambda h: h.write(json.dumps(rows).encode()))
        else:
            path.unlink(missing_ok=True)

    def assignments(self) -> list[dict]:
        """The identity assignments of the finished chunks, in chunk order."""
        rows = []
        for index in sorted(self._done):
            path = self.folder / STORE_DIR / f"assignments_{index:05d}.json"
            if path.exists():
                rows += json.loads(path.read_text())
        return rows

    def chunk_records(self, index: int) -> np.ndarray:
        """The per-frame records of finished chunk ``index``."""
        return as_track_records(np.load(self._records_path(index)))

    def records(self) -> np.ndarray:
        """Every finished chunk's records, in frame order."""
        parts = [self.chunk_records(i) for i in self.done_chunks]
        return np.concatenate(parts) if parts else np.zeros(0, TRACK_DTYPE)

    def frame(self, t: int) -> np.ndarray:
        """Labels of frame ``t``."""
        return self[t]

    # -- the array view, for napari, exports and the tracker -----------------------------------------
    @property
    def ndim(self) -> int:
        return 3

    def __len__(self) -> int:
        return self.shape[0]

    def __array__(self, dtype=None, copy=None):
        stack = self.labels[:]
        return stack if dtype is None else stack.astype(dtype)

    def __getitem__(self, key):
        """As numpy indexes: an integer past either end raises `IndexError`, so iterating ends."""
        first = key[0] if isinstance(key, tuple) and key else key
        if isinstance(first, (int, np.integer)) and not -self.shape[0] <= first < self.shape[0]:
            raise IndexError(f"frame {first} is outside 0..{self.shape[0] - 1} of {self.folder / LABELS_ZARR}")
        return self.labels[key]

    def __iter__(self):
        """The frames in order, one block read at a time."""
        for start in range(0, self.shape[0], self.block_length):
            yield from self.labels[start : start + self.block_length]


class ChunkWriter:
    """One chunk on its way into the store: its frames are gathered into blocks, each written (and
    compressed) in a thread of its own while the next frames are tracked; `finish` marks it finished.

    The chunk's labels are never held whole (a chunk of 200 frames of 1080p video would be 400 MB): at
    most a block in hand and one being written. Leaving the ``with`` block without `finish` (a stopped or
    failed run) marks nothing finished: the chunk is redone.
    """

    def __init__(self, store: LabelStore, chunk: Chunk):
        self.store, self.chunk = store, chunk
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"write-chunk-{chunk.index}")
        self._waiting: list[np.ndarray] = []
        self._next = chunk.start  # the frame the next `add` is
        self._writes = []

    def add(self, frame: np.ndarray) -> None:
        """The chunk's next frame; it must not change afterwards (it is written later)."""
        if frame.shape != self.store.shape[1:]:
            raise ValueError(f"chunk {self.chunk.index} frame has shape {frame.shape}, not {self.store.shape[1:]}")
        if self._next >= self.chunk.stop:
            raise ValueError(f"chunk {self.chunk.index} has {len(self.chunk)} frames; one more was added")
        self._waiting.append(frame)
        self._next += 1
        if self._next % self.store.block_length == 0:  # a block is full (blocks are aligned to frame 0)
            self._hand_over()

    def finish(self, records: np.ndarray) -> None:
        """Mark the chunk finished once all its frames were added and written."""
        self.finish_frames()
        self.store._save_chunk(self.chunk, records)

    def finish_frames(self) -> None:
        """Wait until all the chunk's frames are written, without marking it finished (another process
        does, `LabelStore.mark_done`)."""
        self._hand_over()
        for write in self._writes:
            write.result()  # a failed write raises here
        if self._next != self.chunk.stop:
            added = self._next - self.chunk.start
            raise ValueError(f"chunk {self.chunk.index} has {len(self.chunk)} frames, {added} were added")

    def _hand_over(self) -> None:
        if self._waiting:
            start, frames = self._next - len(self._waiting), self._waiting
            self._writes.append(self._pool.submit(self._write, start, frames))
            self._waiting = []

    def _write(self, start: int, frames: list[np.ndarray]) -> None:
        self.store.labels[start : start + len(frames)] = np.stack(frames)

    def __enter__(self) -> ChunkWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self._pool.shutdown(cancel_futures=True)


def refuse_earlier_format(folder: Path) -> None:
    """Raise `UserInputError` where ``folder`` holds the ``.npz`` store of an earlier version."""
    old = Path(folder) / STORE_DIR
    if (old / "store.json").exists() or next(old.glob("chunk_*.npz"), None) is not None:
        raise UserInputError(
            f"{folder} holds a run of an earlier version of napari-sam2-longvideo (store/chunk_*.npz), which "
            "this version does not read. Re-run with --overwrite to track again there (that removes the "
            "old run's files), or choose another --out."
        )


def _read_index(folder: Path) -> dict:
    try:
        index = json.loads((folder / STORE_DIR / INDEX_NAME).read_text())
    except (OSError, ValueError) as error:
        raise UserInputError(
            f"{folder} holds no label store of this plugin ({error}); re-run with --overwrite to track there."
        ) from error
    if index.get("format") != FORMAT:
        raise UserInputError(
            f"The label store in {folder} has format {index.get('format')}, not {FORMAT}; re-run with "
            "--overwrite to track again there."
        )
    return index


def _flush(path: Path) -> None:
    """Make sure the file at ``path`` is on disk, not only in the operating system's cache."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
