"""Mistakes a user can make become napari notifications that say what to do; nothing tracked is lost."""

from __future__ import annotations

import numpy as np

from napari_sam2_longvideo.io.store import LabelStore
from napari_sam2_longvideo.testing.synthetic import (
    crossing_ellipses,
    write_frame_folder,
)
from napari_sam2_longvideo.testing.truth_backend import TruthBackend

PLUGIN = "napari-sam2-longvideo"


def test_missing_inputs_are_reported_before_anything_runs(viewer, widget, click, errors_shown, tmp_path):
    widget.track()
    assert "Open a video first" in errors_shown[-1]

    viewer.add_image(np.zeros((5, 30, 40, 3), np.uint8), name="video", rgb=True)
    widget.track()
    assert "No prompts: press 'New prompts'" in errors_shown[-1]

    layer = widget.make_prompts_layer()
    widget.out.value = tmp_path / "run"
    widget.track()
    assert "holds no prompts: click each animal once" in errors_shown[-1]

    click(layer, (1, 10, 10))
    widget.out.value = None
    widget.track()
    assert "Choose an output folder" in errors_shown[-1]
    assert widget.worker is None and [layer.name for layer in viewer.layers] == ["video", "video prompts"]


def test_a_prompt_outside_the_image_names_the_prompt_and_the_fix(viewer, widget, errors_shown, tmp_path):
    viewer.add_image(np.zeros((5, 30, 40, 3), np.uint8), name="video", rgb=True)
    layer = widget.make_prompts_layer()
    layer.add([[1, 10, 10], [2, 500, 500]])
    widget.out.value = tmp_path / "run"
    widget.track()
    assert "prompt 2 (animal 1, frame 2): point (y=500, x=500) is outside the image" in errors_shown[-1]
    assert widget.worker is None


def test_a_missing_checkpoint_file_says_which_and_what_to_do(
    viewer, widget, use_generated, wait_for_run, errors_shown, tmp_path
):
    use_generated(widget, tmp_path / "run")
    widget.form.widgets["checkpoint"].value = tmp_path / "missing.pt"
    widget.track()
    wait_for_run(widget)
    assert "missing.pt does not exist" in errors_shown[-1]
    assert "'checkpoint file'" in errors_shown[-1] and "--" not in errors_shown[-1]  # the form's words
    assert "generated_clip labels" not in viewer.layers  # no empty layer left behind
    assert widget.track_button.enabled


def test_weights_that_cannot_be_downloaded_say_how_to_get_them(
    widget, use_generated, wait_for_run, errors_shown, tmp_path, monkeypatch
):
    monkeypatch.setenv("SAM2_LONGVIDEO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SAM2_LONGVIDEO_BASE_URL", "http://127.0.0.1:9")  # a closed port: fails at once
    use_generated(widget, tmp_path / "run")
    widget.track()
    wait_for_run(widget)
    assert "Could not download the SAM2 weights" in errors_shown[-1]
    assert "pass it with 'checkpoint file'" in errors_shown[-1]


def test_an_unreadable_frame_is_named_and_finished_chunks_stay(viewer, widget, wait_for_run, errors_shown, tmp_path):
    clip = crossing_ellipses(num_frames=12, height=48, width=64)
    folder = write_frame_folder(clip, tmp_path / "frames")
    damaged = folder / "frame9.png"
    damaged.write_bytes(damaged.read_bytes()[:80])  # the header reads, the pixels do not
    viewer.open(folder, plugin=PLUGIN)
    layer = widget.make_prompts_layer()
    layer.add([[0, y, x] for _frame, y, x, _animal, _positive in clip.center_prompts(0)])
    layer.features["animal"] = [1, 2]
    widget.form.widgets["backend"].value = "contrast"  # a backend that reads the frames
    widget.form.widgets["chunk_size"].value = 4
    widget.out.value = tmp_path / "run"
    widget.track()
    wait_for_run(widget)

    assert "Could not decode frame 9" in errors_shown[-1] and "frame9.png" in errors_shown[-1]
    assert LabelStore.open(tmp_path / "run").done_chunks == [0, 1]
    labels = viewer.layers["frames labels"]
    np.testing.assert_array_equal(np.asarray(labels.data[:8]), LabelStore.open(tmp_path / "run")[:8])
    assert np.asarray(labels.data[:8]).any()  # the finished chunks are still shown


def test_an_unexpected_failure_is_reported_and_keeps_finished_chunks(
    viewer, widget, generated, use_generated, wait_for_run, errors_shown, tmp_path
):
    class FailsInChunk3(TruthBackend):
        def start_session(self, frames, start, stop):
            if start > 20:
                raise RuntimeError("CUDA out of memory")
            return super().start_session(frames, start, stop)

    widget.backend_factory = lambda settings: FailsInChunk3(generated)
    use_generated(widget, tmp_path / "run")
    widget.track()
    wait_for_run(widget)
    assert "Tracking failed (RuntimeError: CUDA out of memory)" in errors_shown[-1]
    assert "Track resumes after them" in errors_shown[-1]
    assert LabelStore.open(tmp_path / "run").done_chunks == [0, 1, 2]


def test_a_folder_holding_another_run_is_refused_until_start_over(
    viewer, widget, generated, use_generated, wait_for_run, errors_shown, tmp_path
):
    widget.backend_factory = lambda settings: TruthBackend(generated)
    use_generated(widget, tmp_path / "run")
    widget.track()
    wait_for_run(widget)
    viewer.layers["generated_clip prompts"].add([5, 40, 30])  # different prompts now
    widget.track()
    wait_for_run(widget)
    assert "holds a run of different prompts" in errors_shown[-1] and "'start over'" in errors_shown[-1]
    assert (tmp_path / "run" / "labels.tif").exists()  # the earlier result is untouched

    widget.overwrite.value = True
    widget.track()
    wait_for_run(widget)
    assert widget.status.text().startswith("Done")
