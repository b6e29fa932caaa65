"""One label per pixel from several animals' logits, and the per-frame record of each animal."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from ..core.records import NO_TRACK, TRACK_DTYPE

# Two animals whose own masks overlap by more than this fraction of the smaller one are "merged": the
# pixels between them were decided by score alone and deserve a look. Touching animals overlap less.
MERGE_OVERLAP = 0.2


def resolve_overlaps(
    logits: np.ndarray, animal_ids: Sequence[int], dtype: np.dtype, bounds: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Give each pixel to the animal with the highest logit, where that logit is above 0.

    ``bounds`` (``(N, 4)`` ``x0, y0, x1, y1``, see `FramePrediction`) says where each animal's logits
    can be above 0; only there is it looked at.

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
    boxes = _clipped(bounds, n, height, width)
    labels = np.zeros((height, width), dtype)
    merged = np.zeros(n, bool)
    # A running maximum that starts at 0, so that only logits above 0 compete; ties go to the animal
    # listed first. OpenCV's masked arithmetic works in place (on views of each animal's bounds), about
    # twice as fast as numpy's masked copies, and this runs on every frame.
    # `best` spans only the boxes' union: a fresh full frame of float32 per frame costs more than the rest
    live = boxes[(boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])]
    left, top = live[:, :2].min(axis=0) if len(live) else (0, 0)
    right, bottom = live[:, 2:].max(axis=0) if len(live) else (0, 0)
    best = np.zeros((bottom - top, right - left), np.float32)
    own = []  # 255 where each animal's own logit is above 0, inside its box
    for i, (animal, (x0, y0, x1, y1)) in enumerate(zip(animal_ids, boxes)):
        if x1 <= x0 or y1 <= y0:
            own.append(None)
            continue
        logit, region = logits[i, y0:y1, x0:x1], (slice(y0, y1), slice(x0, x1))
        best_here = best[y0 - top : y1 - top, x0 - left : x1 - left]
        better = cv2.compare(logit, best_here, cv2.CMP_GT)
        cv2.subtract(labels[region], labels[region], dst=labels[region], mask=better)
        cv2.add(labels[region], int(animal), dst=labels[region], mask=better)
        cv2.max(best_here, logit, dst=best_here)
        own.append(cv2.compare(logit, 0, cv2.CMP_GT))
    areas = [cv2.countNonZero(mask) if mask is not None else 0 for mask in own]
    for i in range(n):
        for j in range(i + 1, n):
            smaller = min(areas[i], areas[j])
            if smaller and _shared_pixels(own[i], boxes[i], own[j], boxes[j]) > MERGE_OVERLAP * smaller:
                merged[i] = merged[j] = True
    return labels, merged


def resolve_claims(
    claims, animal_ids: Sequence[int], dtype: np.dtype, shape: tuple[int, int], bounds: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """`resolve_overlaps` for logits given as claims (see `backend.FramePrediction`): the same labels and
    flags, from the claimed pixels alone.

    ``bounds``, where given, only spares comparing the pixels of animals whose bounds do not meet.
    """
    n, dtype = len(animal_ids), np.dtype(dtype)
    labels = np.zeros(shape, dtype)
    flat = labels.ravel()
    # Written from the lowest logit up and, at equal logits, from the animal listed last: the write that
    # stays is the highest logit and, at a tie, the animal listed first, as in `resolve_overlaps`.
    writes = [(logit, row, pixels) for row, pairs in enumerate(claims) for pixels, logit in pairs if len(pixels)]
    for _, row, pixels in sorted(writes, key=lambda write: (write[0], -write[1])):
        flat[pixels] = animal_ids[row]
    own = [_union([pixels for pixels, _ in pairs]) for pairs in claims]  # where each animal's logit is above 0
    boxes = _clipped(bounds, n, *shape)
    merged = np.zeros(n, bool)
    for i in range(n):
        for j in range(i + 1, n):
            smaller = min(len(own[i]), len(own[j]))
            if not smaller or (boxes[i, :2] >= boxes[j, 2:]).any() or (boxes[j, :2] >= boxes[i, 2:]).any():
                continue  # one claims nothing, or their bounds do not meet
            if len(np.intersect1d(own[i], own[j], assume_unique=True)) > MERGE_OVERLAP * smaller:
                merged[i] = merged[j] = True
    return labels, merged


def _union(pixel_sets: list[np.ndarray]) -> np.ndarray:
    """The pixels in any of ``pixel_sets`` (each without repeats), each once."""
    pixel_sets = [pixels for pixels in pixel_sets if len(pixels)]
    if len(pixel_sets) <= 1:
        return pixel_sets[0] if pixel_sets else np.zeros(0, np.intp)
    # sorted, then repeats dropped: what np.unique gives, but numpy 2.3's hashing np.unique took ten
    # times as long on these few thousand pixels (2 ms a frame on the two-mice clip)
    pixels = np.sort(np.concatenate(pixel_sets))
    return pixels[np.concatenate(([True], pixels[1:] != pixels[:-1]))]


def _clipped(bounds, n: int, height: int, width: int) -> np.ndarray:
    """``(n, 4)`` int boxes inside the frame; the whole frame where ``bounds`` is None."""
    if bounds is None:
        return np.tile(np.array([0, 0, width, height]), (n, 1))
    boxes = np.maximum(np.asarray(bounds, np.int64).reshape(n, 4), 0)
    return np.minimum(boxes, [width, height, width, height])


def _shared_pixels(mask_a, box_a, mask_b, box_b) -> int:
    """Pixels set in both masks, each given inside its own box of the frame."""
    x0, y0 = max(box_a[0], box_b[0]), max(box_a[1], box_b[1])
    x1, y1 = min(box_a[2], box_b[2]), min(box_a[3], box_b[3])
    if x1 <= x0 or y1 <= y0:
        return 0
    a = mask_a[y0 - box_a[1] : y1 - box_a[1], x0 - box_a[0] : x1 - box_a[0]]
    b = mask_b[y0 - box_b[1] : y1 - box_b[1], x0 - box_b[0] : x1 - box_b[0]]
    return cv2.countNonZero(cv2.bitwise_and(a, b))


def frame_records(
    frame: int,
    labels: np.ndarray,
    animals: Sequence[int],
    scores: dict[int, float],
    merged: dict[int, bool],
    prompted: set[int],
    reanchored: set[int] = frozenset(),
    detector_conf: dict[int, float] | None = None,
    bounds: dict[int, np.ndarray] | None = None,
) -> np.ndarray:
    """Area, centroid, score and flags of every known animal on one labelled frame.

    Animals missing from ``scores`` were not tracked on this frame (lost before the chunk began) and are
    recorded as lost with score 0. ``detector_conf`` is NaN where no detection was assigned. ``bounds``
    (animal -> ``x0, y0, x1, y1``, as given to `resolve_overlaps`) limits where each animal is looked for.
    """
    detector_conf = detector_conf or {}
    records = np.zeros(len(animals), TRACK_DTYPE)
    for i, animal in enumerate(animals):
        area, centre_y, centre_x = _area_and_centre(labels, animal, None if bounds is None else bounds.get(animal))
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
            NO_TRACK["track_id"],
            NO_TRACK["class_id"],
            NO_TRACK["track_score"],
        )
    return records


def _area_and_centre(labels: np.ndarray, animal: int, box=None) -> tuple[int, float, float]:
    """Pixels of ``animal`` and their mean row and column (NaN where it has none).

    OpenCV finds the animal's bounding box in one fast pass over the frame (or over ``box``, ``x0, y0,
    x1, y1``, where it is known to be); the moments are then taken inside that bounding box only.
    """
    left, top = 0, 0
    if box is not None:
        (left, top), (right, bottom) = np.maximum(box[:2], 0), np.minimum(box[2:], labels.shape[::-1])
        if right <= left or bottom <= top:
            return 0, np.nan, np.nan
        labels = labels[top:bottom, left:right]
    if labels.size <= 4:  # OpenCV takes an array of up to 4 values for a scalar, and then refuses the pair
        rows, cols = np.nonzero(labels == animal)
        return (len(rows), top + rows.mean(), left + cols.mean()) if len(rows) else (0, np.nan, np.nan)
    mask = cv2.compare(labels, animal, cv2.CMP_EQ)
    x, y, width, height = cv2.boundingRect(mask)
    moments = cv2.moments(mask[y : y + height, x : x + width], binaryImage=True)
    area = int(moments["m00"])
    if not area:
        return 0, np.nan, np.nan
    return area, top + y + moments["m01"] / area, left + x + moments["m10"] / area


