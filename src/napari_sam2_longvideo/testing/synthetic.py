"""Generated videos with known truth: same-coloured ellipses that approach, touch, cross and part; and
two-tone animals (a strong head and thorax, a weak abdomen) on an unevenly lit floor with still objects."""

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
        ``(T, K, 2)`` float, ``(y, x)`` of each ellipse's centre (of two-tone animals: of the strong part,
        where a click goes).
    weak_masks : numpy.ndarray or None
        ``(T, K, H, W)`` bool, two-tone animals only: each animal's weak part, whole.
    still_objects : numpy.ndarray or None
        ``(H, W)`` bool, two-tone clips only: where the still objects (pellets) lie.
    """

    frames: np.ndarray
    truth: np.ndarray
    full_masks: np.ndarray
    centers: np.ndarray
    weak_masks: np.ndarray | None = None
    still_objects: np.ndarray | None = None

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


def two_tone_animals(
    num_frames: int = 60,
    height: int = 160,
    width: int = 240,
    dark_on_light: bool = True,
    weak: float = 0.3,
    seed: int = 0,
) -> SyntheticClip:
    """Two animals like flies: a strong head and thorax, and an abdomen that differs from the floor by only
    ``weak`` of what the thorax does; on a floor lit unevenly, beside still objects.

    The two walk along neighbouring rows in opposite directions, thorax first, touch and overlap in the
    middle of the clip and part. The light falls off from the left edge to 0.55 of it at the right (a
    lamp to one side) and towards the corners (vignetting); it multiplies the floor, the animals and the
    pellets alike, as light does. Three still pellets, halfway between the floor and the thorax in
    brightness, lie just beside the animals' paths, so the animals pass close by them and touch them;
    they never move, so a background model keeps them. The floor has a fixed texture; each frame adds
    camera noise.
    """
    rng = np.random.default_rng(seed)
    floor_level, strong_level = (200.0, 40.0) if dark_on_light else (60.0, 230.0)
    weak_level = floor_level + weak * (strong_level - floor_level)
    pellet_level = 0.5 * (floor_level + strong_level)
    yy, xx = np.mgrid[:height, :width]
    light = (1.0 - 0.45 * xx / (width - 1)) * (1.0 - 0.25 * (((yy - height / 2) / height) ** 2 + ((xx - width / 2) / width) ** 2))
    floor = rng.normal(floor_level, 6, size=(height, width))
    shape = (height, width)
    rows = (height * 0.45, height * 0.55)  # the animals overlap where they pass
    thorax_axes, abdomen_axes = (height * 0.11, height * 0.065), (height * 0.1, height * 0.055)
    pellets = np.zeros(shape, bool)
    # the pellets lie beside the paths: an animal's edge passes within a pixel or two of each
    for y, x in ((height * 0.355, width * 0.3), (height * 0.645, width * 0.62), (height * 0.355, width * 0.75)):
        pellets |= _ellipse_mask(shape, (y, x), (height * 0.05, height * 0.035), 0.4)
    floor[pellets] = rng.normal(pellet_level, 4, size=int(pellets.sum()))

    frames = np.empty((num_frames, height, width, 3), np.uint8)
    truth = np.zeros((num_frames, height, width), np.uint8)
    full = np.zeros((num_frames, 2, height, width), bool)
    weak_masks = np.zeros((num_frames, 2, height, width), bool)
    centers = np.zeros((num_frames, 2, 2))
    left, right = width * 0.18, width * 0.82
    for t in range(num_frames):
        progress = t / max(1, num_frames - 1)
        reflectance = floor.copy()
        for k in range(2):
            start, end = (left, right) if k == 0 else (right, left)
            heading = 1.0 if end > start else -1.0
            x = start + (end - start) * progress
            y = rows[k] + 2.0 * np.sin(2 * np.pi * progress + k)
            thorax = _ellipse_mask(shape, (y, x), thorax_axes, 0.0)
            # the abdomen trails the thorax, overlapping it by a few pixels: one body, no waist to speak of
            abdomen = _ellipse_mask(shape, (y, x - heading * 0.9 * (thorax_axes[0] + abdomen_axes[0])), abdomen_axes, 0.0)
            abdomen &= ~thorax
            centers[t, k] = (y, x)
            full[t, k], weak_masks[t, k] = thorax | abdomen, abdomen
            truth[t][thorax | abdomen] = k + 1
            reflectance[abdomen] = weak_level + rng.normal(0, 3, size=int(abdomen.sum()))
            reflectance[thorax] = strong_level + rng.normal(0, 3, size=int(thorax.sum()))
        image = light * reflectance + rng.normal(0, 2, size=shape)
        frames[t] = image.clip(0, 255).astype(np.uint8)[..., None]
    return SyntheticClip(frames=frames, truth=truth, full_masks=full, centers=centers, weak_masks=weak_masks,
                         still_objects=pellets)


def write_frame_folder(clip: SyntheticClip, folder) -> Path:
    """Save the clip as ``frame0.png``, ``frame1.png``, ... (a folder of frames, as cameras write them)."""
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for t, image in enumerate(clip.frames):
        Image.fromarray(image).save(folder / f"frame{t}.png")
    return folder
