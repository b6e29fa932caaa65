"""Splitting a blob that holds several touching animals into one part per animal.

Two ways, tried in this order:

1. **At the necks.** Bodies that touch leave a narrow neck between them in the blob's outline. The
   distance from the floor then has one peak per body and a saddle at the neck; the ``k`` deepest peaks
   seed a watershed over the negative distance, which cuts along the necks. Each part goes to the
   animal expected nearest to it (a global assignment on the distance from each animal's predicted
   centre), which holds at this clip's low frame rates, where an animal moves much of its length
   between frames and overlaps say little.
2. **From where each animal is expected.** Where bodies overlap so much that there is no neck (one
   animal walks over another), each animal's expected mask (its last whole mask moved on at its speed,
   see `blob_tracks.AnimalTrack`) seeds the same watershed from the pixels only it covers, and from the
   pixels several cover that lie nearer its predicted centre than the others'.

Both are `skimage.segmentation.watershed` over OpenCV's distance transform, on the blob's bounding box.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment
from skimage.measure import label
from skimage.morphology import h_maxima
from skimage.segmentation import watershed

# A peak of the distance from the floor counts as a body of its own when it rises this far (as a
# fraction of the blob's deepest point) above the saddle that joins it to a deeper one: two touching
# mice make about half, a mouse's head on its body a tenth.
NECK_DEPTH = 0.25
MIN_PART = 0.35  # of the smallest animal's whole area: a smaller part is a head or a tail, not a body


def split_blob(
    blob_pixels: np.ndarray,
    expected: list[np.ndarray],
    centres: np.ndarray,
    sizes: list[int],
    shape: tuple[int, int],
) -> list[np.ndarray]:
    """Cut a blob holding several animals into one part per animal.

    Parameters
    ----------
    blob_pixels : numpy.ndarray
        Flat indices of the blob.
    expected : list of numpy.ndarray
        Flat indices of where each animal is expected on this frame.
    centres : numpy.ndarray
        ``(k, 2)`` predicted ``(y, x)`` centre of each animal.
    sizes : list of int
        Each animal's whole area in pixels (from its last frame alone).
    shape : tuple of int
        ``(height, width)`` of the frame.

    Returns
    -------
    list of numpy.ndarray
        Flat indices of each animal's part, in the order of ``expected``. Every animal gets some part.
    """
    width = shape[1]
    rows, cols = np.divmod(blob_pixels, width)
    top, left = rows.min() - 1, cols.min() - 1  # a margin of floor: the distance is 0 beyond the blob
    box = (rows.max() - top + 2, cols.max() - left + 2)
    inside = np.zeros(box, np.uint8)
    inside[rows - top, cols - left] = 1
    distance = cv2.distanceTransform(inside, cv2.DIST_L2, 5)
    inside = inside.astype(bool)

    parts = _split_at_necks(distance, inside, len(expected), MIN_PART * min(sizes))
    if parts is not None:
        found = [np.argwhere(parts == i + 1).mean(axis=0) + (top, left) for i in range(len(expected))]
        cost = np.linalg.norm(np.asarray(centres)[:, None, :] - np.array(found)[None, :, :], axis=2)
        animal_rows, segment_cols = linear_sum_assignment(cost)
        order = dict(zip(animal_rows, segment_cols + 1))
        parts = np.select([parts == order[i] for i in range(len(expected))], [i + 1 for i in range(len(expected))], 0)
    else:
        parts = watershed(-distance, _expected_markers(expected, centres, inside, top, left, width), mask=inside)
    found_rows, found_cols = np.nonzero(parts)
    owner = parts[found_rows, found_cols]
    flat = (found_rows + top) * width + found_cols + left
    return [flat[owner == i + 1] for i in range(len(expected))]


def _split_at_necks(distance: np.ndarray, inside: np.ndarray, count: int, min_part: float) -> np.ndarray | None:
    """``count`` parts cut at the blob's necks (labels 1..count), or None where it has too few necks.

    The peaks are looked for at half resolution, which is plenty for animal-sized bodies and four times
    faster; the cut is made at full resolution.
    """
    coarse = cv2.resize(distance, (max(1, distance.shape[1] // 2), max(1, distance.shape[0] // 2)),
                        interpolation=cv2.INTER_AREA)
    deepest = float(coarse.max())
    low, high = NECK_DEPTH * deepest, deepest
    peaks, found = label(h_maxima(coarse, low)), None
    if peaks.max() < count:
        return None
    # the number of peaks falls as the required depth rises: find a depth that leaves exactly `count`
    for _ in range(8):
        if peaks.max() == count:
            found = peaks
            break
        middle = 0.5 * (low + high)
        trial = label(h_maxima(coarse, middle))
        if trial.max() >= count:
            low, peaks = middle, trial
        else:
            high = middle
    if found is None:
        return None
    markers = cv2.resize(found.astype(np.int32), (distance.shape[1], distance.shape[0]), interpolation=cv2.INTER_NEAREST)
    parts = watershed(-distance, np.where(inside, markers, 0), mask=inside)
    areas = np.bincount(parts.ravel(), minlength=count + 1)[1:]
    return parts if areas.min() >= min_part else None


def _expected_markers(expected, centres, inside, top, left, width) -> np.ndarray:
    """Watershed markers: the blob pixels only animal ``i``'s expected mask covers are ``i + 1``, and so
    are those several expected masks cover where ``i``'s predicted centre is the nearest of theirs; an
    animal left with no marker (the others' cover its expected mask nearer their centres) starts from
    the free blob pixel nearest its predicted centre, so it keeps a part and its place in the tracking.

    Overlapping expected masks are cut between their centres rather than left to the watershed: over
    the distance from the floor, an overlap goes to whichever seed reaches it first through the blob's
    deeper parts, not to the animal it is nearer. With three animals abreast one of them takes the
    overlaps, and the others' parts (their centres, and so their next expected masks) shrink away from
    it frame after frame until two of them change places.
    """
    box = inside.shape
    claims = np.zeros((len(expected),) + box, bool)
    for i, pixels in enumerate(expected):
        seed_rows, seed_cols = np.divmod(pixels, width)
        keep = (seed_rows > top) & (seed_rows < top + box[0]) & (seed_cols > left) & (seed_cols < left + box[1])
        claims[i, seed_rows[keep] - top, seed_cols[keep] - left] = True
    claims &= inside
    count = claims.sum(axis=0)
    markers = np.zeros(box, np.int32)
    markers[count == 1] = np.argmax(claims[:, count == 1], axis=0) + 1
    shared_rows, shared_cols = np.nonzero(count > 1)
    if len(shared_rows):
        gaps = np.stack([np.hypot(shared_rows + top - y, shared_cols + left - x) for y, x in centres])
        gaps[~claims[:, shared_rows, shared_cols]] = np.inf
        markers[shared_rows, shared_cols] = np.argmin(gaps, axis=0) + 1
    has_marker = np.bincount(markers.ravel(), minlength=len(expected) + 1)[1:] > 0
    rows, cols = np.nonzero(inside)
    for i in range(len(expected)):
        if has_marker[i]:
            continue
        free = markers[rows, cols] == 0
        gap = np.hypot(rows + top - centres[i][0], cols + left - centres[i][1])
        nearest = np.argmin(np.where(free, gap, np.inf))
        markers[rows[nearest], cols[nearest]] = i + 1
    return markers
