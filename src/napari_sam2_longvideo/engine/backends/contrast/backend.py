"""A weight-free backend for high-contrast arenas: the floor, blobs, and a seeded watershed for touching animals.

It sits behind the same protocol as SAM2, so chunks, identities, detectors and resuming work unchanged.
Each frame's foreground (pixels that differ from the local floor on the animals' side, grown by
hysteresis from the confident cores, specks removed, holes filled) is cut into blobs
(`blobs.find_blobs`; the low level is learned from the prompted animals, `levels`). A blob goes to the
animal whose mask it overlaps; a blob that several animals need (animals touching) is split between
them by a watershed seeded where each is expected, and each of them is also given the whole blob at a
lower logit than its own part, so the tracker keeps the split and flags those frames ``merged``. An
animal with no blob is lost (no pixel, score 0) and keeps its label free until a blob appears where it
was last seen, or a free blob appears anywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ....core.geometry import bounding_box
from ....errors import UserInputError
from ....io.run_folder import CONTRAST_HANDOVER_FILE as HANDOVER_FILE
from ..base import FramePrediction
from .blobs import Blobs, blobs_from_outlines, find_blobs
from .floor import FloorModel, animals_are_dark, arena_mask, learn_floor, normalised
from .identities import AnimalTrack, assign_blobs, load_handover, save_handover
from .levels import learn_low_level
from .outline_worker import OutlineJob, OutlineWorker
from .touching import split_blob

OWN, SHARED = 2.0, 1.0  # logits: an animal's own part, and the whole of a blob it shares
SCORE_ALONE, SCORE_SHARED = 1.0, 0.5
# A mask alone whose area suddenly doubled or halved against the animal's median (`sizes`): below the
# review's low score (`engine.review.LOW_SCORE`), so that such frames are listed for a look.
SCORE_RESIZED = 0.25
MIN_AREA_FRACTION = 0.2  # of the smallest prompted animal: specks and tails are smaller
PROMPT_REACH = 5  # pixels: a click this close to an animal's edge still picks the animal


class ContrastBackend:
    """Background-difference segmentation; what it learns is learned once per run and saved.

    Parameters
    ----------
    settings : TrackSettings
        ``arena``, ``threshold``, ``low_threshold`` and ``min_area`` are read (None = learned).
    frames : FrameSource
        The whole video: the floor is sampled from all of it.
    folder : Path, optional
        The run's output folder, where ``background.npy`` and ``contrast.json`` are kept for resuming.
    """

    name = "contrast"
    WORKER_MIN_FRAMES = 100  # shorter videos are not worth starting a second process for

    def __init__(self, settings, frames, folder=None):
        self.settings, self.frames, self.folder = settings, frames, folder
        self.arena = arena_mask(settings.arena, frames.height, frames.width)
        self.arena_area = int(np.count_nonzero(self.arena))
        # what `find_blobs` masks frames with: nothing where the arena is the whole frame
        self.arena_image = None if self.arena_area == self.arena.size else self.arena.view(np.uint8)
        # learned from the first prompt of the run (or read back from the folder), then fixed
        self.model: FloorModel | None = FloorModel.load(folder, frames.height, frames.width)
        self._floor_with_levels: tuple = (None, None, None, None)  # model, high, low, and the same with those
        # Each animal's track (speed, last whole mask) on the last frame a chunk saw it, for the next
        # chunk to go on with: animals that touch across a chunk boundary keep what tells them apart.
        # Saved too, so a resumed run goes on exactly as an uninterrupted one.
        self.handover_path = Path(folder) / HANDOVER_FILE if folder is not None else None
        self.handover = load_handover(self.handover_path, (frames.height, frames.width)) if self.handover_path else {}
        # Long videos that another process can open have their blobs found there, a few frames ahead
        # (`outline_worker`). Started now, so that it starts up while the floor is learned. It decodes
        # with one thread: more would take cores from this process, which is the slower of the two
        # (faster in three of four sets of alternating runs, docs/benchmarks.md).
        reopen = frames.reopener(decoder_threads=1)
        self.worker = OutlineWorker(reopen) if reopen is not None and len(frames) >= self.WORKER_MIN_FRAMES else None

    def close(self) -> None:
        """Stop the blob-finding process, if there is one."""
        if self.worker is not None:
            self.worker.close()
            self.worker = None

    def start_session(self, frames, start: int, stop: int) -> ContrastSession:
        return ContrastSession(self, frames, start, stop)

    def describe(self) -> dict:
        return {"backend": self.name, "arena": self.settings.arena, "threshold": self.settings.threshold,
                "low_threshold": self.settings.low_threshold, "min_area": self.settings.min_area}

    def preparing(self) -> str | None:
        """What the first propagation does before its first frame, for the progress display."""
        return "learning the floor from the video" if self.model is None else None

    @property
    def dark(self) -> bool | None:
        return None if self.model is None else self.model.dark

    @property
    def threshold(self) -> float:
        return self.settings.threshold if self.settings.threshold is not None else self.model.threshold

    @property
    def min_area(self) -> int:
        if self.settings.min_area is not None:
            return self.settings.min_area
        return self.model.min_area or 1

    def floor(self) -> FloorModel:
        """The model with the settings' levels where given (made once: its floor level and gain are cached)."""
        high = self.settings.threshold if self.settings.threshold is not None else self.model.threshold
        low = self.settings.low_threshold if self.settings.low_threshold is not None else self.model.low_threshold
        if (high, low) == (self.model.threshold, self.model.low_threshold):
            return self.model
        model, *levels, floor = self._floor_with_levels
        if model is not self.model or levels != [high, low]:
            floor = FloorModel(self.model.background, self.model.dark, high, self.model.min_area, low)
            floor.__dict__["gain"] = self.model.gain  # cached_property: the same background's
            self._floor_with_levels = (self.model, high, low, floor)
        return floor

    def learn_side(self, frame_grey: np.ndarray, inside: np.ndarray) -> None:
        """On the run's first prompt: the animals' side from the prompted pixels, then the floor."""
        if self.model is None:
            dark = animals_are_dark(frame_grey, inside)
            self.model = learn_floor(self.frames, dark, self.arena)

    @property
    def learns_low_level(self) -> bool:
        return self.settings.low_threshold is None and self.model.low_threshold is None

    def learn_levels(self, frame_grey: np.ndarray, cores: list[np.ndarray]) -> None:
        """On the run's first propagation: the low level from the prompted animals' cores on a frame."""
        floor = self.floor()
        grey = normalised(frame_grey, floor.floor_level)
        level = floor.threshold if grey is None else learn_low_level(floor.contrast(grey), cores, floor.threshold,
                                                                     self.arena_image)
        self.model.low_threshold = level
        self.model.save(self.folder)

    def learn_size(self, prompt_masks: list[np.ndarray]) -> None:
        """On the run's first propagation: the smallest animal from the prompts; then save what was learned."""
        if self.model.min_area is None and prompt_masks:
            smallest = min(len(mask) for mask in prompt_masks)
            self.model.min_area = max(4, int(MIN_AREA_FRACTION * smallest))
            self.model.save(self.folder)

    def hand_over(self, frame: int, tracks: dict[int, AnimalTrack]) -> None:
        """Keep the tracks of a chunk's last frame with animals seen (and the chunk before's, in case
        this chunk is never saved and is done again)."""
        self.handover = {f: t for f, t in self.handover.items() if f < frame}
        self.handover = dict(sorted(self.handover.items())[-1:]) | {frame: tracks}
        if self.handover_path is not None:
            save_handover(self.handover_path, self.handover)

    def inherited(self, frame: int, animal: int, pixels: np.ndarray) -> AnimalTrack | None:
        """The track handed over on ``frame`` for ``animal``, if its mask there is the one given now."""
        track = self.handover.get(frame, {}).get(animal)
        if track is None or not np.array_equal(track.pixels, pixels):
            return None
        return track.copy()

    def outline_job(self, frames_in_order: list[int], min_area: int) -> OutlineJob | None:
        """The worker's outlines of ``frames_in_order``, or None where this process finds them itself."""
        if self.worker is None or len(frames_in_order) < self.WORKER_MIN_FRAMES:
            return None
        return self.worker.start(frames_in_order, self.floor(), self.arena_image, self.arena_area, min_area)

    def blobs(self, frames, frame: int, min_area: int = 0) -> Blobs:
        """The blobs of ``frame``; those too small to hold ``min_area`` pixels are left out."""
        return find_blobs(frames.read_grey(frame), self.floor(), self.arena_image, self.arena_area, min_area)


class ContrastSession:
    """Frames ``start..stop-1``: prompts are kept as given and turned into masks when propagation starts."""

    def __init__(self, backend: ContrastBackend, frames, start: int, stop: int):
        self.backend, self.frames, self.start, self.stop = backend, frames, start, stop
        self.shape = (frames.height, frames.width)
        self.points: dict[int, dict[int, tuple[np.ndarray, np.ndarray]]] = {}  # frame -> animal -> points
        self.boxes: dict[int, dict[int, np.ndarray]] = {}
        self.masks: dict[int, dict[int, np.ndarray]] = {}  # frame -> animal -> flat pixel indices
        self._resolved: dict[int, dict[int, np.ndarray]] = {}
        # frame -> animal -> the whole blobs it was clicked on together with other animals (touching)
        self._shared: dict[int, dict[int, list[np.ndarray]]] = {}
        self._last_seen: tuple[int, dict[int, AnimalTrack]] | None = None  # for `ContrastBackend.hand_over`

    # -- prompts -------------------------------------------------------------------------------------
    def add_points(self, frame, animal, points_yx, positive):
        points_yx, positive = np.asarray(points_yx, float).reshape(-1, 2), np.asarray(positive, bool)
        if self.backend.model is None:
            frame_grey = self.frames.read_grey(frame)
            inside = np.zeros(self.shape, bool)
            for y, x in points_yx[positive].round().astype(int):
                inside[max(0, y - 2) : y + 3, max(0, x - 2) : x + 3] = True
            self.backend.learn_side(frame_grey, inside)
        self.points.setdefault(frame, {})[animal] = (points_yx, positive)
        self._resolved.pop(frame, None)

    def add_box(self, frame, animal, box_xyxy):
        if self.backend.model is None:  # a run prompted by boxes alone: the animal's side from the box's
            # middle, which a box drawn around an animal has on the animal
            x0, y0, x1, y1 = np.asarray(box_xyxy, float)
            inside = np.zeros(self.shape, bool)
            cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, max(1.0, (x1 - x0) / 6), max(1.0, (y1 - y0) / 6)
            inside[max(0, int(cy - ry)) : int(cy + ry) + 1, max(0, int(cx - rx)) : int(cx + rx) + 1] = True
            self.backend.learn_side(self.frames.read_grey(frame), inside)
        self.boxes.setdefault(frame, {})[animal] = np.asarray(box_xyxy, float)
        self._resolved.pop(frame, None)

    def add_mask(self, frame, animal, mask):
        mask = np.asarray(mask, bool)
        if self.backend.model is None and mask.any():
            self.backend.learn_side(self.frames.read_grey(frame), mask)
        self.masks.setdefault(frame, {})[animal] = np.flatnonzero(mask)
        self._resolved.pop(frame, None)

    def _prompted(self, frame: int) -> dict[int, np.ndarray]:
        """Each animal prompted on ``frame``, with its mask there (masks, then boxes, then points)."""
        if frame not in self._resolved:
            prompted = dict(self.masks.get(frame, {}))
            self._shared[frame] = {}
            if self.boxes.get(frame) or self.points.get(frame):
                blobs = self.backend.blobs(self.frames, frame)
                for animal, box in self.boxes.get(frame, {}).items():
                    prompted[animal] = _blob_in_box(blobs, box, self.shape)
                if self.points.get(frame):  # a frame may hold boxes only
                    prompted.update(self._blobs_at_points(blobs, frame))
            self._resolved[frame] = prompted
        return self._resolved[frame]

    def _blobs_at_points(self, blobs: Blobs, frame: int) -> dict[int, np.ndarray]:
        """The blob each animal's positive points are on (without those its negative points are on); a
        blob clicked for several animals is split between them, seeded at their clicks (and kept in
        ``_shared``: their masks come from one blob, as when touching animals are followed, and say so)."""
        chosen: dict[int, set[int]] = {}
        clicks: dict[int, list[np.ndarray]] = {}
        for animal, (points_yx, positive) in self.points[frame].items():
            chosen[animal], refused = set(), set()
            for (y, x), is_positive in zip(points_yx, positive):
                blob = _blob_near(blobs, int(round(y)), int(round(x)))
                if is_positive and not blob:
                    raise UserInputError(
                        f"No animal stands out from the floor at the click (y={y:.0f}, x={x:.0f}) for animal "
                        f"{animal} on frame {frame}: click inside the animal's body, or give a lower "
                        f"--threshold than {self.backend.threshold:.0f} grey levels."
                    )
                (chosen[animal] if is_positive else refused).add(blob)
                if is_positive:
                    clicks.setdefault(blob, []).append(animal)
            chosen[animal] -= refused
        prompted = {}
        for animal, picked in chosen.items():
            pixels = [blobs.pixels(b) for b in sorted(picked)]
            prompted[animal] = np.concatenate(pixels) if pixels else np.zeros(0, np.intp)
        for blob, animals in clicks.items():
            animals = sorted(set(animals))
            if len(animals) > 1:
                seeds = [self._click_seed(frame, a, blob, blobs) for a in animals]
                centres = np.array([np.divmod(seed, self.shape[1]) for seed in seeds], float).mean(axis=2)
                sizes = [int(blobs.areas[blob]) // len(animals)] * len(animals)
                for animal, part in zip(animals, split_blob(blobs.pixels(blob), seeds, centres, sizes, self.shape)):
                    others = np.concatenate([blobs.pixels(b) for b in sorted(chosen[animal] - {blob})] or [part[:0]])
                    prompted[animal] = np.union1d(part, others)
                    self._shared[frame].setdefault(animal, []).append(blobs.pixels(blob))
        return prompted

    def _click_seed(self, frame: int, animal: int, blob: int, blobs: Blobs) -> np.ndarray:
        points_yx, positive = self.points[frame][animal]
        rows, cols = points_yx[positive].round().astype(int).T
        on_blob = blobs.labels[rows.clip(0, self.shape[0] - 1), cols.clip(0, self.shape[1] - 1)] == blob
        return rows[on_blob] * self.shape[1] + cols[on_blob]

    # -- propagation ---------------------------------------------------------------------------------
    def propagate(self, from_frame: int, reverse: bool = False) -> Iterator[FramePrediction]:
        order = range(from_frame, self.start - 1, -1) if reverse else range(from_frame, self.stop)
        animals = tuple(sorted({a for by_frame in (self.points, self.boxes, self.masks)
                                for prompts in by_frame.values() for a in prompts}))
        if not animals:
            return
        prompt_frames = sorted({*self.points, *self.boxes, *self.masks})
        if self.backend.learns_low_level:
            # the prompts were found at the high level alone: their cores, to learn the low level from
            first = prompt_frames[0]
            self.backend.learn_levels(self.frames.read_grey(first), list(self._prompted(first).values()))
            self._resolved.clear()
        self.backend.learn_size([m for f in prompt_frames for m in self._prompted(f).values() if len(m)])
        min_area = self.backend.min_area

        # frames on which every animal is prompted need no segmentation (the chunk's carried frame)
        to_segment = [f for f in order if f not in prompt_frames or len(self._prompted(f)) < len(animals)]
        job = self.backend.outline_job(to_segment, min_area)
        tracks: dict[int, AnimalTrack] = {}
        for frame in order:
            prompted = self._prompted(frame) if frame in prompt_frames else {}
            for animal, pixels in prompted.items():
                tracks[animal] = self._track_from_prompt(frame, animal, pixels, reverse)
            followed = {a: t for a, t in tracks.items() if a not in prompted}
            scores = np.zeros(len(animals), np.float32)
            claims: list[tuple] = [()] * len(animals)  # row -> its (pixels, logit) pairs, see FramePrediction
            if followed:
                if job is not None:
                    blobs = blobs_from_outlines(job.get(frame), self.shape)
                else:
                    blobs = self.backend.blobs(self.frames, frame, min_area)
                for pixels in prompted.values():
                    blobs.forget(pixels)  # a prompted animal's pixels are no one else's
                parts, shared = assign_blobs(blobs, followed, min_area, self.shape)
                for animal, track in followed.items():
                    row = animals.index(animal)
                    claims[row] = (*((blob, SHARED) for blob in shared.get(animal, ())), (parts[animal], OWN))
                    track.update(parts[animal], shared.get(animal, ()))
                    scores[row] = (0.0 if not len(parts[animal]) else SCORE_SHARED if animal in shared
                                   else SCORE_RESIZED if track.resized else SCORE_ALONE)
            shared_prompt = self._shared.get(frame, {}) if prompted else {}
            for animal, pixels in prompted.items():
                # a click says which animal a blob is, not that it is one animal: the score and the claims
                # say what the masks are, as on the frames followed
                together = shared_prompt.get(animal, ())
                claims[animals.index(animal)] = (*((blob, SHARED) for blob in together), (pixels, OWN))
                scores[animals.index(animal)] = 0.0 if not len(pixels) else SCORE_SHARED if together else SCORE_ALONE
            if not reverse and scores.any():
                self._last_seen = (frame, {a: t.copy() for a, t in tracks.items()})
            bounds = np.array([bounding_box([pixels for pixels, _ in pairs], self.shape[1]) for pairs in claims])
            yield FramePrediction(frame, animals, None, scores, bounds, claims=tuple(claims))

    def _track_from_prompt(self, frame: int, animal: int, pixels: np.ndarray, reverse: bool) -> AnimalTrack:
        """A fresh track, or the one the chunk before handed over where this is its carried mask."""
        carried = frame in self.masks and animal in self.masks[frame] and not reverse
        inherited = self.backend.inherited(frame, animal, pixels) if carried else None
        return inherited or AnimalTrack(pixels, self.shape)

    def close(self) -> None:
        if self._last_seen is not None:
            self.backend.hand_over(*self._last_seen)
            self._last_seen = None
        self.points.clear()
        self.boxes.clear()
        self.masks.clear()
        self._resolved.clear()
        self._shared.clear()


def _blob_near(blobs: Blobs, y: int, x: int) -> int:
    """The blob under ``(y, x)``, else the nearest one within `PROMPT_REACH` pixels; 0 for none."""
    height, width = blobs.labels.shape
    y0, y1, x0, x1 = max(0, y - PROMPT_REACH), min(height, y + PROMPT_REACH + 1), max(0, x - PROMPT_REACH), min(width, x + PROMPT_REACH + 1)
    window = blobs.labels[y0:y1, x0:x1]
    if 0 <= y < height and 0 <= x < width and blobs.labels[y, x]:
        return int(blobs.labels[y, x])
    rows, cols = np.nonzero(window)
    if not len(rows):
        return 0
    nearest = np.argmin(np.hypot(rows + y0 - y, cols + x0 - x))
    return int(window[rows[nearest], cols[nearest]])


def _blob_in_box(blobs: Blobs, box_xyxy: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The pixels, inside a detector's box, of the blob that fills most of the box."""
    x0, y0, x1, y1 = (int(round(v)) for v in box_xyxy)
    y0, x0, y1, x1 = max(0, y0), max(0, x0), min(shape[0], y1), min(shape[1], x1)
    window = blobs.labels[y0:y1, x0:x1]
    counts = np.bincount(window.ravel(), minlength=len(blobs.areas))
    counts[0] = 0
    if not counts.any():
        return np.zeros(0, np.intp)
    rows, cols = np.nonzero(window == int(np.argmax(counts)))
    return (rows + y0) * shape[1] + cols + x0
