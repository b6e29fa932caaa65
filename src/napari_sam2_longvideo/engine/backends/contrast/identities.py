"""Which blob is which animal: each animal's recent mask and speed, and the assignment of blobs to animals.

Blobs go to the animals whose expected masks (their last masks moved on at their speed) they overlap,
one blob per animal by a global assignment where there are enough blobs; animals that overlap no blob
take the nearest free ones; a blob that several animals need is split between them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from ....core.geometry import centre
from ....io.files import write_atomically
from . import sizes
from .blobs import Blobs, shifted
from .touching import split_blob

# Pixels on a body's outline per square root of its area (a square's; an ellipse's or a mouse's are
# fewer): an expected mask off its blob by more than that is more than a pixel out all round.
OUTLINE = 4.0


class AnimalTrack:
    """An animal's last mask, its last whole mask, where it was last seen, and its speed.

    While animals touch, each is expected where its last whole mask (from the last frame it had a blob
    of its own), placed at its last centre moved on at its speed, would be: a part cut from a shared
    blob is no guide to the animal's size, and seeding from it lets one part grow frame after frame
    until the other vanishes. Nor is the part's centre the animal's: while touching, its centre and speed
    follow the part filled in with where it was expected under the others (`_body_centre`).

    Parameters
    ----------
    pixels : numpy.ndarray
        Its mask (flat pixel indices) on the frame it starts from.
    shape : tuple of int
        ``(height, width)`` of the video.
    """

    def __init__(self, pixels: np.ndarray, shape: tuple[int, int]):
        self.shape = shape
        self.restart(pixels)

    def restart(self, pixels: np.ndarray) -> AnimalTrack:
        """Start again from a prompt: where it is now is known, its speed is not."""
        self.pixels = self.whole = pixels
        self._whole_cols = None
        self.velocity = np.zeros(2)
        self.seen = len(pixels) > 0
        self.centre = self.whole_centre = centre(pixels, self.shape[1]) if self.seen else None
        self.areas = np.array([len(pixels)] if self.seen else [], np.int64)  # alone, latest last
        self._typical = None
        self.resized = False
        return self

    @property
    def typical_area(self) -> float | None:
        """The median area over its last frames alone (`sizes.HISTORY`); None before any."""
        if self._typical is None or self._typical[0] is not self.areas:  # worked out once per frame
            self._typical = (self.areas, float(np.median(self.areas)) if len(self.areas) else None)
        return self._typical[1]

    @property
    def size(self) -> int:
        return len(self.pixels)

    def predicted_centre(self) -> np.ndarray:
        return self.centre + self.velocity if self.centre is not None else centre(self.pixels, self.shape[1])

    def expected(self) -> np.ndarray:
        """Where the animal should be on the next frame: its whole mask at its centre moved on."""
        if self.centre is None:
            return self.pixels
        shift = self.centre + self.velocity - self.whole_centre
        if np.abs(shift).max() < 0.5:
            return self.whole
        if self._whole_cols is None:
            self._whole_cols = self.whole % self.shape[1]
        return shifted(self.whole, shift, self.shape, self._whole_cols)

    def update(self, part: np.ndarray, shared_blobs: Sequence[np.ndarray] = ()) -> None:
        """Take this frame's part of the animal; empty means not seen.

        Parameters
        ----------
        part : numpy.ndarray
            Flat indices of the animal's pixels on this frame: all of it when it is alone, else its
            part of the blobs it shares.
        shared_blobs : sequence of numpy.ndarray
            The whole blobs it shares with other animals (none when it is alone).
        """
        if not len(part):
            # unseen: where it went and how fast is unknown, so the speed is forgotten; its last mask
            # stays, for a blob that appears there to find it
            self.velocity[:] = 0
            self.seen = self.resized = False
            return
        alone = not len(shared_blobs)
        now = centre(part, self.shape[1]) if alone else self._body_centre(part, np.concatenate(shared_blobs))
        if self.seen:
            step = now - self.centre
            # a step longer than a quarter of the body is a jump (dropped frames) or a mask that changed
            # shape, not a speed
            limit = 0.25 * np.sqrt(max(len(self.whole), 1))
            step *= min(1.0, limit / max(float(np.hypot(*step)), 1e-9))
            self.velocity = 0.5 * self.velocity + 0.5 * step
        self.pixels, self.centre, self.seen = part, now, True
        self.resized = alone and sizes.is_resized(len(part), self.typical_area)
        if alone:
            self.whole, self.whole_centre, self._whole_cols = part, now, None
            self.areas = sizes.remembered(self.areas, len(part))

    def _body_centre(self, part: np.ndarray, blob: np.ndarray) -> np.ndarray:
        """The animal's centre while it shares ``blob``: that of its part, with as much of the rest of
        its whole area filled in as the blob has where the animal was expected.

        A part is the animal less the overlaps that went to the others, so its centre lies away from
        them and, as they close in, behind where the animal went. Taken as the animal's centre it slows
        the speed and moves the next expected mask away, which leaves the next part less of the animal:
        a loop in which, of three animals crossing at once, one is squeezed out or two change places.

        Only the missing area is filled in, and only while the expected mask lies on the blob give or
        take its outline: then the prediction is borne out and what the part lacks is under the others.
        Where the expected mask spills onto the floor, the animal turned, reared, stopped short or (at a
        low frame rate) jumped, and its part is the better guide; filling in there swaps the two mice of
        the real clip around frame 906.
        """
        width = self.shape[1]
        missing = len(self.whole) - len(part)
        if missing <= 0:
            return centre(part, width)
        expected = self.expected()
        on_blob = np.intersect1d(expected, blob, assume_unique=True)
        if len(expected) - len(on_blob) > OUTLINE * np.sqrt(len(expected)):
            return centre(part, width)
        hidden = np.setdiff1d(on_blob, part, assume_unique=True)
        weight = min(len(hidden), missing)
        if not weight:
            return centre(part, width)
        return (len(part) * centre(part, width) + weight * centre(hidden, width)) / (len(part) + weight)

    def copy(self) -> AnimalTrack:
        twin = object.__new__(AnimalTrack)
        twin.__dict__.update(self.__dict__, velocity=self.velocity.copy(), areas=self.areas.copy())
        return twin

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        known = self.centre is not None
        return {
            f"{prefix}pixels": self.pixels, f"{prefix}whole": self.whole, f"{prefix}areas": self.areas,
            f"{prefix}motion": np.concatenate([self.velocity, self.centre if known else [np.nan] * 2,
                                               self.whole_centre if known else [np.nan] * 2, [self.seen]]),
        }

    @classmethod
    def from_arrays(cls, arrays, prefix: str, shape: tuple[int, int]) -> AnimalTrack:
        track = cls(arrays[f"{prefix}whole"], shape)
        motion = arrays[f"{prefix}motion"]
        track.pixels, track.velocity, track.seen = arrays[f"{prefix}pixels"], motion[:2].copy(), bool(motion[6])
        if f"{prefix}areas" in arrays:  # saved before sizes were kept: the whole mask's area alone
            track.areas = arrays[f"{prefix}areas"].astype(np.int64)
        if track.centre is not None:
            track.centre, track.whole_centre = motion[2:4].copy(), motion[4:6].copy()
        return track


def save_handover(path: Path, handover: dict[int, dict[int, AnimalTrack]]) -> None:
    """Write the tracks handed from chunk to chunk (frame -> animal -> track) to one ``.npz`` file."""
    arrays = {}
    for frame, tracks in handover.items():
        for animal, track in tracks.items():
            arrays.update(track.to_arrays(f"{frame}_{animal}_"))
    write_atomically(path, lambda handle: np.savez(handle, **arrays))


def load_handover(path: Path, shape: tuple[int, int]) -> dict[int, dict[int, AnimalTrack]]:
    """What `save_handover` wrote; empty where there is nothing (readable) to resume from."""
    handover: dict[int, dict[int, AnimalTrack]] = {}
    try:
        with np.load(path) as arrays:
            for key in arrays.files:
                frame, animal, field = key.split("_")
                if field == "motion":
                    prefix = f"{frame}_{animal}_"
                    handover.setdefault(int(frame), {})[int(animal)] = AnimalTrack.from_arrays(arrays, prefix, shape)
    except (OSError, ValueError, KeyError):
        return {}
    return handover


def assign_blobs(
    blobs: Blobs, tracks: dict[int, AnimalTrack], min_area: int, shape: tuple[int, int]
) -> tuple[dict[int, np.ndarray], dict[int, list[np.ndarray]]]:
    """This frame's pixels of each animal in ``tracks``.

    Returns
    -------
    parts : dict
        Animal -> flat indices of its pixels (empty where it has no blob).
    shared : dict
        Animal -> the whole blobs it shares with other animals (touching animals), for animals that do.
    """
    animals = list(tracks)
    big = blobs.big(min_area)
    expected = {a: tracks[a].expected() for a in animals}
    # the last mask too: an animal that stopped short of where it was expected is still on its blob
    overlap = np.array([np.maximum(blobs.overlaps(expected[a]), blobs.overlaps(tracks[a].pixels))[big]
                        for a in animals]).reshape(len(animals), len(big))
    claims = claim_blobs(overlap, lambda rows, cols: _stray_costs(blobs, big, rows, cols, animals, tracks))

    parts = {a: np.zeros(0, np.intp) for a in animals}
    shared: dict[int, list[np.ndarray]] = {}
    for col, rows in sorted(claims.items()):
        pixels = blobs.pixels(int(big[col]))
        if len(rows) == 1:
            parts[animals[rows[0]]] = np.concatenate([parts[animals[rows[0]]], pixels])
            continue
        claimants = [animals[r] for r in rows]
        split = split_blob(pixels, [expected[a] for a in claimants],
                           np.array([tracks[a].predicted_centre() for a in claimants]),
                           [max(len(tracks[a].whole), 1) for a in claimants], shape)
        for animal, part in zip(claimants, split):
            parts[animal] = np.concatenate([parts[animal], part])
            shared.setdefault(animal, []).append(pixels)
    for animal in animals:
        if animal not in shared:  # alone: a mask that outgrew the animal spilled onto the floor
            parts[animal] = sizes.trimmed(parts[animal], tracks[animal].typical_area, shape)
    return parts, shared


def claim_blobs(overlap: np.ndarray, stray_costs) -> dict[int, list[int]]:
    """Blob column -> the animal rows it belongs to, from ``overlap`` (animals x blobs, in pixels).

    1. Animals take distinct blobs they overlap, by a global assignment on overlap.
    2. Animals left without one take the nearest free blobs big enough to be them (they ran further
       than their length, or were lost), by a global assignment on ``stray_costs(rows, cols)`` (a cost
       matrix, ``inf`` where the blob cannot be the animal). Only then:
    3. animals that still have none share the blob they overlap most: they touch another animal;
    4. a free blob that touches a single animal is a fragment of it (a body cut by an obstacle).
    """
    claims: dict[int, list[int]] = {}
    owner: dict[int, int] = {}
    for row, col in zip(*linear_sum_assignment(-overlap)) if overlap.size else ():
        if overlap[row, col] > 0:
            owner[int(row)] = int(col)
            claims[int(col)] = [int(row)]
    rows = [r for r in range(len(overlap)) if r not in owner]
    cols = [c for c in range(overlap.shape[1]) if c not in claims]
    if rows and cols:
        cost = stray_costs(rows, cols)
        finite = np.where(np.isfinite(cost), cost, 1e12)
        for i, j in zip(*linear_sum_assignment(finite)):
            if np.isfinite(cost[i, j]):
                owner[rows[i]] = cols[j]
                claims[cols[j]] = [rows[i]]
    for row in range(len(overlap)):
        if row not in owner and overlap[row].any():
            claims.setdefault(int(np.argmax(overlap[row])), []).append(row)
    for col in range(overlap.shape[1]):
        touching = np.flatnonzero(overlap[:, col])
        if col not in claims and len(touching) == 1:
            claims[col] = [int(touching[0])]
    return claims


STRAY_SIZE = 0.5  # a blob smaller than this fraction of an animal is a fragment, not the animal run off


def _stray_costs(blobs, big, rows, cols, animals, tracks) -> np.ndarray:
    """Distance from where each animal was last seen to each blob's centre; ``inf`` for animals never
    seen in this session and for blobs too small to be the animal."""
    width = blobs.labels.shape[1]
    centres = np.array([centre(blobs.pixels(int(big[c])), width) for c in cols])
    cost = np.full((len(rows), len(cols)), np.inf)
    for i, row in enumerate(rows):
        track = tracks[animals[row]]
        if track.centre is None:
            continue
        fits = blobs.areas[big[cols]] >= STRAY_SIZE * len(track.whole)
        cost[i, fits] = np.hypot(*(centres[fits] - track.centre).T)
    return cost
