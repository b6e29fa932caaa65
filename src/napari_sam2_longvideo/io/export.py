"""Writing results for other tools: labels as a TIFF stack, per-frame tracks as CSV."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import tifffile

from .files import write_atomically
from .store import LabelStore, encode_strip

# Classic TIFF addresses 4 GiB; stay well under it so compression overhead and tags never cross it.
BIGTIFF_ABOVE_BYTES = 2**31


def write_labels_tiff(labels, path: str | Path) -> Path:
    """Write ``(T, H, W)`` labels frame by frame as one zlib-compressed, greyscale multi-page TIFF.

    ``labels`` may be a `LabelStore`, whose frames are stored compressed exactly as TIFF keeps them and
    are copied without being decompressed, or any array-like indexable by frame. Either way frames are
    read one at a time, so the whole stack is never in memory. The file is BigTIFF when it could exceed
    4 GiB, and opens as one stack in Fiji and in ``tifffile.imread``.
    """
    path = Path(path)
    shape = tuple(int(v) for v in labels.shape)
    dtype = np.dtype(labels.dtype)
    bigtiff = math.prod(shape) * dtype.itemsize > BIGTIFF_ABOVE_BYTES
    if isinstance(labels, LabelStore):
        strips = (labels.encoded_frame(t) for t in range(shape[0]))
    else:
        strips = (encode_strip(labels[t], dtype) for t in range(shape[0]))

    def write(handle):
        with tifffile.TiffWriter(handle, bigtiff=bigtiff, byteorder="<") as tif:
            # one strip per page, so that each frame's compressed bytes are that page's strip
            tif.write(strips, shape=shape, dtype=dtype.newbyteorder("<"), photometric="minisblack",
                      compression="zlib", rowsperstrip=shape[1], metadata={"axes": "TYX"})

    write_atomically(path, write)
    return path


def write_tracks_csv(records: np.ndarray, path: str | Path) -> Path:
    """One row per frame and animal, columns as in ``TRACK_DTYPE``; flags as 0/1, missing centroids empty."""
    path = Path(path)
    names = records.dtype.names
    # column by column: taking rows of a structured array apart field by field costs more than the writing
    columns = [_cells(records[name]) for name in names]

    def write(handle):
        text = _TextSink(handle)
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(names)
        writer.writerows(zip(*columns))

    write_atomically(path, write)
    return path


def _cells(column: np.ndarray) -> list:
    """A column's values as written: flags as 0/1, floats to 6 significant digits, NaN as empty."""
    if column.dtype == bool:
        return column.astype(np.uint8).tolist()
    if np.issubdtype(column.dtype, np.floating):
        return ["" if value != value else f"{value:.6g}" for value in column.tolist()]
    return column.tolist()


class _TextSink:
    """Lets `csv.writer` write text into the binary handle `write_atomically` gives."""

    def __init__(self, handle):
        self.handle = handle

    def write(self, text: str) -> None:
        self.handle.write(text.encode("utf-8"))
