"""One label per pixel from several animals' logits, and the per-frame record of each animal."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

# Two animals whose own masks overlap by more than this fraction of the smaller one are "merged": the
# pixels between them were decided by score alone and deserve a look. Touching animals overlap less.
MERGE_OVERLAP = 0.2

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
    ]
)


def label_dtype(animals: Sequence[int]) -> np.dtype:
    """The smallest unsigned type that holds every animal id."""
    return np.dtype(np.uint8 if max(animals) < 256 else np.uint16)


def resolve_overlaps(
    logits: np.ndarray, animal_ids: Sequence[int], dtype: np.dtype
) -> tuple[np.ndarray, np.ndarray]:
    """Give each pixel to the animal with the highest logit, where that logit is above 0.

    Returns
    -------
    labels : numpy.ndarray
        ``(H, W)`` of ``dtype``: 0 background, else the animal id.
    merged : numpy.ndarray
        ``(N,)`` bool: the animal's own mask overlaps another's by more than `MERGE_OVERLAP`.
    """
    n, dtype = len(animal_ids), np.dtype(dtype)
    logits = np.asarray(logits, np.float32)
    height, width = logits.shape[1:]
    labels = np.zeros((height, width), dtype)
    merged = np.zeros(n, bool)
    # A running maximum that starts at 0, so that only logits above 0 compete; ties go to the animal
    # listed first. OpenCV's masked arithmetic works in place, about twice as fast as numpy's masked
    # copies on a 640x360 frame, and this runs on every frame.
    best = np.zeros((height, width), np.float32)
    own = []  # 255 where each animal's own logit is above 0
    for i, animal in enumerate(animal_ids):
        better = cv2.compare(logits[i], best, cv2.CMP_GT)
        cv2.subtract(labels, labels, dst=labels, mask=better)
        cv2.add(labels, int(animal), dst=labels, mask=better)
        cv2.max(best, logits[i], dst=best)
        own.append(better if i == 0 else cv2.compare(logits[i], 0, cv2.CMP_GT))
    if n > 1:
        areas = [cv2.countNonZero(mask) for mask in own]
        for i in range(n):
            for j in range(i + 1, n):
                smaller = min(areas[i], areas[j])
                if smaller and cv2.countNonZero(cv2.bitwise_and(own[i], own[j])) > MERGE_OVERLAP * smaller:
                    merged[i] = merged[j] = True
    return labels, merged


def frame_records(
    frame: int,
    labels: np.ndarray,
    animals: Sequence[int],
    scores: dict[int, float],
    merged: dict[int, bool],
    prompted: set[int],
    reanchored: set[int] = frozenset(),
    detector_conf: dict[int, float] | None = None,
) -> np.ndarray:
    """Area, centroid, score and flags of every known animal on one labelled frame.

    Animals missing from ``scores`` were not tracked on this frame (lost before the chunk began) and are
    recorded as lost with score 0. ``detector_conf`` is NaN where no detection was assigned.
    """
    detector_conf = detector_conf or {}
    records = np.zeros(len(animals), TRACK_DTYPE)
    for i, animal in enumerate(animals):
        area, centre_y, centre_x = _area_and_centre(labels, animal)
        records[i] = (
            frame,
            animal,
            area,
            centre_y,
            centre_x,
            float(scores.get(animal, 0.0)),
            area == 0,
            bool(merged.get(animal, False)),
            animal in prompted,
            animal in reanchored,
            detector_conf.get(animal, np.nan),
            False,
        )
    return records


def _area_and_centre(labels: np.ndarray, animal: int) -> tuple[int, float, float]:
    """Pixels of ``animal`` and their mean row and column (NaN where it has none).

    OpenCV finds the animal's bounding box in one fast pass over the frame; the moments are then taken
    inside the box only, so the cost is a comparison of the frame, not a reduction over all of it.
    """
    mask = cv2.compare(labels, animal, cv2.CMP_EQ)
    x, y, width, height = cv2.boundingRect(mask)
    moments = cv2.moments(mask[y : y + height, x : x + width], binaryImage=True)
    area = int(moments["m00"])
    if not area:
        return 0, np.nan, np.nan
    return area, y + moments["m01"] / area, x + moments["m10"] / area


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
