"""Detector boxes on every frame, linked into a fixed number of identities (the Segment Any Video way).

ultralytics' own multi-object trackers (ByteTrack, BoT-SORT) link each frame's boxes into tracks; which
track is which animal is decided by `identities.Identities`, since a tracker's ids are not identities
(it starts a new id after every occlusion it cannot bridge). Its unconfirmed tracks (a box it saw for the
first time) are given there too: an animal that moves further than its box between frames starts a new
track on every frame, and such a box is still the best evidence of where the animal is.

The linking is a function of the boxes alone (not of the masks), so a resumed run links the frames it
skips again and reaches the very identities it had.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .detector import Detector, detect_frame
from .identities import Identities, IgnoredTrack, TrackedBox

# tracker options offered as settings; the rest keep their yaml defaults
TRACKER_OPTIONS = (
    "track_high_thresh", "track_low_thresh", "new_track_thresh", "track_buffer", "match_thresh", "gmc_method",
)


@dataclass(frozen=True)
class LinkedBox:
    """One identity's box on one frame: the tracker's track, its score and the detection's class."""

    box: np.ndarray
    track_id: int
    score: float
    confidence: float
    class_id: int


class _Boxes:
    """The results-like object ultralytics' trackers take: ``xyxy, xywh, conf, cls``, boolean indexing."""

    def __init__(self, xyxy, conf, cls):
        self.xyxy = np.asarray(xyxy, np.float32).reshape(-1, 4)
        self.conf = np.asarray(conf, np.float32).reshape(-1)
        self.cls = np.asarray(cls, np.float32).reshape(-1)

    @property
    def xywh(self) -> np.ndarray:
        x0, y0, x1, y1 = self.xyxy.T
        return np.stack([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0], axis=1)

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, index) -> _Boxes:
        return _Boxes(self.xyxy[index], self.conf[index], self.cls[index])


def make_tracker(kind: str, options: dict | None = None):
    """An ultralytics ``BYTETracker`` or ``BOTSORT`` with its own yaml defaults, ``options`` over them."""
    from ultralytics.trackers import BOTSORT, BYTETracker
    from ultralytics.utils import ROOT, YAML, IterableSimpleNamespace

    config = YAML.load(ROOT / "cfg" / "trackers" / f"{kind}.yaml")
    config.update(options or {})
    tracker_class = {"bytetrack": BYTETracker, "botsort": BOTSORT}[kind]
    return tracker_class(IterableSimpleNamespace(**config))


class BoxLinker:
    """Links a detector's boxes frame by frame into identities ``animals``.

    Parameters
    ----------
    detector : Detector
        Boxes for every frame.
    kind : str
        ``"bytetrack"`` or ``"botsort"``.
    animals : list of int
        The identities (labels) to keep.
    options : dict, optional
        Tracker options over the yaml defaults.
    max_distance : float, optional
        A box is an identity's only within this many pixels of where it was last seen; half the frame's
        diagonal by default (the gate the chunk-start assignment uses).
    """

    def __init__(self, detector: Detector, kind: str, animals, options=None, max_distance=None):
        self.detector, self.kind, self.animals = detector, kind, list(animals)
        self.tracker = make_tracker(kind, options)
        self.max_distance = max_distance
        self.identities: Identities | None = None  # made on the first frame, when the frame size is known
        self.next_frame = 0
        self.boxes_seen = 0

    @property
    def ignored(self) -> dict[int, IgnoredTrack]:
        """Track id -> the first and last frame a confirmed track was left over (no identity took its box)."""
        return self.identities.ignored if self.identities is not None else {}

    def link(self, frames, frame: int) -> dict[int, LinkedBox]:
        """Identity -> its box on ``frame``; frames must be linked in order, from 0."""
        if frame != self.next_frame:
            raise ValueError(f"frames are linked in order: expected frame {self.next_frame}, got {frame}")
        if self.identities is None:
            diagonal = float(np.hypot(frames.height, frames.width))
            self.identities = Identities(self.animals, self.max_distance or 0.5 * diagonal)
        self.next_frame += 1
        found = detect_frame(self.detector, frames, frame)
        self.boxes_seen += len(found)
        boxes = _Boxes(found.boxes, found.confidences, found.classes())
        image = None
        if self.kind == "botsort" and self.tracker.args.gmc_method != "none":
            # its camera-motion compensation reads the frame (BGR, as ultralytics gives it)
            image = np.ascontiguousarray(frames.read(frame)[..., ::-1])
        rows = self.tracker.update(boxes, image) if len(boxes) or self.tracker.frame_id else np.zeros((0, 8))
        linked = [self._linked(row, found) for row in np.asarray(rows, np.float64).reshape(-1, 8)]
        confirmed = len(linked)
        linked += [self._linked(row, found) for row in self._new_tracks({b.track_id for b in linked})]
        tracked = [TrackedBox(b.track_id, b.box, b.score, i < confirmed) for i, b in enumerate(linked)]
        return {identity: linked[i] for identity, i in self.identities.assign(frame, tracked).items()}

    def _new_tracks(self, output: set[int]) -> list[np.ndarray]:
        """Rows (as the tracker's output) of the tracks it started on this frame and does not output yet
        (ultralytics keeps them, unconfirmed, in ``tracked_stracks``; BOTSORT is a BYTETracker there)."""
        return [
            np.array([*track.xyxy, track.track_id, track.score, track.cls, track.idx], np.float64)
            for track in self.tracker.tracked_stracks
            if not track.is_activated and track.track_id not in output and track.frame_id == self.tracker.frame_id
        ]

    def _linked(self, row, found) -> LinkedBox:
        """The detection the track took on this frame: its own box prompts, not the tracker's smoothed
        one (a Kalman filter's box lags and swells when an animal turns or jumps)."""
        index = int(row[7])
        if 0 <= index < len(found):
            return LinkedBox(found.boxes[index].copy(), int(row[4]), float(row[5]), float(found.confidences[index]),
                             int(row[6]))
        return LinkedBox(row[:4].copy(), int(row[4]), float(row[5]), float(row[5]), int(row[6]))


@dataclass
class LinkedChunk:
    """Each frame's linked boxes for one chunk (frame -> identity -> `LinkedBox`), and the close calls of
    its identity assignments, kept for the review as a detector-prompted chunk keeps its own."""

    boxes: dict[int, dict[int, LinkedBox]] = field(default_factory=dict)
    assignments: list[dict] = field(default_factory=list)


class LinkSchedule:
    """The linked boxes of each chunk, for the tracker; on resume the skipped frames are linked again."""

    def __init__(self, linker: BoxLinker, frames):
        self.linker, self.frames = linker, frames

    def for_chunk(self, chunk) -> LinkedChunk:
        while self.linker.next_frame < chunk.start:  # frames of chunks an earlier run finished
            self.linker.link(self.frames, self.linker.next_frame)
        linked = LinkedChunk()
        for frame in range(chunk.start, chunk.stop):
            linked.boxes[frame] = self.linker.link(self.frames, frame)
            linked.assignments += self.linker.identities.close_calls
        return linked
