"""A weight-free backend for high-contrast arenas: background difference, blobs, and seeded splitting.

Behind the same protocol as SAM2, so chunks, identities, detectors and resuming work unchanged. Each
frame's foreground (pixels that differ from the background on the animals' side by more than the
threshold, specks removed, holes filled) is cut into blobs; a blob goes to the animal whose previous
mask it overlaps. A blob that overlaps several animals' previous masks (animals touching) is split
between them by a watershed seeded with those masks, and each of those animals is given the whole blob
at a lower logit than its own part: the tracker then keeps the split and flags the frame ``merged``.
An animal with no blob is lost (empty mask, score 0) until a blob touches where it was last seen.
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from .backend import FramePrediction
from .background import (
    animals_are_dark,
    arena_mask,
    contrast_image,
    grey,
    load_or_make_background,
    otsu_threshold,
)

OWN, SHARED, OUTSIDE = 2.0, 1.0, -1.0
OPEN_KERNEL = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))


class ContrastBackend:
    """Background-difference segmentation; the background is computed once per run and saved.

    Parameters
    ----------
    settings : TrackSettings
        ``arena``, ``threshold`` and ``min_area`` are read (None = automatic).
    frames : FrameSource
        The whole video (the background samples all of it).
    folder : Path, optional
        The run's output folder, where ``background.npy`` is kept for resuming.
    """

    name = "contrast"

    def __init__(self, settings, frames, folder=None):
        self.settings, self.frames, self.folder = settings, frames, folder
        self._background = None
        self.arena = arena_mask(settings.arena, frames.height, frames.width)
        # decided from the first prompts seen, then fixed for the whole run
        self.dark: bool | None = None
        self.threshold: float | None = settings.threshold
        self.min_area: int | None = settings.min_area

    @property
    def background(self) -> np.ndarray:
        if self._background is None:
            raise RuntimeError("the background is made once the first prompt says which side animals are on")
        return self._background

    def start_session(self, frames, start: int, stop: int) -> ContrastSession:
        return ContrastSession(self, frames, start, stop)

    def describe(self) -> dict:
        return {"backend": self.name, "arena": self.settings.arena, "threshold": self.settings.threshold,
                "min_area": self.settings.min_area}

    def learn_from_prompt(self, frame_grey: np.ndarray, inside: np.ndarray) -> None:
        """Fix polarity, threshold and minimum area from the first prompted animal."""
        if self.dark is None:
            self.dark = animals_are_dark(frame_grey, inside)
            self._background = load_or_make_background(self.frames, self.folder, self.dark)
        if self.threshold is None:
            self.threshold = otsu_threshold(contrast_image(frame_grey, self.background, self.dark)[self.arena])

    def normalised(self, frame_grey: np.ndarray) -> np.ndarray | None:
        """The frame brought to the background's brightness, or None for a frame that shows no floor.

        Cameras drift in exposure, which a fixed threshold would read as animals everywhere; and some
        recordings hold black or white frames (the sample clip has three), on which nothing can be seen.
        """
        floor = float(np.median(self.background[::4, ::4]))
        level = float(np.median(frame_grey[::4, ::4]))
        if level < 0.5 * floor or level > 1.5 * floor or frame_grey[::4, ::4].std() < 4:
            return None
        return cv2.convertScaleAbs(frame_grey, alpha=floor / max(level, 1.0))

    def foreground(self, frame_grey: np.ndarray) -> np.ndarray:
        """Pixels standing out from the floor on the animals' side; all False on an unusable frame."""
        frame_grey = self.normalised(frame_grey)
        if frame_grey is None:
            return np.zeros(self.background.shape, bool)
        contrast = contrast_image(frame_grey, self.background, self.dark)
        mask = ((contrast > self.threshold) & self.arena).astype(np.uint8)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, OPEN_KERNEL)
        return fill_holes(mask)


class ContrastSession:
    """Frames ``start..stop-1``; prompts become each animal's mask on their frame."""

    def __init__(self, backend: ContrastBackend, frames, start: int, stop: int):
        self.backend, self.frames, self.start, self.stop = backend, frames, start, stop
        self.prompts: dict[int, dict[int, np.ndarray]] = {}  # frame -> animal -> mask

    def _frame_grey(self, frame: int) -> np.ndarray:
        return grey(self.frames.read(frame))

    def _blob_at(self, frame: int, inside: np.ndarray) -> np.ndarray:
        """The foreground blob(s) the prompt touches on ``frame``."""
        frame_grey = self._frame_grey(frame)
        self.backend.learn_from_prompt(frame_grey, inside)
        count, blobs = cv2.connectedComponents(self.backend.foreground(frame_grey).astype(np.uint8))
        touched = np.unique(blobs[inside & (blobs > 0)])
        mask = np.isin(blobs, touched) if len(touched) else np.zeros_like(inside)
        if self.backend.min_area is None and mask.any():
            self.backend.min_area = max(4, int(0.2 * mask.sum()))  # specks far below an animal
        return mask

    def add_points(self, frame, animal, points_yx, positive):
        inside = np.zeros((self.frames.height, self.frames.width), bool)
        for (y, x), is_positive in zip(np.asarray(points_yx), np.asarray(positive)):
            if is_positive:
                inside[int(y), int(x)] = True
        self.prompts.setdefault(frame, {})[animal] = self._blob_at(frame, inside)

    def add_box(self, frame, animal, box_xyxy):
        inside = np.zeros((self.frames.height, self.frames.width), bool)
        x0, y0, x1, y1 = (int(round(v)) for v in box_xyxy)
        inside[max(0, y0) : y1, max(0, x0) : x1] = True
        blob = self._blob_at(frame, inside)
        self.prompts.setdefault(frame, {})[animal] = blob & inside

    def add_mask(self, frame, animal, mask):
        mask = np.asarray(mask, bool)
        self.backend.learn_from_prompt(self._frame_grey(frame), mask)
        if self.backend.min_area is None and mask.any():
            self.backend.min_area = max(4, int(0.2 * mask.sum()))
        self.prompts.setdefault(frame, {})[animal] = mask

    def propagate(self, from_frame: int, reverse: bool = False) -> Iterator[FramePrediction]:
        order = range(from_frame, self.start - 1, -1) if reverse else range(from_frame, self.stop)
        animals = tuple(sorted({a for masks in self.prompts.values() for a in masks}))
        previous: dict[int, np.ndarray] = {}
        motion: dict[int, Motion] = {}
        for frame in order:
            given = self.prompts.get(frame, {})
            previous.update(given)
            for animal, mask in given.items():
                motion[animal] = Motion(mask)
            logits = np.full((len(animals), self.frames.height, self.frames.width), OUTSIDE, np.float32)
            merged: set[int] = set()
            if len(previous) > len(given):
                predicted = {a: motion[a].predict() for a in previous if a not in given}
                merged = self._segment(self._frame_grey(frame), animals, previous, predicted, logits)
            for animal, mask in given.items():
                logits[animals.index(animal)][mask] = OWN
            own = logits == OWN
            scores = own.any(axis=(1, 2)).astype(np.float32)
            for animal in animals:
                if animal in previous and scores[animals.index(animal)]:
                    previous[animal] = own[animals.index(animal)]
                    if animal not in given:
                        motion[animal].update(previous[animal], merged=animal in merged)
                elif animal in motion:
                    motion[animal].lose()
            yield FramePrediction(frame, animals, logits, scores)

    def close(self) -> None:
        self.prompts.clear()

    @staticmethod
    def _match_strays(blobs, centroids, big, claims, tracked, previous) -> None:
        """Animals whose previous mask touches no blob (they moved far, or frames were blank) take the
        nearest animal-sized blobs nobody claimed, one each, by a global assignment on distance."""
        stray_animals = [a for a in tracked if previous[a].any() and not any(a in c for c in claims.values())]
        free_blobs = [int(b) for b in big if int(b) not in claims]
        if not stray_animals or not free_blobs:
            return
        last = np.array([_centre(previous[a])[::-1] for a in stray_animals])
        distance = np.linalg.norm(last[:, None, :] - centroids[free_blobs][None, :, :], axis=2)
        for row, col in zip(*linear_sum_assignment(distance)):
            claims[free_blobs[col]] = [stray_animals[row]]

    def _segment(self, frame_grey, animals, previous, predicted, logits) -> set[int]:
        """Give this frame's blobs to the animals in ``predicted`` (those not prompted here) whose
        previous mask they touch; return the animals that shared a blob."""
        backend = self.backend
        count, blobs, stats, centroids = cv2.connectedComponentsWithStats(
            backend.foreground(frame_grey).astype(np.uint8)
        )
        tracked = list(predicted)
        big = np.flatnonzero(stats[:, cv2.CC_STAT_AREA] >= (backend.min_area or 1))
        big = big[big > 0]
        claims = _claim_blobs(blobs, big, tracked, previous, predicted)
        self._match_strays(blobs, centroids, big, claims, tracked, previous)
        for blob, claimants in claims.items():
            region = blobs == blob
            if len(claimants) == 1:
                logits[animals.index(claimants[0])][region] = OWN
                continue
            split = split_blob(region, [predicted[a] for a in claimants])
            for i, animal in enumerate(claimants, start=1):
                layer = logits[animals.index(animal)]
                layer[region] = SHARED
                layer[split == i] = OWN
        return {a for claimants in claims.values() if len(claimants) > 1 for a in claimants}


def _claim_blobs(blobs, big, tracked, previous, predicted) -> dict[int, list[int]]:
    """Blob -> the animals it belongs to. Animals take distinct blobs where there are enough (a global
    assignment on overlap with their predicted masks), share one only when there are too few (touching),
    and keep any further fragment that touches them alone."""
    overlap = np.zeros((len(tracked), len(big)))
    for i, animal in enumerate(tracked):
        touched = blobs[(previous[animal] | predicted[animal]) & (blobs > 0)]
        counts = np.bincount(touched, minlength=blobs.max() + 1)
        overlap[i] = counts[big]
    claims: dict[int, list[int]] = {}
    if not overlap.any():
        return claims
    rows, cols = linear_sum_assignment(-overlap)
    owner = {}
    for row, col in zip(rows, cols):
        if overlap[row, col] > 0:
            owner[tracked[row]] = col
            claims[int(big[col])] = [tracked[row]]
    for i, animal in enumerate(tracked):
        if animal not in owner and overlap[i].any():  # more animals than blobs: they touch
            claims.setdefault(int(big[int(np.argmax(overlap[i]))]), []).append(animal)
    for col in range(len(big)):
        touching = [tracked[i] for i in np.flatnonzero(overlap[:, col])]
        if int(big[col]) not in claims and len(touching) == 1:
            claims[int(big[col])] = touching
    return claims


def split_blob(region: np.ndarray, predicted_masks: list[np.ndarray]) -> np.ndarray:
    """Cut a blob holding several animals into one part per animal: label ``i`` (from 1) for animal i.

    Each pixel goes to the animal whose predicted mask (its last mask before the animals met, moved on
    at its speed; see `Motion`) is nearest, and among masks that all cover it, to the nearest predicted
    centre. Seeding from the masks of the frame before instead lets one part grow frame after frame
    until the other vanishes, and swaps animals that pass each other.
    """
    rows, cols = np.nonzero(region)
    cost = np.empty((len(predicted_masks), len(rows)), np.float32)
    for i, mask in enumerate(predicted_masks):
        outside = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 3)
        centre = _centre(mask) if mask.any() else np.array([rows.mean(), cols.mean()])
        cost[i] = outside[rows, cols] + 0.01 * np.hypot(rows - centre[0], cols - centre[1])
    split = np.zeros(region.shape, np.int32)
    split[rows, cols] = np.argmin(cost, axis=0) + 1
    return split


class Motion:
    """An animal's last whole mask (from a frame where it had a blob of its own) and its speed.

    While animals share a blob, each is predicted as that mask moved on at that speed, so animals that
    pass each other keep going their own ways.
    """

    def __init__(self, mask: np.ndarray):
        self.template = mask
        self.centre = _centre(mask)
        self.velocity = np.zeros(2)
        self.frames_since = 0
        self.seen = True

    def predict(self) -> np.ndarray:
        shift = self.velocity * (self.frames_since + 1)
        if not shift.any():
            return self.template
        matrix = np.float32([[1, 0, shift[1]], [0, 1, shift[0]]])
        height, width = self.template.shape
        return cv2.warpAffine(self.template.astype(np.uint8), matrix, (width, height),
                              flags=cv2.INTER_NEAREST) > 0

    def lose(self) -> None:
        """Unseen: where it went and how fast is unknown, so the speed is forgotten."""
        self.velocity[:] = 0
        self.frames_since = 0
        self.seen = False

    def update(self, mask: np.ndarray, merged: bool) -> None:
        if merged:
            self.frames_since += 1
            return
        centre = _centre(mask)
        if self.seen:
            step = (centre - self.centre) / (self.frames_since + 1)
            # a step longer than a quarter of the body is a jump (dropped frames), not a speed
            limit = 0.25 * np.sqrt(max(mask.sum(), 1))
            step *= min(1.0, limit / max(np.hypot(*step), 1e-9))
            self.velocity = 0.5 * self.velocity + 0.5 * step
        self.template, self.centre, self.frames_since, self.seen = mask, centre, 0, True


def _centre(mask: np.ndarray) -> np.ndarray:
    """``(y, x)`` of the mask's centre of mass."""
    moments = cv2.moments(mask.view(np.uint8), binaryImage=True)
    if not moments["m00"]:
        return np.zeros(2)
    return np.array([moments["m01"] / moments["m00"], moments["m10"] / moments["m00"]])


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill the holes of a uint8 0/1 mask: everything the outside cannot reach (OpenCV's flood fill,
    several times faster than scipy's binary_fill_holes at video sizes)."""
    padded = cv2.copyMakeBorder(mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    outside = padded.copy()
    cv2.floodFill(outside, None, (0, 0), 1)
    return ((padded | (1 - outside)) > 0)[1:-1, 1:-1]
