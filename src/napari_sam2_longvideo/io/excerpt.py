"""The first frames of a video as a video of its own (``--max-frames``)."""

from __future__ import annotations

import functools

from .source import FrameSource


class FirstFrames(FrameSource):
    """Frames ``0 .. count - 1`` of ``source``; frame numbers stay those of the whole video."""

    def __init__(self, source: FrameSource, count: int):
        self.source = source
        self.path = source.path
        self.num_frames = min(int(count), source.num_frames)
        self.height, self.width = source.height, source.width
        self.info = dict(source.info, first_frames=self.num_frames)

    def _read_frame(self, t: int):
        return self.source.read(t)

    def _read_grey(self, t: int):
        return self.source.read_grey(t)

    def timestamps_s(self):
        times = self.source.timestamps_s()
        return None if times is None else times[: self.num_frames]

    def reopener(self, decoder_threads: int | None = None):
        source = self.source.reopener(decoder_threads)
        return None if source is None else functools.partial(_first_frames, source, self.num_frames)

    def fingerprint(self) -> dict:
        return dict(self.source.fingerprint(), first_frames=self.num_frames)

    def close(self) -> None:
        self.source.close()


def _first_frames(open_source, count: int) -> FirstFrames:
    return FirstFrames(open_source(), count)
