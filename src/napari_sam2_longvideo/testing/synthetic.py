"""Generated videos with known truth: same-coloured ellipses that approach, touch, cross and part."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class SyntheticClip:
    """A generated video and everything true about it.

    Parameters
    ----------
    frames : numpy.ndarray
        ``(T, H, W, 3)`` uint8 RGB.
    truth : numpy.ndarray
        ``(T, H, W)`` uint8: 0 background, k where ellipse k is visible (later ellipses drawn on top).
    full_masks : numpy.ndarray
        ``(T, K, H, W)`` bool: each ellipse whole, including the parts hidden under another.
    centers : numpy.ndarray
        ``(T, K, 2)`` float, ``(y, x)`` of each ellipse's centre.
    """

    frames: np.ndarray
    truth: np.ndarray
    full_masks: np.ndarray
    centers: np.ndarray

    @property
    def num_animals(self) -> int:
        return self.full_masks.shape[1]

    def center_prompts(self, frame: int = 0) -> list[tuple[int, float, float, int, bool]]:
        """One positive point per ellipse at its centre: rows ``(frame, y, x, animal, positive)``."""
        return [
            (frame, float(y), float(x), k + 1, True)
            for k, (y, x) in enumerate(self.centers[frame])
        ]


def _ellipse_mask(shape, center, axes, angle) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    dy, dx = yy - center[0], xx - center[1]
    cos, sin = np.cos(angle), np.sin(angle)
    along = dx * cos + dy * sin
    across = -dx * sin + dy * cos
    return (along / axes[0]) ** 2 + (across / axes[1]) ** 2 <= 1.0


def crossing_ellipses(
    num_frames: int = 60,
    height: int = 96,
    width: int = 128,
    num_animals: int = 2,
    dark_on_light: bool = True,
    seed: int = 0,
    spacing: float = 0.1,
    jump: tuple[int, int, float, float] | None = None,
) -> SyntheticClip:
    """Ellipses that start apart, meet in the middle of the clip (touching and overlapping), and part.

    Animal k travels along its own row from one side to the other, alternating directions, so each pair of
    neighbours crosses once at about half the clip's length. Neighbouring rows are ``spacing`` of the
    height apart; an ellipse is 0.16 of the height tall, so neighbours overlap where they pass, and with
    three at 0.08 the middle one is about half hidden. The floor is textured noise so a background model
    has something to ignore.

    ``jump`` is ``(frame, ellipse, dy, dx)``, ellipse numbered from 0: from ``frame`` on, that ellipse
    is drawn ``(dy, dx)`` pixels away from its path, a jump by construction (as when a mask leaps to
    another object, or a fast animal at a low frame rate). None (the default) makes no jump.
    """
    rng = np.random.default_rng(seed)
    floor_level, animal_level = (200, 40) if dark_on_light else (40, 200)
    floor = rng.normal(floor_level, 12, size=(height, width)).clip(0, 255)
    axes = (max(6.0, width * 0.11), max(4.0, height * 0.08))
    spread = 0.5 * spacing * height * (num_animals - 1)
    rows = np.linspace(height / 2 - spread, height / 2 + spread, num_animals)
    left, right = width * 0.18, width * 0.82

    frames = np.empty((num_frames, height, width, 3), np.uint8)
    truth = np.zeros((num_frames, height, width), np.uint8)
    full = np.zeros((num_frames, num_animals, height, width), bool)
    centers = np.zeros((num_frames, num_animals, 2))
    for t in range(num_frames):
        progress = t / max(1, num_frames - 1)
        image = floor.copy()
        for k in range(num_animals):
            start, end = (left, right) if k % 2 == 0 else (right, left)
            x = start + (end - start) * progress
            y = rows[k] + 3.0 * np.sin(2 * np.pi * progress + k)
            if jump is not None and k == jump[1] and t >= jump[0]:
                y, x = y + jump[2], x + jump[3]
            centers[t, k] = (y, x)
            mask = _ellipse_mask((height, width), (y, x), axes, angle=0.15 * (1 if k % 2 else -1))
            full[t, k] = mask
            truth[t][mask] = k + 1
            image[mask] = animal_level + rng.normal(0, 4, size=int(mask.sum()))
        frames[t] = image.clip(0, 255).astype(np.uint8)[..., None]
    return SyntheticClip(frames=frames, truth=truth, full_masks=full, centers=centers)


def write_frame_folder(clip: SyntheticClip, folder) -> Path:
    """Save the clip as ``frame0.png``, ``frame1.png``, ... (a folder of frames, as cameras write them)."""
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for t, image in enumerate(clip.frames):
        Image.fromarray(image).save(folder / f"frame{t}.png")
    return folder
