"""Readers: videos, frame folders and TIFF stacks open lazily; a run folder reopens as labels; the rest is declined."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import av
import numpy as np
import pytest
import tifffile
import zarr

from napari_sam2_longvideo._napari._reader import get_run_reader, get_video_reader
from napari_sam2_longvideo.core.chunks import chunk_plan
from napari_sam2_longvideo.core.records import TRACK_DTYPE
from napari_sam2_longvideo.errors import UserInputError
from napari_sam2_longvideo.io.prompts import Prompts
from napari_sam2_longvideo.io.source import FrameSource
from napari_sam2_longvideo.io.store import LabelStore
from napari_sam2_longvideo.run import run_tracking
from napari_sam2_longvideo.sample import sample_paths
from napari_sam2_longvideo.settings import TrackSettings
from napari_sam2_longvideo.testing.synthetic import (
    crossing_ellipses,
    write_frame_folder,
)
from napari_sam2_longvideo.testing.truth_backend import TruthBackend
from tests.real_data import REAL_720P

PLUGIN = "napari-sam2-longvideo"
LONG_VIDEO = {"frames": 1000, "height": 240, "width": 320}


@pytest.fixture(scope="module")
def long_video(tmp_path_factory) -> Path:
    """A 1000-frame video (230 MB decoded), written in under a second."""
    path = tmp_path_factory.mktemp("video") / "long.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=30)
        stream.width, stream.height, stream.pix_fmt = LONG_VIDEO["width"], LONG_VIDEO["height"], "yuv420p"
        for t in range(LONG_VIDEO["frames"]):
            image = np.full((LONG_VIDEO["height"], LONG_VIDEO["width"], 3), t % 256, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    return path


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    """A finished run on the generated clip, made by the engine directly."""
    clip = crossing_ellipses(num_frames=24, height=48, width=64)
    folder = tmp_path_factory.mktemp("runs") / "run1"
    settings = TrackSettings(chunk_size=10)
    for _ in run_tracking(clip.frames, Prompts(clip.center_prompts(0)), settings, folder, backend=TruthBackend(clip)):
        pass
    return folder, clip


def test_readers_decline_paths_they_do_not_read(tmp_path, run_folder, long_video):
    (tmp_path / "notes.csv").write_text("a,b\n")
    (tmp_path / "papers").mkdir()
    (tmp_path / "papers" / "notes.txt").write_text("")
    (tmp_path / "empty").mkdir()
    tifffile.imwrite(tmp_path / "one_image.tif", np.zeros((20, 30), np.uint8))
    (tmp_path / "broken.tif").write_bytes(b"not a tiff")
    declined = [
        tmp_path / "notes.csv", tmp_path / "papers", tmp_path / "empty", tmp_path / "one_image.tif",
        tmp_path / "broken.tif", tmp_path / "missing.mp4", [str(long_video), str(long_video)], 42,
    ]
    for path in declined:
        assert get_video_reader(path if isinstance(path, (list, int)) else str(path)) is None, path
        assert get_run_reader(path if isinstance(path, (list, int)) else str(path)) is None, path
    folder, _clip = run_folder
    assert get_video_reader(str(folder)) is None  # holds labels.tif, but is a run
    assert get_run_reader(str(long_video)) is None


def test_a_long_video_opens_at_once_without_decoding_it(viewer, long_video):
    get_video_reader(str(long_video))(str(long_video))  # the first open imports PyAV's modules, once
    tracemalloc.start()
    try:
        reader = get_video_reader(str(long_video))
        (frames, kwargs, kind), = reader(str(long_video))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    frame_bytes = LONG_VIDEO["height"] * LONG_VIDEO["width"] * 3
    assert isinstance(frames, FrameSource) and kind == "image" and kwargs["rgb"]
    assert frames.shape == (LONG_VIDEO["frames"], LONG_VIDEO["height"], LONG_VIDEO["width"], 3)
    # numpy's allocations (tracemalloc sees them); FFmpeg's own buffers are in the RSS test below
    assert peak < frame_bytes, f"opening held {peak / frame_bytes:.1f} frames' worth"

    layer = viewer.open(long_video, plugin=PLUGIN)[0]
    assert layer.data.shape == frames.shape and not isinstance(layer.data, np.ndarray)
    assert viewer.dims.range[0].stop == LONG_VIDEO["frames"] - 1 and viewer.dims.axis_labels[0] == "frame"
    viewer.dims.set_point(0, 700)
    assert layer.data[700][0, 0, 0] == 700 % 256  # frame 700 decoded on demand


@pytest.mark.skipif(not REAL_720P.exists(), reason="the shared two-mice clip is not here")
def test_opening_the_real_720p_clip_costs_a_few_frames_of_memory():
    import psutil

    process = psutil.Process()
    get_video_reader(str(REAL_720P))(str(REAL_720P))  # the first open loads FFmpeg's libraries, once
    before = process.memory_info().rss
    (frames, _kwargs, _kind), = get_video_reader(str(REAL_720P))(str(REAL_720P))
    grown = process.memory_info().rss - before
    frame_bytes = 720 * 1280 * 3
    assert frames.shape[0] > 1000
    assert grown < 8 * frame_bytes, f"{grown / frame_bytes:.1f} frames' worth"  # decoder threads' buffers


def test_frame_folders_and_tiff_stacks_open_as_the_same_video(viewer, tmp_path):
    clip = crossing_ellipses(num_frames=6, height=24, width=32)
    folder = write_frame_folder(clip, tmp_path / "frames")
    tifffile.imwrite(tmp_path / "stack.tif", clip.frames[..., 0], metadata={"axes": "TYX"})
    for path in (folder, tmp_path / "stack.tif"):
        layer = viewer.open(path, plugin=PLUGIN)[0]
        assert layer.rgb and layer.data.shape == (6, 24, 32, 3)
        np.testing.assert_array_equal(layer.data[3], clip.frames[3])


def test_a_run_folder_reopens_as_lazy_labels_with_its_prompts(viewer, run_folder):
    folder, clip = run_folder
    labels, prompts = viewer.open(folder, plugin=PLUGIN)
    assert labels.name == "run1 labels" and isinstance(labels.data, zarr.Array)  # lazy: read block by block
    np.testing.assert_array_equal(np.asarray(labels.data), clip.truth)
    np.testing.assert_allclose(prompts.data, [row[:3] for row in clip.center_prompts(0)])
    assert prompts.features["animal"].tolist() == [1, 2]


def test_a_run_folder_of_100k_frames_opens_at_once(viewer, tmp_path):
    """Only the blocks of the frame shown are read: opening costs the same for any length."""
    store = LabelStore.create(tmp_path / "long", (100_000, 360, 640), np.uint8, chunk_plan(100_000, 100))
    labels = np.zeros((100, 360, 640), np.uint8)
    labels[:, 100:150, 200:260] = 2
    store.write_chunk(store.chunks[500], labels, np.zeros(0, TRACK_DTYPE))
    started = time.perf_counter()
    layer = viewer.open(tmp_path / "long", plugin=PLUGIN)[0]
    viewer.dims.set_current_step(0, 50_010)
    assert time.perf_counter() - started < 5
    assert layer.data.shape == (100_000, 360, 640)
    np.testing.assert_array_equal(np.asarray(layer.data[50_010]), labels[10])


def test_a_run_folder_of_an_earlier_version_opens_as_a_message_what_to_do(tmp_path):
    (tmp_path / "old" / "store").mkdir(parents=True)
    (tmp_path / "old" / "store" / "store.json").write_text('{"format": 2}')
    reader = get_run_reader(str(tmp_path / "old"))
    assert reader is not None and get_video_reader(str(tmp_path / "old")) is None
    with pytest.raises(UserInputError, match="earlier version.*--overwrite"):
        reader(str(tmp_path / "old"))


def test_a_stopped_run_reopened_in_a_new_session_resumes(viewer, widget, wait_for_run, tmp_path):
    from napari_sam2_longvideo.engine.events import ChunkDone

    clip = crossing_ellipses(num_frames=30, height=48, width=64)
    folder = write_frame_folder(clip, tmp_path / "frames")
    events = run_tracking(folder, Prompts(clip.center_prompts(0)), TrackSettings(chunk_size=10), tmp_path / "run",
                          backend=TruthBackend(clip))
    next(event for event in events if isinstance(event, ChunkDone))
    events.close()  # an earlier session stopped after chunk 0

    viewer.open(folder, plugin=PLUGIN)
    viewer.open(tmp_path / "run", plugin=PLUGIN)  # labels so far, and the prompts the run started with
    assert widget.out.value == tmp_path / "run" and widget.prompts.value.name == "run prompts"
    resumed = TruthBackend(clip)
    widget.backend_factory = lambda settings: resumed
    widget.form.widgets["chunk_size"].value = 10
    widget.track()
    wait_for_run(widget)
    assert widget.status.text().startswith("Done") and [s.start for s in resumed.sessions] == [9, 19]
    np.testing.assert_array_equal(np.asarray(viewer.layers["run labels"].data), clip.truth)


def test_the_sample_video_reader_is_what_the_sample_uses():
    video, _prompts = sample_paths()
    (frames, kwargs, _), = get_video_reader(str(video))(str(video))
    assert kwargs["metadata"]["video"] == str(video) and frames.shape == (60, 360, 640, 3)
