"""The "Segment with detector" widget in a real viewer, opened through the manifest: an Image layer and
a boxes CSV give a Labels layer whose features name each object (shown on hover), and a Shapes layer."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest

from napari_sam2_longvideo._napari._segment_widget import SegmentWidget
from napari_sam2_longvideo.core.geometry import mask_box
from napari_sam2_longvideo.io.detections import write_detections_csv
from napari_sam2_longvideo.testing.synthetic import crossing_ellipses

from .conftest import PLUGIN


@pytest.fixture
def segment_widget(viewer) -> SegmentWidget:
    _dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Segment with detector")
    assert isinstance(widget, SegmentWidget)
    return widget


@pytest.fixture(scope="module")
def clip():
    """The first 3 frames of a clip whose ellipses cross later: apart, so a loose box holds one animal."""
    whole = crossing_ellipses(num_frames=60)
    return dataclasses.replace(whole, frames=whole.frames[:3], truth=whole.truth[:3],
                               full_masks=whole.full_masks[:3], centers=whole.centers[:3])


def boxes_csv(path, truth):
    rows = []
    for frame, labels in enumerate(truth):
        for animal, (confidence, name) in zip((1, 2), [(0.9, "mouse"), (0.8, "rat")]):
            x0, y0, x1, y1 = mask_box(labels == animal)
            rows.append((frame, x0 - 2, y0 - 2, x1 + 2, y1 + 2, confidence, animal - 1, name))
    return write_detections_csv(path, rows)


def run(widget, qtbot, image, boxes):
    widget.form.reset_choices()
    widget.image.value = image
    widget.boxes_from.value = boxes
    widget.backend.value = "contrast"
    widget.segment()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60_000)


def test_a_stack_gives_labels_with_class_names_on_hover_and_the_boxes(viewer, segment_widget, qtbot, clip, tmp_path):
    image = viewer.add_image(clip.frames, name="clip", rgb=True)
    run(segment_widget, qtbot, image, boxes_csv(tmp_path / "boxes.csv", clip.truth))
    labels = viewer.layers["clip objects"]
    assert labels.data.shape == (3, 96, 128)
    features = labels.features
    assert len(features) == 6 and list(features["index"]) == [1, 2, 3, 4, 5, 6]  # unique over the stack
    assert list(features["class_name"]) == ["mouse", "rat"] * 3 and list(features["frame"]) == [0, 0, 1, 1, 2, 2]
    for row in features.itertuples():
        truth = clip.truth[row.frame] == (1 if row.class_name == "mouse" else 2)
        ours = labels.data[row.frame] == row.index
        assert np.logical_and(ours, truth).sum() / np.logical_or(ours, truth).sum() > 0.8
        assert ours.sum() == row.area
    # what napari shows under the cursor: the centre of frame 1's rat
    y, x = clip.centers[1, 1]
    shown = labels.get_status((1, y, x))["coordinates"]
    assert "class_name: rat" in shown and "confidence: 0.8" in shown
    boxes = viewer.layers["clip boxes"]
    assert len(boxes.data) == 6 and list(boxes.features["class_name"]) == ["mouse", "rat"] * 3
    assert boxes.data[3][:, 0].tolist() == [1, 1, 1, 1]  # frame 1's rat lies on frame 1


def test_a_2d_image_gives_a_2d_labels_layer(viewer, segment_widget, qtbot, clip, tmp_path):
    image = viewer.add_image(clip.frames[0, ..., 0], name="one")
    run(segment_widget, qtbot, image, boxes_csv(tmp_path / "boxes.csv", clip.truth[:1]))
    labels = viewer.layers["one objects"]
    assert labels.data.shape == (96, 128) and set(np.unique(labels.data)) == {0, 1, 2}
    assert viewer.layers["one boxes"].data[0].shape == (4, 2)
    assert "class_name: mouse" in " ".join(labels._get_properties(tuple(clip.centers[0, 0])))


def test_mistakes_are_shown_and_nothing_is_added(viewer, segment_widget, qtbot, clip, tmp_path, errors_shown):
    image = viewer.add_image(clip.frames, name="clip", rgb=True)
    segment_widget.form.reset_choices()
    segment_widget.image.value = image
    segment_widget.segment()
    assert "YOLO model (.pt) or the boxes CSV" in errors_shown[-1]
    late = write_detections_csv(tmp_path / "late.csv", [(5, 1, 1, 9, 9, 0.9, 0, "")])
    segment_widget.boxes_from.value = late
    segment_widget.segment()
    assert "late.csv, box 1 (frame 5)" in errors_shown[-1]
    assert [layer.name for layer in viewer.layers] == ["clip"] and segment_widget.worker is None


class FailingSegmenter:
    def masks_in_boxes(self, image, boxes):
        raise RuntimeError("CUDA out of memory (pretend)")

    def close(self):
        pass


def test_an_error_in_the_worker_is_shown_and_the_widget_is_ready_again(
    viewer, segment_widget, qtbot, clip, tmp_path, errors_shown, monkeypatch
):
    from napari_sam2_longvideo._napari import _segment_widget

    monkeypatch.setattr(_segment_widget, "make_box_segmenter", lambda settings: FailingSegmenter())
    image = viewer.add_image(clip.frames, name="clip", rgb=True)
    run(segment_widget, qtbot, image, boxes_csv(tmp_path / "boxes.csv", clip.truth))
    assert "CUDA out of memory (pretend)" in errors_shown[-1]
    assert segment_widget.segment_button.enabled and not segment_widget.cancel_button.enabled
    assert [layer.name for layer in viewer.layers] == ["clip"]


def test_cancel_stops_after_the_current_image_and_keeps_what_is_done(
    viewer, segment_widget, qtbot, clip, tmp_path, monkeypatch
):
    from napari_sam2_longvideo._napari import _segment_widget
    from napari_sam2_longvideo.engine.backends.contrast.in_box import ContrastBoxSegmenter

    gate = threading.Event()

    class GatedSegmenter(ContrastBoxSegmenter):
        """Holds every image after the first until Cancel is pressed, as a slow model would."""

        calls = 0

        def masks_in_boxes(self, image, boxes):
            GatedSegmenter.calls += 1
            if GatedSegmenter.calls > 1:
                assert gate.wait(timeout=60), "the test never pressed Cancel"
            return super().masks_in_boxes(image, boxes)

    monkeypatch.setattr(_segment_widget, "make_box_segmenter", lambda settings: GatedSegmenter())
    image = viewer.add_image(clip.frames, name="clip", rgb=True)
    on_event = segment_widget._on_event

    def cancel_after_the_first_image(event):
        on_event(event)
        if not isinstance(event, dict) and event.frame == 0:
            segment_widget.cancel_button.clicked.emit()  # as a press of Cancel
            gate.set()

    monkeypatch.setattr(segment_widget, "_on_event", cancel_after_the_first_image)
    run(segment_widget, qtbot, image, boxes_csv(tmp_path / "boxes.csv", clip.truth))
    features = viewer.layers["clip objects"].features
    assert list(features["frame"]) == [0, 0, 1, 1]  # the image in hand when Cancel came is finished, no more
    assert segment_widget.segment_button.enabled
