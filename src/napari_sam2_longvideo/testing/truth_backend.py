"""A deterministic backend that follows a generated clip's truth, for exact tests of the tracker.

It behaves as a perfect but honest segmenter: a prompt binds an animal to the ellipse it touches, and
from then on that animal gets that ellipse. It does not know the animals' ids in advance, so an
identity mistake made by the tracker (a mask carried under the wrong label, a detection assigned to the
wrong animal) is followed faithfully and shows up in the labels. ``lose`` makes it fail on purpose.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..engine.backends.base import FramePrediction
from .synthetic import SyntheticClip

INSIDE, HIDDEN, OUTSIDE = 5.0, 1.0, -5.0


class TruthBackend:
    """Sessions that answer from ``clip``'s truth.

    Parameters
    ----------
    clip : SyntheticClip
        The generated video the sessions run on.
    lose : dict, optional
        ``{ellipse: (first_frame, stop_frame)}`` (ellipse numbered from 1): the backend returns an empty
        mask for that ellipse on those frames, whatever the prompts, as SAM2 does when it loses an
        animal behind an obstacle.
    forget : dict, optional
        ``{ellipse: frame}``: from that frame on, an animal bound to the ellipse by a prompt on an
        earlier frame gets an empty mask, as when SAM2's memory loses track of an animal. A new prompt on
        a later frame (a user's click, a detector's box) binds it again for good.
    fuse : dict, optional
        ``{frame: (a, b)}`` (ellipses numbered from 1): on that frame the backend takes the two touching
        ellipses for one animal, as SAM2 can: the animal bound to ``a`` gets the mask of both, the one
        bound to ``b`` gets none, whatever the prompts.
    """

    name = "truth"

    def __init__(
        self,
        clip: SyntheticClip,
        lose: dict[int, tuple[int, int]] | None = None,
        forget: dict[int, int] | None = None,
        fuse: dict[int, tuple[int, int]] | None = None,
    ):
        self.clip = clip
        self.lose = dict(lose or {})
        self.forget = dict(forget or {})
        self.fuse = dict(fuse or {})
        self.sessions: list[TruthSession] = []

    def start_session(self, frames, start: int, stop: int) -> TruthSession:
        session = TruthSession(self, start, stop)
        self.sessions.append(session)
        return session

    def describe(self) -> dict:
        return {"backend": self.name, "lose": {str(k): list(v) for k, v in self.lose.items()}}

    def close(self) -> None:
        """Nothing to free."""

    def is_lost(self, ellipse: int, frame: int) -> bool:
        window = self.lose.get(ellipse)
        return window is not None and window[0] <= frame < window[1]


class TruthSession:
    """One window of frames; records what it was asked, for tests to inspect."""

    def __init__(self, backend: TruthBackend, start: int, stop: int):
        self.backend = backend
        self.start, self.stop = start, stop
        self.binding: dict[int, int | None] = {}
        self.bound_at: dict[int, int] = {}  # animal -> frame of the prompt that bound it
        self.prompt_log: list[tuple[str, int, int]] = []
        self.propagations: list[tuple[int, bool]] = []

    def _visible(self, frame: int, ellipse: int) -> np.ndarray:
        if self.backend.is_lost(ellipse, frame):
            return np.zeros(self.backend.clip.truth.shape[1:], bool)
        return self.backend.clip.truth[frame] == ellipse

    def _forgotten(self, animal: int, frame: int) -> bool:
        since = self.backend.forget.get(self.binding[animal])
        return since is not None and self.bound_at[animal] < since <= frame

    def add_points(self, frame, animal, points_yx, positive):
        self.prompt_log.append(("points", frame, animal))
        self.bound_at[animal] = frame
        full = self.backend.clip.full_masks[frame]
        votes = np.zeros(full.shape[0], int)
        for (y, x), is_positive in zip(np.asarray(points_yx), np.asarray(positive)):
            inside = full[:, int(round(y)), int(round(x))]
            votes += np.where(inside, 1 if is_positive else -1, 0)
        best = int(np.argmax(votes))
        self.binding[animal] = best + 1 if votes[best] > 0 else None

    def add_box(self, frame, animal, box_xyxy):
        self.prompt_log.append(("box", frame, animal))
        self.bound_at[animal] = frame
        from ..core.geometry import box_iou, mask_box

        candidates = []
        for k in range(1, self.backend.clip.num_animals + 1):
            visible = mask_box(self._visible(frame, k))
            if visible is not None:
                candidates.append((box_iou(visible, box_xyxy)[0, 0], k))
        iou, ellipse = max(candidates, default=(0.0, None))
        self.binding[animal] = ellipse if iou > 0 else None

    def add_mask(self, frame, animal, mask):
        self.prompt_log.append(("mask", frame, animal))
        self.bound_at[animal] = frame
        overlaps = [
            (np.logical_and(mask, self._visible(frame, k)).sum(), k)
            for k in range(1, self.backend.clip.num_animals + 1)
        ]
        pixels, ellipse = max(overlaps)
        self.binding[animal] = ellipse if pixels > 0 else None

    def propagate(self, from_frame: int, reverse: bool = False) -> Iterator[FramePrediction]:
        self.propagations.append((from_frame, reverse))
        order = range(from_frame, self.start - 1, -1) if reverse else range(from_frame, self.stop)
        animals = tuple(sorted(self.binding))
        clip = self.backend.clip
        for frame in order:
            logits = np.full((len(animals),) + clip.truth.shape[1:], OUTSIDE, np.float32)
            scores = np.zeros(len(animals), np.float32)
            for i, animal in enumerate(animals):
                ellipse = self.binding[animal]
                if ellipse is None or self.backend.is_lost(ellipse, frame) or self._forgotten(animal, frame):
                    continue
                fused = self.backend.fuse.get(frame, ())
                if fused and ellipse == fused[1]:
                    continue  # taken into the other one's mask
                taken = fused if fused and ellipse == fused[0] else (ellipse,)
                for part in taken:
                    logits[i][clip.full_masks[frame, part - 1]] = HIDDEN
                for part in taken:
                    logits[i][clip.truth[frame] == part] = INSIDE
                scores[i] = 1.0
            yield FramePrediction(frame, animals, logits, scores)

    def close(self):
        self.binding.clear()


class TruthDetector:
    """A detector that sees the clip's visible ellipses, listed in a shuffled order.

    Parameters
    ----------
    clip : SyntheticClip
        The generated video.
    miss : dict, optional
        ``{ellipse: (first_frame, stop_frame)}`` where the detector does not see that ellipse.
    extra_box : tuple, optional
        A box ``(x0, y0, x1, y1)`` reported on every frame though no animal is there.
    seed : int
        Seed of the shuffling.
    """

    def __init__(self, clip: SyntheticClip, miss=None, extra_box=None, seed: int = 0):
        self.clip, self.miss, self.extra_box = clip, dict(miss or {}), extra_box
        self.rng = np.random.default_rng(seed)
        self.frames_seen: list[int] = []

    def detect(self, image: np.ndarray, frame: int | None = None):
        from ..core.geometry import mask_box
        from ..engine.detection.detector import Detections

        frame = self._frame_of(image)  # from the pixels, even when told: a test of what the tracker reads
        self.frames_seen.append(frame)
        boxes = []
        for ellipse in range(1, self.clip.num_animals + 1):
            window = self.miss.get(ellipse)
            box = mask_box(self.clip.truth[frame] == ellipse)
            if box is not None and not (window and window[0] <= frame < window[1]):
                boxes.append(box)
        if self.extra_box is not None:
            boxes.append(np.asarray(self.extra_box, float))
        order = self.rng.permutation(len(boxes))
        confidences = np.linspace(0.95, 0.6, len(boxes))  # confidence says nothing of identity
        return Detections(np.array([boxes[i] for i in order]).reshape(-1, 4), confidences)

    def _frame_of(self, image: np.ndarray) -> int:
        """Which frame of the clip this image is (the frames are all different)."""
        differences = np.abs(self.clip.frames.astype(np.int16) - image.astype(np.int16)).sum(axis=(1, 2, 3))
        return int(np.argmin(differences))
