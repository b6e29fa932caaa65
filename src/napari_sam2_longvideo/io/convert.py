"""One conversion to RGB uint8 for all the frames of an input, decided once when it is opened.

The models want 8-bit RGB. Microscopy and scientific cameras often give 16-bit or float grey frames
instead. Scaling each frame by its own range would make a pixel value mean a different brightness in
every frame (and flicker as an animal enters or leaves), so the range is taken once, from percentiles of
frames sampled across the whole input, and every frame is mapped with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

PERCENTILES = (0.5, 99.5)
MAX_SAMPLED_FRAMES = 16
# Percentiles of a strided sample are as good as those of every pixel and keep 4K stacks fast to open.
MAX_SAMPLED_PIXELS_PER_FRAME = 1 << 16


@dataclass(frozen=True)
class RGBConversion:
    """How every frame of one input becomes ``(H, W, 3)`` uint8 RGB.

    Parameters
    ----------
    low, high : float, optional
        Input values mapped to 0 and 255. Both None for 8-bit input, which passes through untouched.
    """

    low: float | None = None
    high: float | None = None

    @property
    def rescales(self) -> bool:
        """Whether values are scaled (16-bit, float) rather than passed through (8-bit)."""
        return self.low is not None

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """Convert one frame: ``(H, W)``, ``(H, W, 1|2|3|4)`` of any dtype -> C-contiguous RGB uint8."""
        colour = colour_channels(np.asarray(frame))
        if colour.dtype == bool:
            colour = colour.astype(np.uint8) * np.uint8(255)
        if self.rescales:
            span = max(self.high - self.low, 1e-12)  # constant frames: avoid 255 / 0
            scaled = (colour.astype(np.float32) - np.float32(self.low)) * np.float32(255.0 / span)
            colour = np.clip(np.nan_to_num(scaled, nan=0.0), 0, 255).round().astype(np.uint8)
        elif colour.dtype != np.uint8:
            raise ValueError(
                f"it holds {colour.dtype} values while the frames sampled when opening were 8-bit; "
                "save every frame with the same bit depth"
            )
        if colour.ndim == 2:
            colour = np.repeat(colour[:, :, None], 3, axis=2)
        return np.ascontiguousarray(colour)

    def describe(self) -> dict:
        """JSON-ready summary for a source's ``info``."""
        if not self.rescales:
            return {"conversion": "8-bit passthrough"}
        return {
            "conversion": "percentile scaling",
            "percentiles": list(PERCENTILES),
            "low": float(self.low),
            "high": float(self.high),
        }


def colour_channels(frame: np.ndarray) -> np.ndarray:
    """The colour part of a frame: ``(H, W)`` grey or ``(H, W, 3)`` RGB, alpha dropped.

    Raises
    ------
    ValueError
        For shapes that are not a grey, grey+alpha, RGB or RGBA image.
    """
    if frame.ndim == 2:
        return frame
    if frame.ndim == 3 and frame.shape[2] in (1, 2):
        return frame[:, :, 0]
    if frame.ndim == 3 and frame.shape[2] in (3, 4):
        return frame[:, :, :3]
    raise ValueError(f"a frame of shape {frame.shape} is not a grey, RGB or RGBA image")


def needs_rescaling(dtype) -> bool:
    """Whether frames of this dtype must be scaled into 0..255 (anything but uint8 and bool)."""
    dtype = np.dtype(dtype)
    return dtype != np.uint8 and dtype != np.bool_


def sample_frame_indices(num_frames: int, max_samples: int = MAX_SAMPLED_FRAMES) -> list[int]:
    """Up to ``max_samples`` frame indices spread evenly from the first frame to the last."""
    if num_frames <= max_samples:
        return list(range(num_frames))
    return sorted({int(round(i)) for i in np.linspace(0, num_frames - 1, max_samples)})


def plan_conversion(dtype, num_frames: int, read_raw: Callable[[int], np.ndarray]) -> RGBConversion:
    """Decide the conversion for a whole input from its dtype and, if needed, a few sampled frames.

    Parameters
    ----------
    dtype : numpy dtype
        The input's dtype, known from headers so that 8-bit inputs read no frame here.
    num_frames : int
        Frames in the input.
    read_raw : callable
        ``read_raw(t)`` returns frame ``t`` as stored (any dtype, grey or colour).

    Returns
    -------
    RGBConversion
        Passthrough for 8-bit input; otherwise the 0.5 and 99.5 percentiles of the sampled frames.

    Raises
    ------
    ValueError
        When none of the sampled frames can be read.
    """
    if not needs_rescaling(dtype):
        return RGBConversion()
    samples, failures = [], []
    for t in sample_frame_indices(num_frames):
        try:
            colour = colour_channels(np.asarray(read_raw(t)))
        except Exception as error:  # noqa: BLE001 - a damaged frame is reported when it is read
            failures.append(f"frame {t}: {error}")
            continue
        stride = max(1, int(np.ceil(np.sqrt(colour.shape[0] * colour.shape[1] / MAX_SAMPLED_PIXELS_PER_FRAME))))
        samples.append(colour[::stride, ::stride].astype(np.float32).ravel())
    if not samples:
        raise ValueError("none of the frames sampled to set the brightness range could be read: " + "; ".join(failures))
    pooled = np.concatenate(samples)
    pooled = pooled[np.isfinite(pooled)]
    if pooled.size == 0:
        return RGBConversion(low=0.0, high=1.0)
    low, high = np.percentile(pooled, PERCENTILES)
    return RGBConversion(low=float(low), high=float(high))
