"""The empty arena: the floor without animals, which side of it the animals are on, and where to look.

The floor is taken from frames sampled evenly across the whole video, each brought to the same
brightness first (cameras drift, and the first frame of some recordings is balanced differently). A
median shows the floor only where animals cover a pixel in fewer than half the samples, so an animal
that rests for half the video would stay in it. Knowing the animals' side (dark on a light floor, or
light on dark) allows better: a high percentile for dark animals (a low one for light animals) shows the
floor wherever an animal was away in a few of the samples.

The floor's brightness varies across the image (vignetting, a lamp to one side, the shadow of a wall).
Under a light that varies slowly, an animal and the floor beside it are lit alike, so the difference
between them scales with the light there: differences are measured against the local floor (the
background blurred over a sixteenth of the frame) and scaled to what they would be on a floor of the
typical brightness (`FloorModel.gain`). An animal in a dark corner then stands out as much as one in
the middle.

Everything learned here (the floor, the side, the two levels, the smallest animal) is saved in the run's
folder the first time and read back when the run resumes, so a resumed run segments exactly as the first
one did, whichever frame it starts on.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

import cv2
import numpy as np

from ....errors import FrameReadError, UserInputError
from ....io.files import write_atomically
from ....io.run_folder import BACKGROUND_FILE
from ....io.run_folder import CONTRAST_MODEL_FILE as MODEL_FILE  # learned with that floor; see `FloorModel`

SAMPLES = 31
FLOOR_PERCENTILE = 85  # for dark animals; 100 - this for light ones
MIN_THRESHOLD = 12.0  # grey levels: camera noise and compression stay below this
# How far the local floor may be from the typical one and still be scaled to it: beyond, it is not a
# lit floor (a black wall, a window) and its noise would be scaled up into animals.
MIN_GAIN, MAX_GAIN = 1.0, 4.0
GAIN_ONE = 32  # the gain is kept as an 8-bit image in 32nds: one OpenCV multiply per frame
LIGHT_CELLS = 16  # the local floor: the background averaged over this many cells across, then smoothed
# A frame this flat (standard deviation of grey levels) or this dark shows no floor: a black, white or
# uniform frame. Dim and glaring frames that still show the floor are brought to its brightness.
FLAT_FRAME_STD, BLACK_FRAME_LEVEL = 4.0, 4.0


def brightness(frame_grey: np.ndarray) -> float:
    """The frame's typical grey level: the median of every fourth pixel of every fourth row."""
    return level_and_spread(frame_grey)[0]


def level_and_spread(frame_grey: np.ndarray) -> tuple[float, float]:
    """Median and standard deviation of every fourth pixel of every fourth row.

    Both come from one histogram of the sample (grey levels are 0..255): several times faster than
    ``numpy.median`` and ``std`` on every frame, with the same values.
    """
    counts = np.bincount(frame_grey[::4, ::4].ravel(), minlength=256).astype(np.float64)
    cumulative = np.cumsum(counts)
    total = cumulative[-1]
    # the values at the two middle places of the sorted sample (the same place when there are an odd many)
    middle = np.searchsorted(cumulative, [(total - 1) // 2, total // 2], side="right")
    values = np.arange(256)
    mean = counts @ values / total
    return float(middle.mean()), float(np.sqrt(counts @ (values - mean) ** 2 / total))


@dataclass
class FloorModel:
    """What the contrast backend learns once per run.

    Attributes
    ----------
    background : numpy.ndarray
        ``(H, W)`` uint8: the floor without animals, in grey levels.
    dark : bool
        Animals are darker than the floor.
    threshold : float
        The high level: grey levels (on a floor of typical brightness, see `gain`) the confident core of
        an animal differs from the floor by at least (Otsu on the sampled frames).
    min_area : int or None
        Blobs smaller than this many pixels are not animals; None until the first prompts are seen.
    low_threshold : float or None
        The low level: an animal's mask grows from its core into the connected pixels that differ from
        the floor by at least this (hysteresis); None until learned from the first prompts (`levels`),
        and meanwhile the high level.
    """

    background: np.ndarray
    dark: bool
    threshold: float
    min_area: int | None = None
    low_threshold: float | None = None

    @cached_property
    def floor_level(self) -> float:
        return brightness(self.background)

    @property
    def low(self) -> float:
        """The low level, never above the high one."""
        return self.threshold if self.low_threshold is None else min(self.low_threshold, self.threshold)

    @cached_property
    def gain(self) -> np.ndarray:
        """``(H, W)`` uint8, in 32nds: the typical floor's brightness over the local floor's.

        The local floor is the background averaged over `LIGHT_CELLS` cells across (texture, pellets and
        the odd dark gap average out) and smoothed back to full size: light that varies over a few
        cells, not over a few pixels.
        """
        height, width = self.background.shape
        cells = (min(width, LIGHT_CELLS), max(1, min(height, round(LIGHT_CELLS * height / width))))
        coarse = cv2.resize(self.background, cells, interpolation=cv2.INTER_AREA).astype(np.float32)
        coarse = cv2.GaussianBlur(coarse, (0, 0), 1.0)
        local = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_LINEAR)
        # light scales the floor and the animals on it alike, whichever is the lighter (of a lit surface,
        # what reaches the camera is the light times how much the surface reflects)
        gain = np.clip(self.floor_level / np.maximum(local, 1.0), MIN_GAIN, MAX_GAIN)
        return (gain * GAIN_ONE).round().astype(np.uint8)

    def contrast(self, frame_grey: np.ndarray) -> np.ndarray:
        """How much each pixel of a (normalised) frame stands out from the local floor on the animals' side."""
        return local_contrast(frame_grey, self.background, self.dark, self.gain)

    def save(self, folder: Path | None) -> None:
        """Write ``background.npy`` and ``contrast.json`` (the latter names the former's SHA-1)."""
        if folder is None:
            return
        folder = Path(folder)
        write_atomically(folder / BACKGROUND_FILE, lambda handle: np.save(handle, self.background))
        facts = {k: v for k, v in asdict(self).items() if k != "background"}
        facts["background_sha1"] = _digest(self.background)
        write_atomically(folder / MODEL_FILE, lambda handle: handle.write(json.dumps(facts, indent=2).encode()))

    @classmethod
    def load(cls, folder: Path | None, height: int, width: int) -> FloorModel | None:
        """The model saved in ``folder``, or None where there is none that belongs to this video.

        ``contrast.json`` counts only beside the very background it was learned with: a folder cleared
        for a new run (which removes ``background.npy``) cannot hand an old threshold to the new run.
        """
        if folder is None or not (Path(folder) / MODEL_FILE).exists() or not (Path(folder) / BACKGROUND_FILE).exists():
            return None
        try:
            facts = json.loads((Path(folder) / MODEL_FILE).read_text())
            background = np.load(Path(folder) / BACKGROUND_FILE)
        except (OSError, ValueError):
            return None  # damaged: learn again
        if background.shape != (height, width) or facts.get("background_sha1") != _digest(background):
            return None
        return cls(background, bool(facts["dark"]), float(facts["threshold"]), facts.get("min_area"),
                   facts.get("low_threshold"))


def _digest(background: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(background).tobytes()).hexdigest()


def learn_floor(frames, dark: bool, arena: np.ndarray, samples: int = SAMPLES) -> FloorModel:
    """The floor and the threshold from ``samples`` frames spread evenly over the video (read in order)."""
    count = min(samples, len(frames))
    picks = np.unique(np.linspace(0, len(frames) - 1, count).round().astype(int))
    stack = []
    for t in picks:
        try:
            stack.append(frames.read_grey(int(t)))
        except FrameReadError:
            continue  # the floor shows in the other samples; tracking reports the frame when it gets there
    usable = [image for image in stack if _shows_floor(*level_and_spread(image))]
    if not usable:
        raise UserInputError(
            f"None of the frames sampled from {frames.path} shows a floor to compare animals with "
            "(they could not be decoded, or are blank)."
        )
    reference = float(np.median([brightness(image) for image in usable]))
    stack = np.stack([cv2.convertScaleAbs(image, alpha=reference / max(brightness(image), 1.0)) for image in usable])
    percentile = FLOOR_PERCENTILE if dark else 100 - FLOOR_PERCENTILE
    background = np.percentile(stack, percentile, axis=0).round().astype(np.uint8)
    model = FloorModel(background, dark, 0.0)
    model.threshold = otsu_threshold(np.concatenate([model.contrast(image)[arena][::7] for image in stack]))
    return model


def _shows_floor(level: float, spread: float) -> bool:
    return level >= BLACK_FRAME_LEVEL and spread >= FLAT_FRAME_STD


def normalised(frame_grey: np.ndarray, floor_level: float) -> np.ndarray | None:
    """The frame brought to the floor's brightness, or None for a frame that shows no floor.

    Cameras drift in exposure, which a fixed threshold would read as animals everywhere; and some
    recordings hold black or white frames (the two-mice clip has a few) on which nothing can be seen.
    """
    level, spread = level_and_spread(frame_grey)
    if not _shows_floor(level, spread):
        return None
    return cv2.convertScaleAbs(frame_grey, alpha=floor_level / max(level, 1.0))


def arena_mask(arena: str | None, height: int, width: int) -> np.ndarray:
    """Where animals can be: everywhere, a mask image (non-zero inside), or a polygon ``"y,x;y,x;..."``."""
    if not arena:
        return np.ones((height, width), bool)
    path = Path(arena).expanduser()
    if path.is_file():
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise UserInputError(f"Arena mask {path} is not an image OpenCV can read; give a PNG or TIFF.")
        if image.ndim == 3:
            image = image.max(axis=2)
        if image.shape != (height, width):
            raise UserInputError(
                f"Arena mask {path} is {image.shape[1]} x {image.shape[0]} pixels but the video is "
                f"{width} x {height}; draw the mask on a frame of this video."
            )
        return image > 0
    try:
        points = [tuple(float(v) for v in pair.split(",")) for pair in arena.split(";") if pair.strip()]
        if len(points) < 3 or any(len(point) != 2 for point in points):
            raise ValueError
        polygon = np.array([(x, y) for y, x in points]).round().astype(np.int32)
    except ValueError as error:
        raise UserInputError(
            f"--arena {arena!r} is neither a mask file nor a polygon; give a PNG/TIFF mask or at least three "
            "corners as 'y,x;y,x;y,x' in pixels of the video."
        ) from error
    mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(mask, [polygon], 1)
    if not mask.any():
        raise UserInputError(f"--arena {arena!r} encloses no pixel of the {width} x {height} video.")
    return mask.astype(bool)


def animals_are_dark(frame_grey: np.ndarray, inside: np.ndarray) -> bool:
    """Whether the prompted pixels are darker than the frame as a whole (animals on a lighter floor)."""
    return float(np.median(frame_grey[inside])) < float(np.median(frame_grey))


def contrast_image(frame_grey: np.ndarray, background: np.ndarray, dark: bool) -> np.ndarray:
    """How much each pixel stands out from the floor on the animals' side; 0 on the other side."""
    return cv2.subtract(background, frame_grey) if dark else cv2.subtract(frame_grey, background)


def local_contrast(frame_grey: np.ndarray, background: np.ndarray, dark: bool, gain: np.ndarray) -> np.ndarray:
    """`contrast_image` scaled by ``gain`` (32nds, see `FloorModel.gain`): as if lit as the typical floor."""
    return cv2.multiply(contrast_image(frame_grey, background, dark), gain, scale=1.0 / GAIN_ONE)


def otsu_threshold(contrast: np.ndarray) -> float:
    """Otsu's threshold of contrast values, never below the level camera noise stays under."""
    value, _ = cv2.threshold(contrast.reshape(-1, 1), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return max(float(value), MIN_THRESHOLD)
