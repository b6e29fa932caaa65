"""The "Track animals" widget in a real viewer: runs, the Labels layer filling in, cancel and resume."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import zarr
from napari.layers import Labels
from napari.qt.threading import create_worker

from napari_sam2_longvideo._napari import _track_widget
from napari_sam2_longvideo.engine.events import ChunkDone, FrameTracked, ResultsWritten, RunFinished, RunStarted
from napari_sam2_longvideo.io.store import LabelStore
from napari_sam2_longvideo.testing.truth_backend import TruthBackend


def test_a_full_run_with_the_truth_backend_labels_the_prompted_animals(
    viewer, widget, generated, use_generated, wait_for_run, monkeypatch, tmp_path
):
    widget.backend_factory = lambda settings: TruthBackend(generated)
    widget.frame_interval_s = 0  # every tracked frame reported, to see them all
    use_generated(widget, tmp_path / "run")
    seen = []

    def create_worker_and_listen(*args, **kwargs):
        # connected as the worker is made, before the widget starts it: no event can come before this
        worker = create_worker(*args, **kwargs)
        worker.yielded.connect(seen.append)
        return worker

    monkeypatch.setattr(_track_widget, "create_worker", create_worker_and_listen)
    widget.track()
    wait_for_run(widget)

    labels = viewer.layers["generated_clip labels"]
    # the prompts put animal k on ellipse k, so the labels are the truth itself
    np.testing.assert_array_equal(np.asarray(labels.data), generated.truth)
    assert isinstance(labels.data, zarr.Array)  # lazy: labels.zarr, read block by block
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "run" / "labels.tif"), generated.truth)
    assert (tmp_path / "run" / "tracks.csv").is_file()
    # every event of the run, in order: the start, each chunk's frames then the chunk, the end
    chunk = [FrameTracked] * 10 + [ChunkDone]
    assert [type(e) for e in seen] == [RunStarted, *chunk * 4, RunFinished, ResultsWritten]
    assert (seen[0].total_frames, seen[0].num_chunks) == (40, 4)
    assert [e.frame for e in seen if isinstance(e, FrameTracked)] == list(range(40))
    assert [e.chunk.index for e in seen if isinstance(e, ChunkDone)] == [0, 1, 2, 3]
    assert seen[-1].labels == tmp_path / "run" / "labels.tif"
    assert widget.progress_bar.value() == widget.progress_bar.maximum() == 40
    assert widget.status.text().startswith("Done")
    assert widget.track_button.enabled and not widget.cancel_button.enabled


def test_labels_appear_at_once_and_fill_in_chunk_by_chunk_while_the_viewer_stays_responsive(
    viewer, widget, generated, gated_backend, use_generated, wait_for_run, qtbot, tmp_path
):
    widget.backend_factory = lambda settings: gated_backend
    use_generated(widget, tmp_path / "run")
    widget.track()
    labels = viewer.layers["generated_clip labels"]  # there before the worker has sent anything
    assert labels.data.shape == generated.truth.shape
    # the layer stack keeps the prompts clickable: video, labels, prompts
    assert [layer.name for layer in viewer.layers][-1] == "generated_clip prompts"

    # chunk 0 is saved while chunk 1 waits: the main thread handles the worker's events meanwhile
    qtbot.waitUntil(lambda: widget.progress.chunks_done == 1, timeout=20_000)
    assert widget.worker is not None and "chunk 2 of 4" in widget.status.text()
    np.testing.assert_array_equal(labels.data[:10], generated.truth[:10])
    assert not np.asarray(labels.data[10:]).any()
    viewer.dims.set_point(0, 5)
    for animal, (y, x) in enumerate(generated.centers[5], start=1):  # what napari shows under the mouse
        assert labels.get_value((5, y, x), world=True) == animal

    gated_backend.gate.set()
    wait_for_run(widget)
    np.testing.assert_array_equal(np.asarray(labels.data), generated.truth)


def test_cancel_keeps_finished_chunks_and_track_resumes_after_them(
    viewer, widget, generated, gated_backend, use_generated, wait_for_run, qtbot, tmp_path
):
    widget.backend_factory = lambda settings: gated_backend
    use_generated(widget, tmp_path / "run")
    widget.track()
    qtbot.waitUntil(lambda: widget.progress.chunks_done == 1, timeout=20_000)
    widget.cancel_button.native.click()
    gated_backend.gate.set()  # the worker goes on to its next frame, sees Cancel and stops there
    wait_for_run(widget)

    assert LabelStore.open(tmp_path / "run").done_chunks == [0]
    assert not (tmp_path / "run" / "labels.tif").exists()
    assert widget.status.text().startswith("Stopped: 10 of 40 frames")
    assert widget.track_button.enabled

    resumed = TruthBackend(generated)
    widget.backend_factory = lambda settings: resumed
    widget.track()
    wait_for_run(widget)
    assert [session.start for session in resumed.sessions] == [9, 19, 29]  # chunks 1-3, from the carried frame
    assert len([layer for layer in viewer.layers if layer.name.startswith("generated_clip labels")
                and isinstance(layer, Labels)]) == 1
    np.testing.assert_array_equal(np.asarray(viewer.layers["generated_clip labels"].data), generated.truth)
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "run" / "labels.tif"), generated.truth)


@pytest.mark.slow
def test_a_run_with_random_weight_sam2_in_two_chunks(viewer, widget, generated, use_generated, wait_for_run, tmp_path):
    use_generated(widget, tmp_path / "run", chunk_size=10)
    fields = widget.form.widgets
    fields["random_weights"].value, fields["image_size"].value, fields["device"].value = True, 256, "cpu"
    fields["max_frames"].value = 20
    widget.track()
    wait_for_run(widget, timeout_ms=120_000)

    store = LabelStore.open(tmp_path / "run")
    assert store.complete and store.done_chunks == [0, 1]
    labels = viewer.layers["generated_clip labels"]
    assert labels.data.shape == (20, 96, 128)
    assert set(np.unique(np.asarray(labels.data))) <= {0, 1, 2}  # meaningless masks, but only prompted ids
    assert widget.status.text().startswith("Done")


def test_export_writes_the_runs_tracks_where_the_user_chooses(
    widget, generated, use_generated, wait_for_run, tmp_path
):
    widget.backend_factory = lambda settings: TruthBackend(generated)
    use_generated(widget, tmp_path / "run")
    widget.track()
    wait_for_run(widget)
    exported = widget.export_tracks(tmp_path / "elsewhere.csv")
    assert exported.read_text() == (tmp_path / "run" / "tracks.csv").read_text()
    assert exported.read_text().startswith("frame,animal,area,centroid_y,centroid_x,score")


def test_the_widget_builds_the_same_settings_as_the_command_line(widget, tmp_path):
    from napari_sam2_longvideo.cli import build_parser, settings_from_args

    fields = widget.form.widgets
    fields["model"].value, fields["image_size"].value, fields["chunk_size"].value = "small", 512, 50
    fields["train_detector"].value, fields["train_frames"].value, fields["detector_epochs"].value = True, 40, 3
    fields["detector_conf"].value, fields["detector_classes"].value, fields["max_frames"].value = 0.3, "0 2", 500
    checkpoint = str(tmp_path / "sam2.1_hiera_small.pt")
    fields["checkpoint"].value = checkpoint
    args = build_parser().parse_args([
        "track", "v.mp4", "--prompts", "p.csv", "--out", "o", "--model", "small", "--image-size", "512",
        "--chunk-size", "50", "--train-detector", "--train-frames", "40", "--detector-epochs", "3",
        "--detector-conf", "0.3", "--detector-classes", "0", "2", "--max-frames", "500",
        "--checkpoint", checkpoint,
    ])
    assert widget.settings() == settings_from_args(args)
