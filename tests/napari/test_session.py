"""The napari session as a user lives it: opening at frame 0, reopening a run folder with its settings,
the new run's layer on top, progress that tells the start-up apart from tracking, Cancel's numbers."""

from __future__ import annotations

import time

import numpy as np
import pytest
import tifffile

from napari_sam2_longvideo._napari._track_widget import TrackWidget
from napari_sam2_longvideo.engine.events import FrameTracked, Preparing
from napari_sam2_longvideo.io.prompts import Prompts
from napari_sam2_longvideo.io.store import LabelStore
from napari_sam2_longvideo.run import run_tracking
from napari_sam2_longvideo.settings import TrackSettings
from napari_sam2_longvideo.testing.synthetic import crossing_ellipses, write_frame_folder
from napari_sam2_longvideo.testing.truth_backend import TruthBackend

PLUGIN = "napari-sam2-longvideo"


@pytest.fixture
def clip_folder(tmp_path):
    clip = crossing_ellipses(num_frames=24, height=64, width=80)
    return clip, write_frame_folder(clip, tmp_path / "frames")


def listen(widget, monkeypatch):
    """The worker's events, each with the widget's status text right after the widget handled it."""
    seen = []
    handle = widget._on_event

    def handle_and_listen(event):
        handle(event)
        seen.append((event, widget.status.text()))

    monkeypatch.setattr(widget, "_on_event", handle_and_listen)  # what Track connects the worker to
    return seen


def test_a_video_and_the_generated_sample_open_at_frame_0(make_napari_viewer, clip_folder):
    _clip, folder = clip_folder
    viewer = make_napari_viewer()
    viewer.open(folder, plugin=PLUGIN)
    assert viewer.dims.current_step[0] == 0  # napari alone shows frame 12, the middle
    other = make_napari_viewer()
    other.open_sample(PLUGIN, "generated_clip")
    assert other.dims.current_step[0] == 0


def stopped_contrast_run(clip, folder, out, chunk_size=6):
    """A contrast run of ``folder`` stopped after its first chunk, as Cancel or Ctrl-C leave one."""
    settings = TrackSettings(backend="contrast", chunk_size=chunk_size, threshold=40)
    events = run_tracking(folder, Prompts(clip.center_prompts(0)), settings, out)
    for event in events:
        if type(event).__name__ == "ChunkDone":
            events.close()
            break
    return settings


def test_a_reopened_contrast_run_brings_its_settings_and_track_resumes_it(
    viewer, widget, clip_folder, wait_for_run, errors_shown, click, tmp_path
):
    clip, folder = clip_folder
    settings = stopped_contrast_run(clip, folder, tmp_path / "run")
    whole = tmp_path / "whole"
    for _ in run_tracking(folder, Prompts(clip.center_prompts(0)), settings, whole):
        pass

    viewer.open(folder, plugin=PLUGIN)
    viewer.open(tmp_path / "run", plugin=PLUGIN)
    fields = widget.form.widgets
    assert fields["backend"].value == "contrast" and fields["chunk_size"].value == 6
    assert fields["threshold"].value == 40
    assert str(widget.out.value) == str(tmp_path / "run")
    assert widget.status.text().startswith("Stopped run: 6 of 24 frames")
    prompts = viewer.layers["run prompts"]
    assert prompts.mode == "add" and viewer.layers.selection.active is prompts  # ready to click
    assert widget.prompts.value is prompts

    widget.track()
    wait_for_run(widget)
    assert not errors_shown
    assert widget.status.text().startswith("Done")
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "run" / "labels.tif"),
                                  tifffile.imread(whole / "labels.tif"))
    assert len([layer for layer in viewer.layers if layer.name.endswith("labels")]) == 1  # the reopened one

    widget.track()  # nothing left to do: said so, nothing rewritten
    assert widget.worker is None
    assert widget.status.text().startswith("This run is finished: all 24 frames")
    assert "tick 'start over'" in widget.status.text()


def test_other_settings_on_a_reopened_run_are_refused_in_the_widgets_words(
    viewer, widget, clip_folder, wait_for_run, errors_shown, tmp_path
):
    clip, folder = clip_folder
    stopped_contrast_run(clip, folder, tmp_path / "run")
    viewer.open(folder, plugin=PLUGIN)
    viewer.open(tmp_path / "run", plugin=PLUGIN)
    widget.form.widgets["threshold"].value = 60
    widget.track()
    wait_for_run(widget)
    message = errors_shown[-1]
    assert "other settings (threshold 40 -> 60.0)" in message
    assert "tick 'start over' (that discards the 6 of 24 frames tracked there)" in message
    assert "choose another output folder" in message and "--" not in message and "Pass" not in message


def test_new_prompts_goes_on_with_an_empty_prompts_layer(viewer, widget, clip_folder):
    _clip, folder = clip_folder
    viewer.open(folder, plugin=PLUGIN)
    first = widget.make_prompts_layer()
    first.mode = "pan_zoom"
    again = widget.make_prompts_layer()
    assert again == first  # (the plugin's widget hands back napari's proxies of its layers)
    assert again.mode == "add", again.mode
    assert len([layer for layer in viewer.layers if layer.name.endswith("prompts")]) == 1
    first.add([0, 10, 10])
    assert widget.make_prompts_layer() != first  # a layer with prompts is kept as it is


def test_the_second_runs_labels_are_on_top_and_a_rerun_replaces_its_layer(
    viewer, widget, generated, use_generated, wait_for_run, tmp_path
):
    widget.backend_factory = lambda settings: TruthBackend(generated)
    use_generated(widget, tmp_path / "first")
    widget.track()
    wait_for_run(widget)
    use_generated(widget, tmp_path / "second")
    widget.track()
    wait_for_run(widget)
    names = [layer.name for layer in viewer.layers]
    assert names == ["generated_clip", "generated_clip labels", "generated_clip labels (second)",
                     "generated_clip labels (second) tracks", "generated_clip prompts"]  # the first's tracks gone
    first = viewer.layers["generated_clip labels"]
    first.visible = False
    widget.out.value = tmp_path / "first"
    widget.overwrite.value = True
    widget.track()
    wait_for_run(widget)
    assert [layer.name for layer in viewer.layers][-3:] == [
        "generated_clip labels", "generated_clip labels tracks", "generated_clip prompts"
    ]
    assert first.visible and len(viewer.layers) == 5
    np.testing.assert_array_equal(np.asarray(first.data), generated.truth)


class SlowStart(TruthBackend):
    """The truth backend with a start-up step of ``seconds`` before its first frame, as a model load has."""

    def __init__(self, clip, seconds):
        super().__init__(clip)
        self.seconds, self.started = seconds, False

    def preparing(self):
        return None if self.started else "warming up"

    def start_session(self, frames, start, stop):
        if not self.started:
            time.sleep(self.seconds)
            self.started = True
        return super().start_session(frames, start, stop)


def test_start_up_steps_are_named_and_the_first_estimate_counts_only_tracked_frames(
    viewer, widget, generated, use_generated, wait_for_run, monkeypatch, tmp_path
):
    widget.backend_factory = lambda settings: SlowStart(generated, seconds=2.0)
    use_generated(widget, tmp_path / "run")
    seen = listen(widget, monkeypatch)
    widget.track()
    wait_for_run(widget)
    steps = [(event.step, text) for event, text in seen if isinstance(event, Preparing)]
    assert steps == [("warming up", "warming up")]
    shown = [(event.frames_done, text) for event, text in seen if isinstance(event, FrameTracked)]
    first_estimate = next((done, text) for done, text in shown if "frames/s" in text)
    assert first_estimate[0] >= 2  # after the first tracked frames, not at the start-up
    assert not any("frames/s" in text for event, text in seen[: seen.index(next(
        item for item in seen if isinstance(item[0], FrameTracked)))])
    rate = float(first_estimate[1].split(" · ")[1].split()[0])
    assert rate > 5  # the 2 s start-up counted would make it at most 1 frame/s


def test_after_cancel_the_bar_and_the_text_say_the_same(
    viewer, widget, generated, gated_backend, use_generated, wait_for_run, qtbot, tmp_path
):
    widget.backend_factory = lambda settings: gated_backend
    use_generated(widget, tmp_path / "run")
    widget.track()
    qtbot.waitUntil(lambda: widget.progress.chunks_done == 1, timeout=20_000)
    # held inside chunk 1's start: on a busy machine the worker may not have got there yet, and a Cancel
    # before would stop it after chunk 1's first event, with frame 10 untracked
    assert gated_backend.waiting.wait(timeout=20)
    widget.cancel_button.native.click()
    gated_backend.gate.set()  # frame 10 is tracked, then the worker sees Cancel
    wait_for_run(widget)
    assert widget.progress.frames_done == 11
    assert widget.progress_bar.value() == 10 and widget.progress_bar.maximum() == 40
    assert widget.progress_bar.text() == "10 of 40 frames saved"
    assert widget.status.text().startswith("Stopped: 10 of 40 frames are saved")
    assert "The 1 frame tracked since, in an unfinished chunk, is not kept." in widget.status.text()
    assert LabelStore.open(tmp_path / "run").frames_done == 10


def test_the_status_line_and_the_buttons_stay_in_view_with_every_section_unfolded(viewer, qtbot):
    from qtpy.QtWidgets import QScrollArea

    widget = TrackWidget(viewer)  # on its own, shown: the viewer's window is not
    qtbot.addWidget(widget)
    for section in widget.sections.values():
        section.expand(animate=False)
    widget.resize(420, 500)
    widget.show()
    qtbot.waitExposed(widget)
    scroll = widget.findChild(QScrollArea)
    assert scroll.verticalScrollBar().maximum() > 0  # the settings do not fit: they scroll
    for part in (widget.track_button.native, widget.status, widget.progress_bar, widget.exports.widget):
        assert not scroll.isAncestorOf(part)
        assert part.isVisible() and widget.rect().contains(part.mapTo(widget, part.rect().bottomRight()))


def test_the_run_just_tracked_is_reviewed_in_the_docks_second_tab(widget, use_generated, wait_for_run, generated,
                                                                  tmp_path):
    assert [widget.tabs.tabText(i) for i in range(widget.tabs.count())] == ["Track", "Review and correct"]
    assert widget.tabs.widget(0) is widget.track_page and widget.tabs.widget(1) is widget.review
    widget.backend_factory = lambda settings: TruthBackend(generated)
    use_generated(widget, tmp_path / "run")
    widget.track()
    wait_for_run(widget)
    review = widget.review
    assert review.run_folder == tmp_path / "run" and review.layer is widget.results.layer
    assert review.table.rowCount() == len(review.episodes)
    assert widget.tabs.tabText(1) == f"Review and correct ({len(review.episodes)})"
    from qtpy.QtWidgets import QLabel

    widget.add_panel("More", QLabel("another panel"))  # further panels go beside
    assert widget.tabs.count() == 3


def test_start_over_into_a_folder_not_shown_keeps_the_forms_settings(
    viewer, widget, generated, use_generated, wait_for_run, errors_shown, tmp_path
):
    for _ in run_tracking(generated.frames, Prompts(generated.center_prompts(0)), TrackSettings(chunk_size=20),
                          tmp_path / "run", backend=TruthBackend(generated)):
        pass
    widget.backend_factory = lambda settings: TruthBackend(generated)
    use_generated(widget, tmp_path / "run", chunk_size=10)
    widget.overwrite.value = True
    widget.track()  # adds the folder's layer: not taken for a run folder the user opened
    wait_for_run(widget)
    assert not errors_shown and widget.status.text().startswith("Done")
    assert LabelStore.open(tmp_path / "run").chunk_size == 10
    assert not widget.overwrite.value  # ticked for one Track: the next one resumes


def test_a_run_folder_opened_before_the_widget_is_taken_up_when_it_opens(viewer, clip_folder, tmp_path):
    clip, folder = clip_folder
    stopped_contrast_run(clip, folder, tmp_path / "run")
    viewer.open(tmp_path / "run", plugin=PLUGIN)
    _dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Track animals")
    assert widget.form.widgets["backend"].value == "contrast" and str(widget.out.value) == str(tmp_path / "run")
    assert widget.status.text().startswith("Stopped run: 6 of 24 frames")


def test_a_click_on_a_touching_frame_keeps_the_merged_flag_the_masks_call_for(
    viewer, widget, generated, use_generated, wait_for_run, tmp_path
):
    """A user clicks animal 1 again where the two touch and its mask covers both: that frame is flagged
    `merged` in the run's records, as an unprompted frame with the same masks is (issue 18)."""
    import scipy.ndimage as ndi

    from napari_sam2_longvideo.io.store import LabelStore

    near = [np.count_nonzero(ndi.binary_dilation(labels == 1, iterations=2) & (labels == 2))
            for labels in generated.truth]
    # the first frame they touch, after their usual areas are known (10 frames seen): one blob of both
    touching = next(t for t in range(10, len(near)) if near[t])
    prompts = viewer.layers["generated_clip prompts"]
    _frame, y, x, _animal, _positive = generated.center_prompts(touching)[0]
    prompts.add([[touching, y, x]])
    prompts.features.loc[len(prompts.data) - 1, "animal"] = 1
    widget.backend_factory = lambda settings: TruthBackend(generated, fuse={touching: (1, 2)})
    use_generated(widget, tmp_path / "run")
    widget.track()
    wait_for_run(widget)
    records = LabelStore.open(tmp_path / "run").records()
    at = records[records["frame"] == touching]
    assert at["prompted"].tolist() == [True, False] and at["lost"].tolist() == [False, True]
    assert at["merged"].all()
