"""The "Review and correct" widget in a real viewer, opened through the manifest, on a generated run whose
backend swaps the two animals on frames 57..74 (tests/test_corrections.py's `SwappingBackend`)."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from napari.layers import Labels, Tracks

from napari_sam2_longvideo._napari._correct_panel import FIX_LAYER, MASK_LAYER
from napari_sam2_longvideo._napari._review_panel import NEXT_KEY, PREVIOUS_KEY, ReviewPanel
from napari_sam2_longvideo._napari._tracks_layer import palette_values
from napari_sam2_longvideo.corrections import corrections_of
from napari_sam2_longvideo.engine.review import Episode, find_episodes
from napari_sam2_longvideo.io.frames import open_frames
from napari_sam2_longvideo.io.prompts import Prompts
from napari_sam2_longvideo.io.store import LabelStore
from napari_sam2_longvideo.run import run_tracking
from napari_sam2_longvideo.testing.synthetic import write_frame_folder
from tests.test_corrections import SETTINGS, SWAPPED, SwappingBackend, click, wrong_frames

from .conftest import PLUGIN


@pytest.fixture(scope="module")
def swapped_clip():
    from napari_sam2_longvideo.testing.synthetic import crossing_ellipses

    return crossing_ellipses(num_frames=120, height=48, width=64)


@pytest.fixture
def run(tmp_path, swapped_clip):
    """A finished run (frames on disk as PNGs, so a correction reopens the video from run.json)."""
    frames = write_frame_folder(swapped_clip, tmp_path / "frames")
    out = tmp_path / "run"
    with open_frames(frames) as source:
        list(run_tracking(source, Prompts(swapped_clip.center_prompts(0)), SETTINGS, out,
                          backend=SwappingBackend(swapped_clip)))
    return out


@pytest.fixture
def panel(viewer, run) -> ReviewPanel:
    """The run opened with the plugin's reader, then the widget docked from the Plugins menu."""
    viewer.open(run, plugin=PLUGIN)
    _dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Review and correct")
    assert isinstance(widget, ReviewPanel)
    return widget


def shown(viewer, run):
    return np.asarray(viewer.layers[f"{run.name} labels"].data)


def test_the_panel_lists_the_runs_episodes_worst_first_and_a_click_moves_the_slider(viewer, panel, run):
    expected = find_episodes(LabelStore.open(run, read_only=True).records())
    assert panel.run_folder == run and panel.layer is viewer.layers["run labels"]
    assert panel.table.rowCount() == len(expected) > 0
    for index, episode in enumerate(expected):
        frames = panel.table.item(index, 1).text()
        assert frames == (str(episode.start) if episode.frames == 1 else f"{episode.start}–{episode.stop}")
        assert panel.table.item(index, 2).text() == " ".join(map(str, episode.animals))
    # the swap at 57 lies in a doubtful stretch of both animals (they touch there)
    assert any(e.start <= SWAPPED.start <= e.stop and e.animals == (1, 2) for e in expected)

    target = max(range(len(expected)), key=lambda i: expected[i].start)  # not frame 0, where the slider is
    panel.table.cellClicked.emit(target, 0)
    assert viewer.dims.current_step[0] == expected[target].start
    assert panel.layer.selected_label == expected[target].animals[0]
    assert panel.plot.markers[0].get_xdata()[0] == expected[target].start  # the plot follows the slider


def test_keys_step_to_the_next_and_previous_episode(viewer, panel, monkeypatch):
    from napari.utils.key_bindings import coerce_keybinding

    episodes = [Episode(10, 12, (1,), "lost", 5.0), Episode(30, 30, (2,), "jumped", 3.0),
                Episode(70, 80, (1, 2), "merged", 2.0)]
    monkeypatch.setattr(panel, "episodes", episodes)

    def press(key):
        viewer.keymap[coerce_keybinding(key)](viewer)
        return viewer.dims.current_step[0], panel.layer.selected_label

    assert press(NEXT_KEY) == (10, 1)
    assert press(NEXT_KEY) == (30, 2)
    assert press(NEXT_KEY) == (70, 1)
    assert press(NEXT_KEY) == (10, 1)  # round again
    assert press(PREVIOUS_KEY) == (70, 1)
    assert press(PREVIOUS_KEY) == (30, 2)


def test_the_plot_draws_every_animal_and_a_click_on_it_moves_the_slider(viewer, panel, qtbot):
    from matplotlib.backend_bases import MouseEvent

    assert {key for key in panel.plot.lines} == {(a, q) for a in (1, 2) for q in ("speed", "area", "score")}
    area = panel.plot.lines[1, "area"].get_ydata()
    assert len(area) == 120 and np.nanmax(area) > 0  # short: drawn whole
    assert len(panel.plot.axes[0].collections) >= 1  # episodes shaded
    panel.plot.canvas.draw()
    axis = panel.plot.axes[1]
    x, y = axis.transData.transform((80, np.nanmean(area)))
    panel.plot.canvas.callbacks.process(
        "button_press_event", MouseEvent("button_press_event", panel.plot.canvas, x, y, button=1))
    assert viewer.dims.current_step[0] == 80
    assert panel.plot._background is not None  # drawn once; the marker now moves by blitting
    viewer.dims.set_current_step(0, 33)
    assert panel.plot.markers[2].get_xdata()[0] == 33


def test_centroids_are_a_tracks_layer_coloured_like_the_labels(viewer, panel):
    from napari_sam2_longvideo._napari._colors import animal_color

    tracks = viewer.layers["run labels tracks"]
    assert isinstance(tracks, Tracks)
    records = LabelStore.open(panel.run_folder, read_only=True).records()
    assert len(tracks.data) == np.count_nonzero(~records["lost"])
    for animal in (1, 2):
        rows = tracks.data[:, 0] == animal
        colormap = tracks.colormaps_dict[tracks.color_by]
        np.testing.assert_allclose(colormap.map(palette_values([animal]))[0], animal_color(animal))
        assert np.all(tracks.properties["palette"][rows] == palette_values([animal])[0])


def test_swap_from_the_widget_changes_the_layer_and_undo_restores_it(viewer, panel, run, swapped_clip):
    before = shown(viewer, run).copy()
    viewer.dims.set_current_step(0, SWAPPED.start)
    panel.correcting.swap_to_end.value = False
    panel.correcting.swap_to.value = SWAPPED.stop - 1
    panel.correcting.swap_button.native.click()
    assert wrong_frames(run, swapped_clip) == []
    np.testing.assert_array_equal(shown(viewer, run), swapped_clip.truth)  # the layer shows the store
    assert panel.correcting.history.count() == 1
    assert panel.correcting.history.item(0).text() == "1. swap 1 and 2, frames 57 to 74"

    panel.correcting.undo_button.native.click()
    np.testing.assert_array_equal(shown(viewer, run), before)
    assert panel.correcting.history.count() == 0 and corrections_of(run) == []


def test_fix_here_and_retrack_mend_the_swap_in_the_layer_and_undo_restores_it(
    viewer, panel, run, swapped_clip, qtbot
):
    panel.correcting.backend_factory = lambda settings: SwappingBackend(swapped_clip)
    before = shown(viewer, run).copy()
    viewer.dims.set_current_step(0, SWAPPED.start)
    panel.correcting.fix_animal.value = 1
    points = panel.correcting.fix_here()
    assert points.name == FIX_LAYER and points.mode == "add" and viewer.layers.selection.active.name == FIX_LAYER
    frame, y, x, animal, _ = click(swapped_clip, SWAPPED.start, 1)
    points.add([frame, y, x])  # what a click in add mode does
    assert list(points.features["animal"]) == [1]
    panel.correcting.retrack_button.native.click()
    qtbot.waitUntil(lambda: panel.correcting.worker is None, timeout=30_000)

    entry = corrections_of(run)[-1]
    assert entry["kind"] == "retrack" and entry["frame"] == 57 and entry["rejoined"]
    np.testing.assert_array_equal(shown(viewer, run), swapped_clip.truth)
    np.testing.assert_array_equal(tifffile.imread(run / "labels.tif"), swapped_clip.truth)
    assert panel.correcting.status.text().startswith("Done: re-track of 1 from frame 57")
    assert FIX_LAYER not in viewer.layers  # the fix is used up

    panel.correcting.undo_button.native.click()
    np.testing.assert_array_equal(shown(viewer, run), before)


def test_paint_here_and_retrack_mend_the_swap_from_the_painted_masks(viewer, panel, run, swapped_clip, qtbot):
    panel.correcting.backend_factory = lambda settings: SwappingBackend(swapped_clip)
    before = shown(viewer, run).copy()
    viewer.dims.set_current_step(0, SWAPPED.start)
    panel.correcting.fix_animal.value = 2
    painting = panel.correcting.paint_here()
    assert painting.name == MASK_LAYER and painting.mode == "paint" and painting.selected_label == 2
    assert viewer.layers.selection.active.name == MASK_LAYER
    np.testing.assert_array_equal(painting.data[0], before[SWAPPED.start])  # starts from the frame as it is
    assert painting.extent.world[:, 0].tolist() == [SWAPPED.start, SWAPPED.start]  # on that frame only
    panel.correcting.fix_animal.value = 1
    assert painting.selected_label == 1  # the animal field is the brush
    painting.data[0] = swapped_clip.truth[SWAPPED.start]  # what the brush strokes paint
    viewer.dims.set_current_step(0, 90)  # the painted frame decides, not the one shown
    panel.correcting.retrack_button.native.click()
    qtbot.waitUntil(lambda: panel.correcting.worker is None, timeout=30_000)

    entry = corrections_of(run)[-1]
    assert entry["painted"] and entry["frame"] == 57 and entry["animals"] == [1, 2] and entry["rejoined"]
    np.testing.assert_array_equal(shown(viewer, run), swapped_clip.truth)
    assert panel.correcting.status.text().startswith("Done: painted re-track of 1 and 2 from frame 57")
    assert MASK_LAYER not in viewer.layers
    panel.correcting.undo_button.native.click()
    np.testing.assert_array_equal(shown(viewer, run), before)


def test_fix_points_and_a_painted_mask_together_are_refused(viewer, panel, errors_shown):
    viewer.dims.set_current_step(0, 57)
    panel.correcting.fix_here().add([57, 10, 10])
    panel.correcting.paint_here()
    panel.correcting.retrack_button.native.click()
    assert panel.correcting.worker is None
    assert "both fix points" in errors_shown[-1] and "delete the layer you do not want" in errors_shown[-1]


def test_cancel_keeps_the_frames_retracked_so_far_as_an_undoable_correction(viewer, panel, run, swapped_clip, qtbot):
    import threading

    gate = threading.Event()

    class Slow(SwappingBackend):
        def start_session(self, frames, start, stop):
            if start > 57:  # the second session waits: Cancel comes while the first one's frames are done
                assert gate.wait(30)
            return super().start_session(frames, start, stop)

    panel.correcting.backend_factory = lambda settings: Slow(swapped_clip)
    panel.correcting.retrack_to_end.value = True
    viewer.dims.set_current_step(0, 57)
    panel.correcting.fix_here().add(list(click(swapped_clip, 57, 1)[:3]))
    panel.correcting.retrack_button.native.click()
    qtbot.waitUntil(lambda: panel.correcting.progress_bar.value() >= 20, timeout=30_000)
    panel.correcting.cancel_button.native.click()
    gate.set()
    qtbot.waitUntil(lambda: panel.correcting.worker is None, timeout=30_000)
    entry = corrections_of(run)[-1]
    assert entry["start"] == 57 and entry["stop"] < 120 and not entry["rejoined"]
    assert panel.correcting.status.text().startswith("Stopped: kept re-track")
    assert wrong_frames(run, swapped_clip) == []


def test_retrack_without_fix_points_says_what_to_do(viewer, panel, errors_shown):
    viewer.dims.set_current_step(0, 57)
    panel.correcting.retrack_button.native.click()
    assert panel.correcting.worker is None
    assert errors_shown and "Fix here" in errors_shown[-1]


def test_a_folder_without_a_run_is_refused_with_a_message(viewer, tmp_path, errors_shown):
    _dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Review and correct")
    assert widget.run_folder is None
    assert widget.show_run(tmp_path) is False
    assert "holds no tracking run" in errors_shown[-1]
    assert not [layer for layer in viewer.layers if isinstance(layer, Labels)]
