"""The per-frame record of each animal (one row of ``tracks.csv``) and helpers over records."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

TRACK_DTYPE = np.dtype(
    [
        ("frame", np.int64),
        ("animal", np.int32),
        ("area", np.int64),
        ("centroid_y", np.float64),
        ("centroid_x", np.float64),
        ("score", np.float32),
        ("lost", bool),
        ("merged", bool),
        ("prompted", bool),
        ("reanchored", bool),
        ("detector_conf", np.float32),
        ("jumped", bool),
        # detector-linked runs (--link): the tracker's track, its score and the box's class; -1 / NaN
        # elsewhere. Added at the end so that the columns before them stay as they were.
        ("track_id", np.int64),
        ("class_id", np.int32),
        ("track_score", np.float32),
    ]
)
NO_TRACK = {"track_id": -1, "class_id": -1, "track_score": np.nan}


def as_track_records(records: np.ndarray) -> np.ndarray:
    """``records`` with every field of `TRACK_DTYPE`: records saved before a field existed get its default."""
    if records.dtype == TRACK_DTYPE:
        return records
    upgraded = np.zeros(records.shape, TRACK_DTYPE)
    for name in TRACK_DTYPE.names:
        if name in (records.dtype.names or ()):
            upgraded[name] = records[name]
        elif name in NO_TRACK:
            upgraded[name] = NO_TRACK[name]
    return upgraded


def label_dtype(animals: Sequence[int]) -> np.dtype:
    """The smallest unsigned type that holds every animal id."""
    return np.dtype(np.uint8 if max(animals) < 256 else np.uint16)


def flag_jumps(records: np.ndarray, before: np.ndarray | None) -> None:
    """Flag ``jumped`` where an animal's centre moved more than its own length since the frame before.

    Its length is taken as twice the square root of its area (an ellipse three times as long as wide).
    A jump is a mask that leapt to another animal or object, or a fast animal at a low frame rate:
    either way worth a look. ``before`` holds the previous frame's records (same animal order).
    """
    if before is None:
        return
    seen = ~records["lost"] & ~before["lost"]
    step = np.hypot(records["centroid_y"] - before["centroid_y"], records["centroid_x"] - before["centroid_x"])
    length = 2 * np.sqrt(np.maximum(records["area"], before["area"]))
    records["jumped"] = seen & (step > length)
