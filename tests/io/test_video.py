"""Video files read frame-accurately with PyAV: every frame carries its own index as a bar code."""

from __future__ import annotations

import fractions
import json
import pickle
import random
import threading
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from napari_sam2_longvideo.errors import FrameReadError, UserInputError
from napari_sam2_longvideo.io.excerpt import FirstFrames
from napari_sam2_longvideo.io.frames import open_frames
from napari_sam2_longvideo.io.video import VideoFrames, usable_cores
from tests.real_data import REAL_360P

WIDTH, HEIGHT, BITS = 64, 48, 8
REAL_CLIP = REAL_360P


def barcode_frame(index: int) -> np.ndarray:
    """An RGB frame whose 8 vertical stripes, black or white, spell ``index`` in binary."""
    frame = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    stripe = WIDTH // BITS
    for bit in range(BITS):
        if (index >> bit) & 1:
            frame[:, bit * stripe : (bit + 1) * stripe] = 255
    return frame


def read_barcode(rgb: np.ndarray) -> int:
    """The index drawn by `barcode_frame`, read from the middle of each stripe (away from blur)."""
    stripe = WIDTH // BITS
    grey = rgb[8:-8, :, 1].astype(float)
    return sum(1 << bit for bit in range(BITS) if grey[:, bit * stripe + 2 : (bit + 1) * stripe - 2].mean() > 128)


def write_video(path: Path, codec: str, num_frames: int) -> Path:
    """Encode bar-code frames with a GOP of 12 and B-frames where the codec has them."""
    if codec not in av.codecs_available:
        pytest.skip(f"PyAV's FFmpeg has no {codec} encoder")
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=30)
        stream.width, stream.height = WIDTH, HEIGHT
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        if codec != "mjpeg":
            stream.codec_context.gop_size = 12
            stream.codec_context.max_b_frames = 2
        for index in range(num_frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(barcode_frame(index), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


VIDEO_KINDS = [("clip.mp4", "libx264"), ("clip.avi", "mpeg4"), ("clip.mov", "mpeg4"),
               ("clip.mkv", "libx264"), ("mjpeg.avi", "mjpeg"), ("UPPER.MP4", "libx264")]


@pytest.mark.parametrize(("name", "codec"), VIDEO_KINDS)
def test_every_frame_is_its_own_index_in_any_read_order(tmp_path, name, codec):
    path = write_video(tmp_path / name, codec, num_frames=50)
    with open_frames(path) as video:
        assert isinstance(video, VideoFrames)
        assert (len(video), video.height, video.width) == (50, HEIGHT, WIDTH)
        sequential = list(range(50))
        backward = sequential[::-1]
        shuffled = sequential * 2
        random.Random(0).shuffle(shuffled)
        for order in (sequential, backward, shuffled):
            assert [read_barcode(video.read(t)) for t in order] == order
        frame = video.read(7)
        assert frame.dtype == np.uint8 and frame.shape == (HEIGHT, WIDTH, 3) and frame.flags.c_contiguous
        # The decoder's look-ahead is the only buffer: it must not grow with the frames read.
        assert len(video._pending) <= 16


def test_frames_read_in_jumps_are_exactly_those_read_in_order(tmp_path):
    """Reading ahead leaves the pictures before the target that nothing refers to undecoded."""
    path = write_video(tmp_path / "clip.mp4", "libx264", 50)
    with open_frames(path) as in_order:
        rgb = [in_order.read(t) for t in range(50)]
    with open_frames(path) as in_order:
        grey = [in_order.read_grey(t) for t in range(50)]
    with open_frames(path) as jumping:
        for t in (4, 9, 13, 30, 31, 47):
            np.testing.assert_array_equal(jumping.read(t), rgb[t])
            np.testing.assert_array_equal(jumping.read_grey(t + 2), grey[t + 2])


def test_info_reports_average_fps_and_constant_rate(tmp_path):
    with open_frames(write_video(tmp_path / "clip.mp4", "libx264", 40)) as video:
        assert video.info["kind"] == "video"
        assert video.info["fps"] == pytest.approx(30.0)
        assert video.info["variable_frame_rate"] is False
        json.dumps(video.info)


def test_variable_frame_rate_is_detected_and_frames_stay_exact(tmp_path):
    path = tmp_path / "vfr.mp4"
    gaps_ms = [100 if i % 3 == 0 else 33 for i in range(30)]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.codec_context.time_base = fractions.Fraction(1, 1000)
        time_ms = 0
        for index, gap in enumerate(gaps_ms):
            frame = av.VideoFrame.from_ndarray(barcode_frame(index), format="rgb24")
            frame.pts, frame.time_base = time_ms, fractions.Fraction(1, 1000)
            time_ms += gap
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with open_frames(path) as video:
        assert video.info["variable_frame_rate"] is True
        assert video.timestamp_s(1) == pytest.approx(0.1, abs=1e-3)
        # every frame's time at once (tracks.csv's time_s): the timestamps, not frame / average fps
        np.testing.assert_array_equal(video.timestamps_s(), [video.timestamp_s(t) for t in range(30)])
        np.testing.assert_allclose(np.diff(video.timestamps_s()), np.array(gaps_ms[:-1]) / 1000, atol=1e-3)
        assert FirstFrames(video, 10).timestamps_s().tolist() == video.timestamps_s()[:10].tolist()
        assert [read_barcode(video.read(t)) for t in (29, 3, 17, 18, 0)] == [29, 3, 17, 18, 0]


def test_fingerprint_names_the_file_and_tells_videos_apart(tmp_path):
    first = open_frames(write_video(tmp_path / "a.mp4", "libx264", 40))
    second = open_frames(write_video(tmp_path / "b.mp4", "libx264", 41))
    fingerprint = first.fingerprint()
    assert json.loads(json.dumps(fingerprint)) == fingerprint
    assert fingerprint["path"] == str((tmp_path / "a.mp4").resolve())
    assert (fingerprint["num_frames"], fingerprint["height"], fingerprint["width"]) == (40, HEIGHT, WIDTH)
    assert fingerprint["size_bytes"] > 0
    assert fingerprint != second.fingerprint()


def test_array_view_for_napari(tmp_path):
    with open_frames(write_video(tmp_path / "clip.mp4", "libx264", 40)) as video:
        assert (video.shape, video.dtype, video.ndim) == ((40, HEIGHT, WIDTH, 3), np.uint8, 4)
        assert read_barcode(video[12]) == 12
        assert read_barcode(video[-1]) == 39
        assert [read_barcode(frame) for frame in video[5:9]] == [5, 6, 7, 8]
        assert video[3, :10, :20].shape == (10, 20, 3)
        assert video[0:4:2, 0].shape == (2, WIDTH, 3)


def test_returned_frames_are_the_callers_to_change(tmp_path):
    with open_frames(write_video(tmp_path / "clip.mp4", "libx264", 40)) as video:
        video.read(5)[:] = 0
        assert read_barcode(video.read(5)) == 5


def test_reads_from_two_threads_stay_exact(tmp_path):
    video = open_frames(write_video(tmp_path / "clip.mp4", "libx264", 40))
    wrong = []

    def read_randomly(seed):
        for t in random.Random(seed).choices(range(40), k=60):
            if read_barcode(video.read(t)) != t:
                wrong.append(t)

    threads = [threading.Thread(target=read_randomly, args=(seed,)) for seed in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []


def test_decoder_threads_default_to_one_per_usable_core_and_reopened_videos_keep_the_count_asked(tmp_path):
    video = open_frames(write_video(tmp_path / "clip.mp4", "libx264", 40))
    assert video._stream.codec_context.thread_count == usable_cores() >= 1
    single = pickle.loads(pickle.dumps(FirstFrames(video, 30).reopener(decoder_threads=1)))()
    assert single.source._stream.codec_context.thread_count == 1
    order = [0, 29, 7, 8, 20]
    assert [read_barcode(video.read(t)) for t in order] == [read_barcode(single.read(t)) for t in order] == order


def test_damaged_packet_names_its_frame_and_the_others_still_read(tmp_path):
    path = write_video(tmp_path / "clip.avi", "mjpeg", 40)
    with av.open(str(path)) as container:
        packets = sorted((p.pts, p.pos, p.size) for p in container.demux(video=0) if p.size)
    _, position, size = packets[20]
    with open(path, "r+b") as file:
        file.seek(position)
        file.write(b"\0" * size)
    with open_frames(path) as video:
        assert [read_barcode(video.read(t)) for t in range(20)] == list(range(20))
        with pytest.raises(FrameReadError, match=r"frame 20 of .*clip\.avi") as raised:
            video.read(20)
        assert raised.value.frame == 20
        assert read_barcode(video.read(21)) == 21
        with pytest.raises(FrameReadError, match="frame 20"):
            video.read(20)  # again, this time by seeking
        assert read_barcode(video.read(19)) == 19


def test_file_that_is_not_a_video(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("not a video")
    with pytest.raises(UserInputError, match=r"notes\.mp4 is not a video PyAV can open"):
        open_frames(path)


def test_truncated_video_without_index(tmp_path):
    data = write_video(tmp_path / "whole.mp4", "libx264", 40).read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: len(data) // 2])  # the MP4 index (moov) is written last, so it is lost
    with pytest.raises(UserInputError, match=r"cut\.mp4 is not a video PyAV can open"):
        open_frames(path)


def test_file_without_video_stream(tmp_path):
    path = tmp_path / "sound.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        samples = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        samples.sample_rate, samples.pts = 8000, 0
        for packet in [*stream.encode(samples), *stream.encode()]:
            container.mux(packet)
    with pytest.raises(UserInputError, match=r"sound\.mkv is not a video PyAV can open: it has no video stream"):
        open_frames(path)


def test_frame_out_of_range(tmp_path):
    with open_frames(write_video(tmp_path / "clip.mp4", "libx264", 40)) as video:
        with pytest.raises(UserInputError, match=r"Frame 40 is out of range: .*clip\.mp4 has 40 frames"):
            video.read(40)
        with pytest.raises(UserInputError, match=r"Frame -1 is out of range"):
            video.read(-1)


def test_reading_after_close(tmp_path):
    video = open_frames(write_video(tmp_path / "clip.mp4", "libx264", 40))
    video.close()
    with pytest.raises(UserInputError, match=r"clip\.mp4 was closed"):
        video.read(3)


@pytest.mark.skipif(not REAL_CLIP.exists(), reason=f"the real clip {REAL_CLIP} is not here")
def test_real_clip_frame_900_read_directly_equals_frame_900_reached_in_order():
    with open_frames(REAL_CLIP) as direct, open_frames(REAL_CLIP) as in_order:
        assert (len(direct), direct.width, direct.height) == (1198, 640, 360)
        assert direct.info["fps"] == pytest.approx(30.0)
        jumped = direct.read(900)
        for t in range(900):
            in_order.read(t)
        np.testing.assert_array_equal(jumped, in_order.read(900))
        assert not np.array_equal(jumped, in_order.read(899))


def gradient_frame(index: int) -> np.ndarray:
    """Every grey level from black to white across the frame, and a coloured patch that moves."""
    frame = np.repeat(np.linspace(0, 255, WIDTH).astype(np.uint8)[None, :, None], HEIGHT, axis=0).repeat(3, axis=2)
    frame[10:20, index % 40 : index % 40 + 10] = (200, 60, 30)
    return frame


@pytest.mark.parametrize(("codec", "pixel_format"), [("libx264", "yuv420p"), ("mjpeg", "yuvj420p")])
def test_grey_frames_come_from_the_luma_plane_and_match_converting_rgb(tmp_path, codec, pixel_format):
    """Video levels (16..235) and full-range video both read as full-range grey, as RGB would give."""
    if codec not in av.codecs_available:
        pytest.skip(f"PyAV's FFmpeg has no {codec} encoder")
    path = tmp_path / "gradient.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=30)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, pixel_format
        for index in range(12):
            for packet in stream.encode(av.VideoFrame.from_ndarray(gradient_frame(index), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with open_frames(path) as video:
        assert video.info["pixel_format"] == pixel_format
        for t in (5, 2, 11):  # out of order: each read finds its own frame
            grey = video.read_grey(t)
            from_rgb = cv2.cvtColor(video.read(t), cv2.COLOR_RGB2GRAY)
            assert grey.shape == (HEIGHT, WIDTH) and grey.dtype == np.uint8 and grey.flags.c_contiguous
            difference = np.abs(grey.astype(int) - from_rgb)
            assert np.percentile(difference, 99) <= 2 and difference.max() <= 8
            assert grey[:, 0].max() < 20 and grey[:, -1].min() > 235  # full range
