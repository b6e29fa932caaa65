"""The label store: labels and per-frame records on disk, chunk by chunk, the basis of resuming.

Layout of the store folder::

    store.json        shape, dtype, the chunk plan and the chunks that are finished
    chunk_00000.npz   chunk 0: its frames, each compressed on its own, and its records

Each frame is kept as one zlib stream of its rows, which is exactly a TIFF strip: ``labels.tif`` is then
written by copying the stored bytes (no second compression), and napari showing a frame decompresses
that frame alone, not its whole chunk.

A chunk's file is written under a temporary name, flushed and renamed; only then is the chunk added to
``store.json`` (itself replaced atomically). A crash at any moment leaves either the chunk finished and
listed, or not listed and redone on resume: never a listed chunk with half its data.
"""

from __future__ import annotations

import json
import zlib
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..core.chunks import Chunk
from ..core.records import TRACK_DTYPE
from ..errors import UserInputError
from .files import write_atomically

INDEX_NAME = "store.json"
FORMAT = 2  # 1 (before 0.1.0 was released) compressed whole chunks
# zlib's fastest level: label images are mostly background, and level 6 costs four times the time for
# files 2.5 times smaller (measured on the two-mice run; see docs/benchmarks.md).
COMPRESSION_LEVEL = 1


def encode_strip(frame: np.ndarray, dtype: np.dtype) -> bytes:
    """A frame as one zlib stream of its rows, little-endian: a TIFF strip, and what the store keeps."""
    return zlib.compress(np.ascontiguousarray(frame, np.dtype(dtype).newbyteorder("<")).data, COMPRESSION_LEVEL)


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
        # Napari asks for frames of the same chunks again and again while the user scrubs; the
        # compressed frames of a few chunks cover a scrub across boundaries without holding the video.
        self._cache: OrderedDict[int, list[bytes]] = OrderedDict()
        self._cache_size = 4

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
        if index.get("format", 1) != FORMAT:
            raise UserInputError(
                f"The label store in {folder} was written by an earlier version of napari-sam2-longvideo; "
                "start over in that folder (--overwrite, or Start over in napari)."
            )
        chunks = [Chunk(i, s, e) for i, (s, e) in enumerate(index["chunks"])]
        return cls(folder, index["shape"], index["dtype"], chunks, index["done"])

    def reload(self) -> None:
        """Read the list of finished chunks again (another process or thread is writing the store)."""
        index = json.loads((self.folder / INDEX_NAME).read_text())
        self._done = set(index["done"])
        self._cache.clear()

    def _write_index(self) -> None:
        index = {
            "format": FORMAT,
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
        """Save a finished chunk whose labels are all at hand, then mark it finished."""
        with self.chunk_writer(chunk) as writer:
            for frame in labels:
                writer.add(frame)
            writer.finish(records)

    def chunk_writer(self, chunk: Chunk) -> ChunkWriter:
        """A writer that takes ``chunk``'s frames one at a time as they are tracked (`ChunkWriter`)."""
        return ChunkWriter(self, chunk)

    def _save_chunk(self, chunk: Chunk, encoded: list[bytes], records: np.ndarray) -> None:
        offsets = np.cumsum([0] + [len(frame) for frame in encoded])
        data = np.frombuffer(b"".join(encoded), np.uint8)
        records = np.asarray(records, TRACK_DTYPE)
        # the frames are compressed already: the archive only bundles them
        write_atomically(
            self._chunk_path(chunk.index),
            lambda h: np.savez(h, frames=data, offsets=offsets, records=records),
        )
        self._done.add(chunk.index)
        self._write_index()
        self._cache.pop(chunk.index, None)

    def encode(self, frame: np.ndarray) -> bytes:
        """One frame as the store keeps it (`encode_strip`)."""
        return encode_strip(frame, self.dtype)

    def decode(self, encoded: bytes) -> np.ndarray:
        little = np.frombuffer(zlib.decompress(encoded), self.dtype.newbyteorder("<"))
        return little.astype(self.dtype, copy=False).reshape(self.shape[1:])

    def encoded_frames(self, index: int) -> list[bytes]:
        """The stored frames of finished chunk ``index``, still compressed."""
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        with np.load(self._chunk_path(index)) as archive:
            data, offsets = archive["frames"].tobytes(), archive["offsets"]
        frames = [data[a:b] for a, b in zip(offsets[:-1], offsets[1:])]
        self._cache[index] = frames
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return frames

    def read_chunk(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Labels ``(frames, H, W)`` and records of finished chunk ``index``."""
        labels = np.stack([self.decode(frame) for frame in self.encoded_frames(index)])
        return labels, self.chunk_records(index)

    def chunk_records(self, index: int) -> np.ndarray:
        with np.load(self._chunk_path(index)) as archive:
            return archive["records"]

    def chunk_of(self, frame: int) -> Chunk:
        if not 0 <= frame < self.shape[0]:
            raise IndexError(f"frame {frame} is outside 0..{self.shape[0] - 1}")
        size = len(self.chunks[0])
        return self.chunks[min(frame // size, len(self.chunks) - 1)]

    def frame(self, t: int) -> np.ndarray:
        """Labels of frame ``t`` (zeros where the chunk is not finished yet)."""
        chunk = self.chunk_of(t)
        if chunk.index not in self._done:  # it fills in while a run goes on
            return np.zeros(self.shape[1:], self.dtype)
        return self.decode(self.encoded_frames(chunk.index)[t - chunk.start])

    def encoded_frame(self, t: int) -> bytes:
        """Frame ``t`` as stored (see `encode`), background where the chunk is not finished."""
        chunk = self.chunk_of(t)
        if chunk.index not in self._done:
            return self.encode(np.zeros(self.shape[1:], self.dtype))
        return self.encoded_frames(chunk.index)[t - chunk.start]

    def records(self) -> np.ndarray:
        """Every finished chunk's records, in frame order."""
        parts = [self.chunk_records(i) for i in self.done_chunks]
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


class ChunkWriter:
    """One chunk on its way into the store: its frames are compressed in a thread of their own while
    the next ones are tracked, and the chunk is saved (and marked finished) by `finish`.

    zlib lets go of the interpreter lock, so compressing overlaps tracking, and the chunk's labels are
    never held whole (a chunk of 200 frames of 1080p video would be 400 MB). Leaving the ``with`` block
    without `finish` (a stopped or failed run) saves nothing: the chunk is redone.
    """

    # Frames handed to the compressing thread at once: each hand-over makes the tracking thread give up
    # the interpreter lock, and one per frame made the run no faster (docs/benchmarks.md).
    BATCH = 16

    def __init__(self, store: LabelStore, chunk: Chunk):
        self.store, self.chunk = store, chunk
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"compress-chunk-{chunk.index}")
        self._waiting: list[np.ndarray] = []
        self._batches = []  # futures of lists of compressed frames, in frame order

    def add(self, frame: np.ndarray) -> None:
        """The chunk's next frame; it must not change afterwards (it is compressed later)."""
        if frame.shape != self.store.shape[1:]:
            raise ValueError(f"chunk {self.chunk.index} frame has shape {frame.shape}, not {self.store.shape[1:]}")
        self._waiting.append(frame)
        if len(self._waiting) == self.BATCH:
            self._hand_over()

    def finish(self, records: np.ndarray) -> None:
        """Save the chunk once all its frames were added, then mark it finished."""
        self._hand_over()
        encoded = [strip for batch in self._batches for strip in batch.result()]
        if len(encoded) != len(self.chunk):
            raise ValueError(f"chunk {self.chunk.index} has {len(self.chunk)} frames, {len(encoded)} were added")
        self.store._save_chunk(self.chunk, encoded, records)

    def _hand_over(self) -> None:
        if self._waiting:
            self._batches.append(self._pool.submit(lambda frames: [self.store.encode(f) for f in frames], self._waiting))
            self._waiting = []

    def __enter__(self) -> ChunkWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self._pool.shutdown(cancel_futures=True)
