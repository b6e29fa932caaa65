"""Writing results for other tools: labels as a TIFF stack, per-frame tracks as CSV."""

from __future__ import annotations

import collections
import csv
import math
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile

from ..core.records import NO_TRACK
from .files import write_atomically
from .store import LabelStore

# Classic TIFF addresses 4 GiB; stay well under it so compression overhead and tags never cross it.
BIGTIFF_ABOVE_BYTES = 2**31
IMAGEJ_DTYPES = (np.uint8, np.uint16)  # the integer types an ImageJ hyperstack holds
# zlib's fastest level: label images are mostly background, and level 6 costs four times the time for
# files 2.5 times smaller (measured on the two-mice run; see docs/benchmarks.md).
COMPRESSION_LEVEL = 1
FRAMES_IN_FLIGHT = 8  # frames read and being compressed ahead of the one written


def write_labels_tiff(labels, path: str | Path, changed: tuple[int, int] | None = None) -> Path:
    """Write ``(T, H, W)`` labels frame by frame as one zlib-compressed time series (axes ``TYX``).

    ``labels`` is a `LabelStore` or any array-like indexable by frame; frames are read a block at a time
    and compressed in threads a few frames ahead, so the whole stack is never in memory. Up to 4 GiB the
    file is an ImageJ hyperstack, which Fiji opens with a time slider; above, or for types ImageJ does
    not hold, it is an OME-TIFF (BigTIFF when it could exceed 4 GiB), which Fiji opens through
    Bio-Formats. Either way ``tifffile`` reads it as one series with axes ``TYX``.

    ``changed`` (``(start, stop)``) says only frames ``start..stop - 1`` differ from those already in
    ``path`` (a correction): the other pages' compressed strips are copied from the old file instead of
    being read and compressed again. The file is the same, byte for byte, as one written whole (the
    same bytes compressed the same way), and is written whole where the old one is not of this layout.
    """
    path = Path(path)
    shape = tuple(int(v) for v in labels.shape)
    dtype = np.dtype(labels.dtype)
    bigtiff = math.prod(shape) * dtype.itemsize > BIGTIFF_ABOVE_BYTES
    imagej = not bigtiff and dtype in IMAGEJ_DTYPES
    step = labels.block_length if isinstance(labels, LabelStore) else 1
    old = _old_strips(path, shape, dtype) if changed is not None else None

    def write(handle):
        with ThreadPoolExecutor(thread_name_prefix="tiff-compress") as pool:
            if old is None:
                pages = _compressed_pages(_frames(labels, step), dtype.newbyteorder("<"), pool)
            else:
                pages = _patched_pages(labels, changed, old, dtype.newbyteorder("<"), pool)
            with tifffile.TiffWriter(handle, bigtiff=bigtiff, imagej=imagej, ome=not imagej, byteorder="<") as tif:
                # one strip per page, compressed here (in threads) rather than by tifffile (in turn)
                tif.write(pages, shape=shape, dtype=dtype.newbyteorder("<"), photometric="minisblack",
                          compression="zlib", rowsperstrip=shape[1], metadata={"axes": "TYX"})

    write_atomically(path, write)
    return path


def _old_strips(path: Path, shape: tuple, dtype: np.dtype):
    """``(file, [(offset, bytes)] per page)`` of an existing labels file written as `write_labels_tiff`
    writes them (one zlib strip per page, same shape and type); None where it is not."""
    try:
        tif = tifffile.TiffFile(path)
    except (OSError, tifffile.TiffFileError):
        return None
    pages = tif.pages
    strips = []
    for page in pages:
        if page.shape != shape[1:] or page.dtype != dtype or len(page.dataoffsets) != 1 or page.compression != 8:
            tif.close()
            return None
        strips.append((page.dataoffsets[0], page.databytecounts[0]))
    if len(strips) != shape[0]:
        tif.close()
        return None
    return tif, strips


def _patched_pages(labels, changed, old, dtype: np.dtype, pool: ThreadPoolExecutor):
    """The old file's strips, but frames ``changed[0]..changed[1] - 1`` compressed anew from ``labels``."""
    tif, strips = old
    start, stop = changed
    try:
        handle = tif.filehandle
        for t, (offset, count) in enumerate(strips):
            if t == start:
                yield from _compressed_pages(np.asarray(labels[start:stop]), dtype, pool)
            if start <= t < stop:
                continue
            handle.seek(offset)
            yield handle.read(count)
    finally:
        tif.close()


def _frames(labels, step: int):
    """The frames of ``labels`` in order, read ``step`` at a time (a store's block: each read once)."""
    for start in range(0, labels.shape[0], step):
        yield from np.asarray(labels[start : start + step])


def _compressed_pages(frames, dtype: np.dtype, pool: ThreadPoolExecutor):
    """Each frame as one zlib stream of its rows (a TIFF strip), at most `FRAMES_IN_FLIGHT` ahead."""
    waiting = collections.deque()
    for frame in frames:
        waiting.append(pool.submit(_deflate, frame, dtype))
        if len(waiting) == FRAMES_IN_FLIGHT:
            yield waiting.popleft().result()
    while waiting:
        yield waiting.popleft().result()


def _deflate(frame: np.ndarray, dtype: np.dtype) -> bytes:
    return zlib.compress(np.ascontiguousarray(frame, dtype).data, COMPRESSION_LEVEL)


def write_tracks_csv(
    records: np.ndarray, path: str | Path, times_s: np.ndarray | None = None, class_names: dict[int, str] | None = None
) -> Path:
    """One row per frame and animal, columns as in ``TRACK_DTYPE``; flags as 0/1, missing centroids empty.

    After the per-frame fields comes ``time_s``, each row's frame time, ``times_s[frame]`` (seconds after
    frame 0, to the microsecond); it is empty where the input has no frame rate (``times_s`` None). Then
    the fields of detector-linked runs (``track_id, class_id, track_score``) and ``class_name`` (from
    ``class_names``, empty where a class has no name). Columns are only ever added at the end, so that
    those before them are where they always were.
    """
    path = Path(path)
    first = [name for name in records.dtype.names if name not in NO_TRACK]
    names = (*first, "time_s", *NO_TRACK, "class_name")
    # column by column: taking rows of a structured array apart field by field costs more than the writing
    columns = [_cells(records[name]) for name in first]
    columns.append(_seconds(records["frame"], times_s))
    columns += [_cells(records[name]) for name in NO_TRACK]
    class_names = class_names or {}
    columns.append([class_names.get(c, "") for c in records["class_id"].tolist()])

    def write(handle):
        text = _TextSink(handle)
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(names)
        writer.writerows(zip(*columns))

    write_atomically(path, write)
    return path


def written_context(tracks_path: str | Path) -> tuple[np.ndarray | None, dict[int, str]]:
    """What an earlier `write_tracks_csv` took besides the records: each frame's ``time_s`` (None where
    it wrote none) and the class names. Rewriting ``tracks.csv`` after a correction keeps them without
    opening the video or the detector again."""
    table = pd.read_csv(tracks_path, keep_default_na=False, na_values={"time_s": [""]})
    times = None
    if "time_s" in table and table["time_s"].notna().any():
        times = np.full(int(table["frame"].max()) + 1, np.nan)
        times[table["frame"].to_numpy()] = table["time_s"].to_numpy(np.float64)
    names = {}
    if {"class_id", "class_name"} <= set(table.columns):
        named = table[table["class_name"] != ""]
        names = dict(zip(named["class_id"].astype(int).tolist(), named["class_name"].astype(str).tolist()))
    return times, names


def _cells(column: np.ndarray) -> list:
    """A column's values as written: flags as 0/1, floats to 6 significant digits, NaN as empty."""
    if column.dtype == bool:
        return column.astype(np.uint8).tolist()
    if np.issubdtype(column.dtype, np.floating):
        return ["" if value != value else f"{value:.6g}" for value in column.tolist()]
    return column.tolist()


def _seconds(frames: np.ndarray, times_s: np.ndarray | None) -> list:
    if times_s is None:
        return [""] * len(frames)
    return [f"{value:.6f}" for value in np.asarray(times_s, np.float64)[frames].tolist()]


class _TextSink:
    """Lets `csv.writer` write text into the binary handle `write_atomically` gives."""

    def __init__(self, handle):
        self.handle = handle

    def write(self, text: str) -> None:
        self.handle.write(text.encode("utf-8"))
