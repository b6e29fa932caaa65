"""Detector boxes on every frame, linked into a fixed number of identities (the Segment Any Video way).

ultralytics' own multi-object trackers (ByteTrack, BoT-SORT) link each frame's boxes into tracks. A
tracker starts a new track id whenever it loses an animal for longer than it can bridge (an occlusion, a
missed detection run), so its ids are not identities. Here a track keeps the identity it was first given;
a track without one is given an identity whose track is not on this frame, by the same global assignment
that matches detections to animals at chunk starts (`assign_detections`, on position and size), never a
new label. Tracks left over when every identity is taken are ignored, and recorded as such; only a
track that has been clearly more confident than an identity's track for a while takes that identity over
(a still object detected on the first frames, where an animal was missed, gives its identity up so).

The linking is a function of the boxes alone (not of the masks), so a resumed run links the frames it
skips again and reaches the very identities it had.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...core.geometry import box_centre
from .assignment import assign_detections
from .detector import Detector, detect_frame

# tracker options offered as settings; the rest keep their yaml defaults
# an ignored track takes over the identity of the least confident track when its mean confidence is this
# much higher, over at least this many frames
TAKEOVER_MARGIN, TAKEOVER_FRAMES = 0.15, 5
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


@dataclass
class IgnoredTrack:
    """A track that got no identity (every identity was taken): first and last frame it was seen on."""

    first: int
    last: int


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
        A new track is given a lost identity only within this many pixels of where it was last seen;
        half the frame's diagonal by default (the gate the chunk-start assignment uses).
    """

    def __init__(self, detector: Detector, kind: str, animals, options=None, max_distance=None):
        self.detector, self.kind, self.animals = detector, kind, list(animals)
        self.tracker = make_tracker(kind, options)
        self.max_distance = max_distance
        self.next_frame = 0
        self.identity_of: dict[int, int] = {}  # track id -> identity
        self.last_box: dict[int, np.ndarray | None] = dict.fromkeys(self.animals)
        self.ignored: dict[int, IgnoredTrack] = {}
        self.boxes_seen = 0
        self._confidence: dict[int, tuple[float, int]] = {}  # track id -> (summed score, frames seen)

    def link(self, frames, frame: int) -> dict[int, LinkedBox]:
        """Identity -> its box on ``frame``; frames must be linked in order, from 0."""
        if frame != self.next_frame:
            raise ValueError(f"frames are linked in order: expected frame {self.next_frame}, got {frame}")
        self.next_frame += 1
        found = detect_frame(self.detector, frames, frame)
        self.boxes_seen += len(found)
        boxes = _Boxes(found.boxes, found.confidences, found.classes())
        image = None
        if self.kind == "botsort" and self.tracker.args.gmc_method != "none":
            # its camera-motion compensation reads the frame (BGR, as ultralytics gives it)
            image = np.ascontiguousarray(frames.read(frame)[..., ::-1])
        rows = self.tracker.update(boxes, image) if len(boxes) or self.tracker.frame_id else np.zeros((0, 8))
        rows = np.asarray(rows, np.float64).reshape(-1, 8)
        linked: dict[int, LinkedBox] = {}
        waiting = []  # rows of tracks with no identity yet
        for row in rows:
            track_id = int(row[4])
            total, count = self._confidence.get(track_id, (0.0, 0))
            self._confidence[track_id] = (total + float(row[5]), count + 1)
            identity = self.identity_of.get(track_id)
            if identity is None or identity in linked:
                waiting.append(row)
            else:
                linked[identity] = self._linked(row, found)
        if waiting:
            self._give_identities(waiting, linked, found, frames, frame)
        for identity, linked_box in linked.items():
            self.last_box[identity] = linked_box.box
        return linked

    def _linked(self, row, found) -> LinkedBox:
        """The detection the track took on this frame: its own box prompts, not the tracker's smoothed
        one (a Kalman filter's box lags and swells when an animal turns or jumps)."""
        index = int(row[7])
        if 0 <= index < len(found):
            return LinkedBox(found.boxes[index].copy(), int(row[4]), float(row[5]), float(found.confidences[index]),
                             int(row[6]))
        return LinkedBox(row[:4].copy(), int(row[4]), float(row[5]), float(row[5]), int(row[6]))

    def _give_identities(self, waiting, linked, found, frames, frame):
        """Free identities to waiting tracks: those with a known position by the global assignment, those
        never seen to the most confident tracks left; the rest are ignored."""
        free = [a for a in self.animals if a not in linked]
        max_distance = self.max_distance or 0.5 * float(np.hypot(frames.height, frames.width))
        seen = {a: self._expected_box(a) for a in free if self.last_box[a] is not None}
        boxes = np.array([row[:4] for row in waiting]).reshape(-1, 4)
        scores = np.array([row[5] for row in waiting])
        taken = set()
        if seen:
            centres = {a: box_centre(b) for a, b in seen.items()}
            for identity, match in assign_detections(seen, centres, boxes, scores, max_distance=max_distance).items():
                self._bind(waiting[match.detection], identity, linked, found)
                taken.add(match.detection)
        never_seen = [a for a in free if self.last_box[a] is None]
        for i in np.argsort(-scores, kind="stable"):
            if i in taken:
                continue
            if never_seen:
                self._bind(waiting[i], never_seen.pop(0), linked, found)
                continue
            weakest = min(linked, key=lambda a: self._mean_confidence(linked[a].track_id), default=None)
            track_id = int(waiting[i][4])
            if weakest is not None and self._takes_over(track_id, linked[weakest].track_id):
                self._ignore(linked[weakest].track_id, frame)
                self._bind(waiting[i], weakest, linked, found)
                continue
            self._ignore(track_id, frame)

    def _expected_box(self, identity: int) -> np.ndarray:
        """Where an identity is expected: its lost track's box as the tracker's motion model carries it on
        (an animal that ran out of its track keeps going), else where it was last linked."""
        held = [t for t, a in self.identity_of.items() if a == identity]
        for track in self.tracker.lost_stracks:
            if held and track.track_id == held[0]:
                return np.asarray(track.xyxy, float)
        return self.last_box[identity]

    def _mean_confidence(self, track_id: int) -> float:
        total, count = self._confidence.get(track_id, (0.0, 1))
        return total / count

    def _takes_over(self, track_id: int, holder: int) -> bool:
        return (self._confidence[track_id][1] >= TAKEOVER_FRAMES
                and self._mean_confidence(track_id) >= self._mean_confidence(holder) + TAKEOVER_MARGIN)

    def _ignore(self, track_id: int, frame: int) -> None:
        ignored = self.ignored.setdefault(track_id, IgnoredTrack(frame, frame))
        ignored.last = frame

    def _bind(self, row, identity, linked, found):
        # the identity's earlier track gives it up: one track per identity, so a track that comes back
        # after its identity has moved on is a waiting track like any other
        self.identity_of = {t: a for t, a in self.identity_of.items() if a != identity}
        self.identity_of[int(row[4])] = identity
        linked[identity] = self._linked(row, found)


@dataclass
class LinkedChunk:
    """Each frame's linked boxes for one chunk: frame -> identity -> `LinkedBox`."""

    boxes: dict[int, dict[int, LinkedBox]] = field(default_factory=dict)


class LinkSchedule:
    """The linked boxes of each chunk, for the tracker; on resume the skipped frames are linked again."""

    def __init__(self, linker: BoxLinker, frames):
        self.linker, self.frames = linker, frames

    def for_chunk(self, chunk) -> LinkedChunk:
        while self.linker.next_frame < chunk.start:  # frames of chunks an earlier run finished
            self.linker.link(self.frames, self.linker.next_frame)
        return LinkedChunk({f: self.linker.link(self.frames, f) for f in range(chunk.start, chunk.stop)})
