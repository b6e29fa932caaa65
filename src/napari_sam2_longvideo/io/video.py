"""Frame-accurate random access to video files with PyAV.

Seeking in compressed video lands on a keyframe, and container timestamps are not frame numbers, so
"seek to frame N" done naively returns a neighbour of N. Here frame N is, by definition, the N-th
presentation timestamp of the stream: all packet timestamps are read once at open (demuxing only, no
decoding), sorted (B-frames arrive out of presentation order), and a read of frame N decodes until the
frame whose timestamp equals that entry. Sequential reads decode on from where the last read stopped;
other reads seek to the keyframe at or before the target and decode forward. On the way, pictures
that come before the target and that no other picture is predicted from are not decoded at all
(FFmpeg's ``skip_frame``): nobody asked for them, and skipping them changes no other picture.
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from array import array
from collections import deque

import av
import cv2
import numpy as np

from ..errors import FrameReadError, UserInputError
from .source import FrameSource

# 8-bit pixel formats whose first plane is the luma (grey) image, one byte a pixel
LUMA_FIRST_FORMATS = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv21", "gray"}
FULL_RANGE = 2  # FFmpeg's AVCOL_RANGE_JPEG; otherwise luma spans 16..235
LIMITED_TO_FULL_RANGE = np.clip((np.arange(256) - 16) * 255 / 219, 0, 255).round().astype(np.uint8)


class VideoFrames(FrameSource):
    """A video file read frame by frame, on demand.

    Parameters
    ----------
    path : str or Path
        A video PyAV (FFmpeg) can demux and decode.
    decoder_threads : int, optional
        Threads that decode it: one per core this process may use when not given; 0 leaves the
        choice to FFmpeg.

    Notes
    -----
    Memory is the timestamp index (9 bytes a frame) plus the decoder's few reference frames. Reads are
    serialised by a lock because an FFmpeg decoder must not be driven from two threads at once (napari
    may display frames while a worker tracks).
    """

    def __init__(self, path, decoder_threads: int | None = None):
        self.path = str(path)
        self._lock = threading.Lock()
        self._decoder_threads = decoder_threads
        self._container = None
        pts, is_keyframe, self._time_base, stream_info = index_timestamps(self.path)
        self._container, self._stream = open_video_stream(self.path, self._decoder_threads)
        self._pts = pts
        self._pending = deque()  # frames decoded but not yet asked for, in presentation order
        self._packets = self._container.demux(self._stream)
        self._skipping = "DEFAULT"  # the decoder's skip_frame, see `_next_decoded`
        self._next = 0  # index of the frame the decoder gives next
        self._last_error = ""
        first = self._next_decoded()
        if first is None:
            self.close()
            raise UserInputError(
                f"{self.path} is not a video PyAV can open: no frame could be decoded "
                f"({self._last_error or 'the stream is empty'}). Re-encode it, for example with "
                "`ffmpeg -i in.mp4 -c:v libx264 out.mp4`."
            )
        # Leading frames of an open GOP (a video cut mid-stream) reference pictures that are not in the
        # file; FFmpeg never outputs them, so frame 0 is the first picture it does output, as in
        # `ffmpeg -i video frames/%05d.png`.
        skipped = int(np.searchsorted(pts, first.pts))
        if skipped == len(pts) or pts[skipped] != first.pts:
            self.close()
            raise UserInputError(
                f"{self.path}: the decoder's timestamps do not match the container's, so frames cannot be "
                "located exactly. Remux it into MP4, for example `ffmpeg -i in.mkv -c copy out.mp4`."
            )
        self._pts, is_keyframe = pts[skipped:], is_keyframe[skipped:]
        self._keyframes = np.flatnonzero(is_keyframe)
        self._pending.appendleft(first)
        self.num_frames = len(self._pts)
        self.height, self.width = first.height, first.width
        self._last_decoded = None  # (t, av.VideoFrame)
        self.info = {
            "kind": "video",
            **stream_info,
            **frame_rate_info(self._pts, self._time_base, stream_info["nominal_fps"]),
            "keyframes": int(len(self._keyframes)),
            "skipped_undecodable_leading_frames": skipped,
        }

    def _read_frame(self, t: int) -> np.ndarray:
        return self._convert_decoded(t, self._to_rgb)

    def _read_grey(self, t: int) -> np.ndarray:
        return self._convert_decoded(t, self._to_grey)

    def _to_rgb(self, frame) -> np.ndarray:
        return np.ascontiguousarray(frame.to_ndarray(format="rgb24", width=self.width, height=self.height))

    def _to_grey(self, frame) -> np.ndarray:
        if frame.format.name not in LUMA_FIRST_FORMATS:
            return cv2.cvtColor(self._to_rgb(frame), cv2.COLOR_RGB2GRAY)
        # The luma plane is the grey image already: no conversion to RGB and back.
        plane = frame.planes[0]
        luma = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[: self.height, : self.width]
        if frame.format.name.startswith("yuvj") or frame.format.name == "gray" or frame.color_range == FULL_RANGE:
            return luma.copy()
        return cv2.LUT(luma, LIMITED_TO_FULL_RANGE)  # video levels 16..235 to 0..255, as RGB conversion does

    def _convert_decoded(self, t: int, convert) -> np.ndarray:
        """``convert`` of the decoded picture of frame ``t``.

        The conversion runs under the lock too: converting one picture while another thread decoded the
        next hung inside PyAV (``tests/io/test_video.py``, reads from two threads). The last picture is
        kept, because napari and chunk boundaries ask for the same frame twice.
        """
        with self._lock:
            if self._container is None:
                raise UserInputError(f"{self.path} was closed; open it again to read frame {t}.")
            if self._last_decoded is None or self._last_decoded[0] != t:
                if not self._reachable_by_decoding_on(t):
                    self._seek_before(t)
                self._last_decoded = (t, self._decode_until(t))
            return convert(self._last_decoded[1])

    def timestamp_s(self, t: int) -> float:
        """Presentation time of frame ``t`` in seconds after frame 0 (differs from ``t / fps`` in VFR video)."""
        t = self._checked_index(t)
        return float((self._pts[t] - self._pts[0]) * self._time_base)

    def timestamps_s(self) -> np.ndarray:
        """`timestamp_s` of every frame: integer ticks times the numerator, one division (exact rounding)."""
        ticks = (self._pts - self._pts[0]).astype(np.float64)
        return ticks * self._time_base.numerator / self._time_base.denominator

    def reopener(self, decoder_threads: int | None = None):
        return functools.partial(VideoFrames, os.path.abspath(self.path), decoder_threads)

    def fingerprint(self) -> dict:
        """Identity of the video: path, size and a hash of every frame's timestamp."""
        return {
            "kind": "video",
            "path": os.path.abspath(self.path),
            "size_bytes": os.path.getsize(self.path),
            "num_frames": self.num_frames,
            "height": self.height,
            "width": self.width,
            "timestamps_sha1": hashlib.sha1(self._pts.tobytes()).hexdigest(),
        }

    def close(self) -> None:
        with self._lock:
            if self._container is not None:
                self._container.close()
            self._container, self._packets, self._last_decoded = None, None, None
            self._pending.clear()

    # -- decoding ---------------------------------------------------------------------------------

    def _reachable_by_decoding_on(self, t: int) -> bool:
        """Whether decoding on from the current position is no slower than seeking (no keyframe between)."""
        return self._next <= t and self._keyframe_before(t) <= self._next

    def _keyframe_before(self, t: int) -> int:
        rank = int(np.searchsorted(self._keyframes, t, side="right")) - 1
        return int(self._keyframes[rank]) if rank >= 0 else 0

    def _seek_before(self, t: int) -> None:
        """Position the decoder so that frame ``t`` comes out after at most a GOP of frames."""
        start = self._keyframe_before(t)
        while True:
            self._seek_to(start)
            first = self._next_decoded()
            if first is None or first.pts <= self._pts[t] or start == 0:
                break
            # Some demuxers (MP4 seeks by decode time) land on a later keyframe than asked: step back.
            start = self._keyframe_before(start - 1)
        if first is not None:
            self._pending.appendleft(first)
            self._next = int(np.searchsorted(self._pts, first.pts))

    def _seek_to(self, start: int) -> None:
        self._pending.clear()
        try:
            self._container.seek(int(self._pts[start]), stream=self._stream, backward=True)
        except av.FFmpegError:
            # A file without a seek index: start again from the top, which always works.
            self._container.close()
            self._container, self._stream = open_video_stream(self.path, self._decoder_threads)
            self._skipping = "DEFAULT"
        self._packets = self._container.demux(self._stream)

    def _decode_until(self, t: int):
        """Decode on to the frame with timestamp ``pts[t]``; raise if the decoder skips past it."""
        target = self._pts[t]
        while True:
            frame = self._next_decoded(skip_before=target)
            if frame is None:
                self._next = self.num_frames
                raise FrameReadError(self.path, t, self._missing_reason("the video ended before it"))
            if frame.pts == target:
                self._next = t + 1
                return frame
            if frame.pts > target:
                self._pending.appendleft(frame)
                self._next = int(np.searchsorted(self._pts, frame.pts))
                raise FrameReadError(self.path, t, self._missing_reason("the decoder gave no picture for it"))

    def _missing_reason(self, what: str) -> str:
        return f"{what} ({self._last_error})" if self._last_error else what

    def _next_decoded(self, skip_before=None):
        """The next decoded frame in presentation order, or None once the stream is drained.

        Pictures shown before timestamp ``skip_before`` are left undecoded where no other picture
        refers to them (they would be thrown away): learning the contrast backend's floor from frames
        spread over a video decodes 14% faster (docs/benchmarks.md). Those shown after it are all
        decoded, since sequential reads ask for them next.
        """
        context = self._stream.codec_context
        while not self._pending:
            if self._packets is None:
                return None
            packet = next(self._packets, None)
            if packet is None:
                self._packets = None  # demux ends with empty packets that already drained the decoder
                continue
            # A frame-threaded decoder takes the setting with each packet it is given.
            before = skip_before is not None and packet.pts is not None and packet.pts < skip_before
            skip = "NONREF" if before else "DEFAULT"
            if skip != self._skipping:
                context.skip_frame = self._skipping = skip
            try:
                decoded = context.decode(packet)
            except av.FFmpegError as error:
                # A damaged packet loses its picture (and maybe those referencing it); decoding goes on
                # so that the frames after it stay readable, and the missing ones are named when asked.
                self._last_error = f"{type(error).__name__}: {error}"
                continue
            self._pending.extend(frame for frame in decoded if frame.pts is not None)
        return self._pending.popleft()


def open_video_stream(path: str, decoder_threads: int | None = None):
    """Open ``path`` and return ``(container, first video stream)`` set up for fast decoding by
    ``decoder_threads`` threads (one per usable core when not given, FFmpeg's choice for 0).

    Raises
    ------
    UserInputError
        If PyAV cannot open the file or it has no video stream.
    """
    try:
        container = av.open(path)
    except (av.FFmpegError, UnicodeDecodeError) as error:
        raise UserInputError(
            f"{path} is not a video PyAV can open ({error}). Check that the file is complete, or convert "
            "it, for example with `ffmpeg -i in.avi -c:v libx264 out.mp4`."
        ) from error
    if not container.streams.video:
        container.close()
        raise UserInputError(f"{path} is not a video PyAV can open: it has no video stream.")
    stream = container.streams.video[0]
    # Frame threads decode several frames at once; a seek flushes them, so accuracy is unaffected.
    # One per core this process may run on: FFmpeg's own choice is one more than the machine's cores,
    # and on two cores that extra thread made learning the contrast backend's floor 11% slower
    # (docs/benchmarks.md).
    stream.thread_type = "AUTO"
    stream.thread_count = usable_cores() if decoder_threads is None else decoder_threads
    return container, stream


def usable_cores() -> int:
    """The CPU cores this process may run on (fewer than the machine's under a CPU affinity mask)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def index_timestamps(path: str):
    """Read every packet's timestamp once, without decoding.

    Returns
    -------
    pts : numpy.ndarray
        int64 presentation timestamps in ascending (presentation) order.
    is_keyframe : numpy.ndarray
        bool, per entry of ``pts``.
    time_base : fractions.Fraction
        Seconds per timestamp unit.
    stream_info : dict
        JSON-ready facts about the stream.
    """
    container, stream = open_video_stream(path)
    pts, is_keyframe = array("q"), bytearray()  # 9 bytes a frame, not a list of Python ints
    try:
        with container:
            for packet in container.demux(stream):
                # Empty packets flush the decoder; discarded ones (MP4 edit lists) are never shown.
                if packet.size == 0 or packet.is_discard:
                    continue
                if packet.pts is None:
                    raise UserInputError(
                        f"{path} has video packets without timestamps, so its frames cannot be located "
                        "exactly. Remux it into MP4, for example `ffmpeg -i in.avi -c copy out.mp4`."
                    )
                pts.append(packet.pts)
                is_keyframe.append(packet.is_keyframe)
            stream_info = {
                "container": container.format.name,
                "codec": stream.codec_context.name,
                "pixel_format": stream.codec_context.format.name if stream.codec_context.format else None,
                "time_base": str(stream.time_base),
                "nominal_fps": float(stream.average_rate) if stream.average_rate else None,
            }
            time_base = stream.time_base
    except av.FFmpegError as error:
        raise FrameReadError(path, len(pts), f"the file is damaged here ({error})") from error
    order = np.argsort(np.frombuffer(pts, dtype=np.int64), kind="stable")
    sorted_pts = np.frombuffer(pts, dtype=np.int64)[order]
    if len(sorted_pts) > 1 and np.any(np.diff(sorted_pts) == 0):
        raise UserInputError(
            f"{path} has frames with identical timestamps, so frame numbers are ambiguous. Re-encode it, "
            "for example `ffmpeg -i in.mp4 -c:v libx264 out.mp4`."
        )
    return sorted_pts, np.frombuffer(is_keyframe, dtype=bool)[order], time_base, stream_info


def frame_rate_info(pts: np.ndarray, time_base, nominal_fps: float | None) -> dict:
    """Average frame rate from the timestamps, and whether the spacing between frames varies.

    Timestamps are rounded to the time base (30 fps in milliseconds is 33, 33, 34 ...), so a spacing
    is only called variable when it differs from the median by more than one unit and more than 1 %.
    """
    if len(pts) < 2 or pts[-1] == pts[0]:
        return {"fps": nominal_fps, "variable_frame_rate": False, "duration_s": None}
    span_s = float((pts[-1] - pts[0]) * time_base)
    deltas = np.diff(pts)
    median = float(np.median(deltas))
    variable = bool(np.any(np.abs(deltas - median) > max(1.0, 0.01 * median)))
    fps = (len(pts) - 1) / span_s
    return {"fps": fps, "variable_frame_rate": variable, "duration_s": span_s + 1.0 / fps}
