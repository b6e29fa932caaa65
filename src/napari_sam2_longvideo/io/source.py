"""The interface every frame source offers: frames on demand, and enough of an array for napari."""

from __future__ import annotations

import operator

import cv2
import numpy as np

from ..errors import FrameIndexError


class FrameSource:
    """Frames of one video, read on demand as ``(height, width, 3)`` uint8 RGB.

    Attributes
    ----------
    path : str
        The file or folder read, or ``"<array>"`` for an in-memory array.
    num_frames, height, width : int
        Size of the video.
    info : dict
        JSON-ready facts about the input; ``info["kind"]`` is ``"video"``, ``"folder"``,
        ``"tiff_stack"`` or ``"array"``.
    """

    path: str
    num_frames: int
    height: int
    width: int
    info: dict
    dtype = np.dtype(np.uint8)
    ndim = 4

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (self.num_frames, self.height, self.width, 3)

    @property
    def size(self) -> int:
        return self.num_frames * self.height * self.width * 3

    def __len__(self) -> int:
        return self.num_frames

    def read(self, t: int) -> np.ndarray:
        """Frame ``t`` (0-based) as C-contiguous ``(height, width, 3)`` uint8 RGB.

        Raises
        ------
        FrameIndexError
            If ``t`` is not a frame of this video (an `IndexError` and a `UserInputError`).
        FrameReadError
            If the frame cannot be decoded.
        """
        return self._read_frame(self._checked_index(t))

    def _read_frame(self, t: int) -> np.ndarray:
        raise NotImplementedError

    def read_grey(self, t: int) -> np.ndarray:
        """Frame ``t`` as ``(height, width)`` uint8 brightness (ITU-R BT.601 luma, full range).

        What the contrast backend works on. Videos hand over their luma plane without converting to
        RGB first; it may differ from converting `read`'s RGB by a grey level or two (chroma rounding).
        """
        return self._read_grey(self._checked_index(t))

    def _read_grey(self, t: int) -> np.ndarray:
        return cv2.cvtColor(self._read_frame(t), cv2.COLOR_RGB2GRAY)

    def timestamps_s(self) -> np.ndarray | None:
        """Each frame's time in seconds after frame 0, or None where the input has no frame rate.

        Inputs without timestamps of their own (folders of frames, TIFF stacks, arrays) have none unless
        their ``info`` holds an ``fps``; videos override this with their presentation timestamps.
        """
        fps = self.info.get("fps")
        return np.arange(self.num_frames) / fps if fps else None

    def fingerprint(self) -> dict:
        """JSON-ready identity of the input, compared before resuming a run on it."""
        raise NotImplementedError

    def reopener(self, decoder_threads: int | None = None):
        """A picklable function that opens this same input again, for another process to read it too;
        None for inputs that only this process holds (arrays).

        ``decoder_threads`` sets how many threads decode a compressed video there (default: one per
        core); inputs stored frame by frame have no decoder and ignore it.
        """
        return None

    def close(self) -> None:
        """Release open files; reading afterwards is an error for file-backed sources."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __getitem__(self, key) -> np.ndarray:
        """numpy-style indexing for napari: an int or a slice of frames first, then anything numpy takes."""
        first, rest = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        if isinstance(first, slice):
            frames = range(*first.indices(self.num_frames))
            stack = np.empty((len(frames), self.height, self.width, 3), np.uint8)
            for i, t in enumerate(frames):
                stack[i] = self.read(t)
            return stack[(slice(None), *rest)]
        t = operator.index(first)
        return self.read(t + self.num_frames if -self.num_frames <= t < 0 else t)[rest]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path!r}: {self.num_frames} frames of {self.width}x{self.height}>"

    def _checked_index(self, t) -> int:
        t = operator.index(t)
        if not 0 <= t < self.num_frames:
            raise FrameIndexError(
                f"Frame {t} is out of range: {self.path} has {self.num_frames} frames "
                f"(0 to {self.num_frames - 1})."
            )
        return t
