"""The napari side, in a real viewer: the widget through the manifest, prompts, runs, cancel, resume."""

from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_sam2_longvideo._widgets._prompts_layer import PROMPTS_KEY
from napari_sam2_longvideo._widgets._reader import get_reader
from napari_sam2_longvideo._widgets._track_widget import TrackWidget
from napari_sam2_longvideo.io.store import LabelStore
from napari_sam2_longvideo.testing.synthetic import crossing_ellipses, write_frame_folder
from napari_sam2_longvideo.testing.truth_backend import TruthBackend

PLUGIN = "napari-sam2-longvideo"


@pytest.fixture
def viewer(make_napari_viewer):
    return make_napari_viewer()


def open_widget(viewer) -> TrackWidget:
    _dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Track animals")
    assert isinstance(widget, TrackWidget)
    return widget


def load_generated(viewer):
    viewer.open_sample(PLUGIN, "generated_clip")
    return crossing_ellipses(num_frames=40, height=96, width=128)


def choose_generated(widget, out, chunk_size=10):
    """Point the widget at the generated sample, its prompts and an output folder."""
    widget.image.value, widget.prompts.value = "generated_clip", "generated_clip prompts"
    widget.chunk_size.value = chunk_size
    widget.out.value = out


def wait_for_run(qtbot, widget, timeout=120_000):
    qtbot.waitUntil(lambda: widget.worker is None, timeout=timeout)


def test_new_prompts_layer_adds_points_for_the_current_animal_in_its_colour(viewer):
    viewer.add_image(np.zeros((5, 30, 40, 3), np.uint8), name="video", rgb=True)
    widget = open_widget(viewer)
    layer = widget.make_prompts_layer()
    assert layer.metadata[PROMPTS_KEY] and layer.mode == "add" and widget.prompts.value == layer.name

    layer.add([2, 10, 12])
    widget.animal.value = 3
    widget.negative.value = True
    layer.add([4, 20, 22])
    assert layer.features["animal"].tolist() == [1, 3]
    assert layer.features["positive"].tolist() == [True, False]
    assert not np.allclose(layer.face_color[0], layer.face_color[1])
    assert [str(s) for s in layer.symbol] == ["disc", "x"]


def test_a_full_run_with_the_truth_backend_fills_a_labels_layer(viewer, qtbot, tmp_path):
    clip = load_generated(viewer)
    widget = open_widget(viewer)
    widget.backend_factory = lambda settings: TruthBackend(clip)
    choose_generated(widget, tmp_path / "run")
    widget.start()
    wait_for_run(qtbot, widget)

    labels = viewer.layers["generated_clip labels"]
    np.testing.assert_array_equal(np.asarray(labels.data), clip.truth)
    assert (tmp_path / "run" / "labels.tif").exists() and widget.progress.value == 40
    assert widget.status.value.startswith("done")


def test_cancel_keeps_finished_chunks_and_track_resumes(viewer, qtbot, tmp_path):
    clip = load_generated(viewer)
    widget = open_widget(viewer)

    class SlowTruth(TruthBackend):
        """Cancels itself once the first chunk is on disk, as a user pressing Cancel would."""

        def start_session(self, frames, start, stop):
            if start > 0 and widget.worker is not None:
                widget.stop()
            return super().start_session(frames, start, stop)

    widget.backend_factory = lambda settings: SlowTruth(clip)
    choose_generated(widget, tmp_path / "run")
    widget.start()
    wait_for_run(qtbot, widget)
    done = LabelStore.open(tmp_path / "run" / "store").done_chunks
    assert 1 <= len(done) < 4 and not (tmp_path / "run" / "labels.tif").exists()
    assert "stopped" in widget.status.value

    widget.backend_factory = lambda settings: TruthBackend(clip)
    widget.start()
    wait_for_run(qtbot, widget)
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "run" / "labels.tif"), clip.truth)


@pytest.mark.slow
def test_a_run_with_random_weight_sam2(viewer, qtbot, tmp_path):
    viewer.open_sample(PLUGIN, "generated_clip")
    widget = open_widget(viewer)
    choose_generated(widget, tmp_path / "run")
    widget.random_weights.value, widget.image_size.value = True, 256
    widget.viewer.layers["generated_clip"].data = widget.viewer.layers["generated_clip"].data[:20]
    widget.start()
    wait_for_run(qtbot, widget, timeout=300_000)
    assert LabelStore.open(tmp_path / "run" / "store").complete
    assert viewer.layers["generated_clip labels"].data.shape == (20, 96, 128)


def test_errors_become_notifications_and_nothing_runs(viewer, qtbot, tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr("napari_sam2_longvideo._widgets._track_widget.show_error", shown.append)
    viewer.add_image(np.zeros((5, 30, 40, 3), np.uint8), name="video", rgb=True)
    widget = open_widget(viewer)
    widget.out.value = tmp_path / "run"
    widget.start()
    assert "No prompts" in shown[-1]

    layer = widget.make_prompts_layer()
    layer.add([1, 500, 500])  # outside the 30 x 40 image
    widget.backend_factory = lambda settings: TruthBackend(crossing_ellipses(5, 30, 40))
    widget.start()
    wait_for_run(qtbot, widget)
    assert "outside the image" in shown[-1]

    layer.data = np.array([[1, 10, 10]])
    widget.backend_factory = None
    widget.checkpoint.value = tmp_path / "missing.pt"
    widget.start()
    wait_for_run(qtbot, widget)
    assert "missing.pt does not exist" in shown[-1]


def test_writer_round_trips_labels_and_reader_reopens_a_run(viewer, qtbot, tmp_path):
    clip = load_generated(viewer)
    widget = open_widget(viewer)
    widget.backend_factory = lambda settings: TruthBackend(clip)
    choose_generated(widget, tmp_path / "run", chunk_size=100)
    widget.start()
    wait_for_run(qtbot, widget)

    saved = viewer.layers["generated_clip labels"].save(str(tmp_path / "saved.tif"), plugin=PLUGIN)
    np.testing.assert_array_equal(tifffile.imread(saved[0]), clip.truth)

    reopened = viewer.open(tmp_path / "run", plugin=PLUGIN)[0]
    np.testing.assert_array_equal(np.asarray(reopened.data), clip.truth)


def test_readers_open_videos_lazily_and_decline_what_they_do_not_read(tmp_path):
    from napari_sam2_longvideo.sample import sample_paths

    video, prompts = sample_paths()
    assert get_reader(str(prompts)) is None
    assert get_reader(str(tmp_path)) is None  # an empty folder
    (data, kwargs, kind), = get_reader(str(video))(str(video))
    assert kind == "image" and data.shape == (60, 360, 640, 3) and kwargs["rgb"]
    assert not isinstance(data, np.ndarray)  # frames are decoded only when shown


REAL_720P = Path(__file__).resolve().parents[3] / "shared" / "data" / "two-mice" / "two_mice_720p.mp4"


@pytest.mark.skipif(not REAL_720P.exists(), reason="the shared two-mice clip is not here")
def test_opening_a_long_video_costs_a_few_frames_of_memory_not_the_video():
    import psutil

    process = psutil.Process()
    get_reader(str(REAL_720P))(str(REAL_720P))  # first open: library start-up costs, once per session
    before = process.memory_info().rss
    (data, _kwargs, _kind), = get_reader(str(REAL_720P))(str(REAL_720P))
    grown = process.memory_info().rss - before
    frame_bytes = 720 * 1280 * 3
    assert data.shape == (1198, 720, 1280, 3)
    assert grown < 8 * frame_bytes, f"{grown / frame_bytes:.1f} frames' worth"  # decoder threads' buffers


def test_the_widget_builds_the_same_settings_object_as_the_command_line(viewer, tmp_path):
    from napari_sam2_longvideo.cli import build_parser, settings_from_args

    widget = open_widget(viewer)
    widget.backend.value, widget.model.value, widget.image_size.value = "sam2", "small", 512
    widget.chunk_size.value, widget.train_detector.value, widget.train_frames.value = 50, True, 40
    widget.detector_epochs.value, widget.detector_conf.value = 3, 0.3
    args = build_parser().parse_args([
        "track", "v.mp4", "--prompts", "p.csv", "--out", "o", "--model", "small", "--image-size", "512",
        "--chunk-size", "50", "--train-detector", "--train-frames", "40", "--detector-epochs", "3",
        "--detector-conf", "0.3",
    ])
    assert widget.settings() == settings_from_args(args)


def test_an_unreadable_frame_is_a_notification_and_finished_chunks_stay(viewer, qtbot, tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr("napari_sam2_longvideo._widgets._track_widget.show_error", shown.append)
    clip = crossing_ellipses(num_frames=12, height=48, width=64)
    folder = write_frame_folder(clip, tmp_path / "frames")
    damaged = folder / "frame9.png"
    damaged.write_bytes(damaged.read_bytes()[:80])
    viewer.open(folder, plugin=PLUGIN)
    widget = open_widget(viewer)
    layer = widget.make_prompts_layer()
    for frame, y, x, animal, _ in clip.center_prompts(0):
        widget.animal.value = animal
        layer.add([frame, y, x])
    widget.backend.value, widget.chunk_size.value = "contrast", 4
    widget.out.value = tmp_path / "run"
    widget.start()
    wait_for_run(qtbot, widget)
    assert "frame 9" in shown[-1]
    assert LabelStore.open(tmp_path / "run" / "store").done_chunks == [0, 1]
