"""The "Segment with detector" dock widget: an Image layer's objects, one per detector box.

A YOLO model (.pt) or a boxes CSV finds the objects on the image (or on each image of a stack), each box
prompts the segmenter (SAM2's image predictor, or the weight-free contrast mask inside the box), and
the result is a Labels layer whose ``features`` hold each object's class name and confidence (napari
shows them on hover) and a Shapes layer of the boxes. Labels are unique over the whole stack, so that
each label has one row of features.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import napari
import numpy as np
import pandas as pd
from magicgui.widgets import ComboBox, Container, FileEdit, FloatSpinBox, LineEdit, PushButton
from napari.layers import Image
from napari.qt.threading import create_worker
from napari.utils.notifications import show_error, show_info
from qtpy.QtWidgets import QLabel, QProgressBar, QVBoxLayout, QWidget

from ..engine.detection.detector import class_names_of
from ..engine.detection.schedule import load_detector
from ..engine.detection.segment_images import SegmentedFrame, segment_frames
from ..errors import UserInputError
from ..io.frames import open_frames
from ..segment_run import check_segment_settings, make_box_segmenter
from ..settings import BACKENDS, TrackSettings
from ._layout import hint
from ._settings_form import _class_list
from ._worker import TrackingFailed

logger = logging.getLogger(__name__)
FEATURE_COLUMNS = ("index", "frame", "label_in_frame", "class_id", "class_name", "confidence", "area")


def frames_of_layer(layer: Image):
    """The layer's images as a frame source, and whether the layer is one 2D image (not a stack)."""
    data = layer.data[0] if layer.multiscale else layer.data
    single = data.ndim == (3 if layer.rgb else 2)
    if data.ndim > (4 if layer.rgb else 3):
        raise UserInputError(
            f"Layer {layer.name!r} has {data.ndim} dimensions; give a 2D image or a stack of them (T, Y, X)."
        )
    return open_frames(data[None] if single else data), single


def segmentation_events(frames, settings: TrackSettings, stop: threading.Event, segmenter=None):
    """In the worker thread: the detector's class names first, then each frame's `SegmentedFrame`."""
    from ..engine.devices import pick_device

    try:
        detector = load_detector(settings, pick_device(settings.device))
        yield class_names_of(detector)
        segmenter = segmenter or make_box_segmenter(settings)
        try:
            for segmented in segment_frames(frames, detector, segmenter):
                yield segmented
                if stop.is_set():
                    return
        finally:
            segmenter.close()
    except RuntimeError as error:  # torch's (CUDA out of memory, ...): superqt would drop them unwrapped
        raise TrackingFailed(error) from error


class SegmentWidget(QWidget):
    """Dock widget: detector boxes on an Image layer -> a Labels layer with class names, and the boxes.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer whose Image layers it reads and to which it adds the results.
    """

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__()
        self.viewer = viewer
        self.image = ComboBox(label="image", choices=self._images, nullable=True)
        self.boxes_from = FileEdit(label="YOLO model or boxes CSV", mode="r", filter="*.pt *.csv", nullable=True)
        self.backend = ComboBox(label="segmenter", choices=BACKENDS, value="sam2")
        self.confidence = FloatSpinBox(label="min. confidence", value=0.5, min=0.01, max=0.99, step=0.05)
        self.classes = LineEdit(label="classes", tooltip="class numbers to keep, e.g. '0 2'; empty: all")
        self.segment_button, self.cancel_button = PushButton(text="Segment"), PushButton(text="Cancel", enabled=False)
        self.form = Container(widgets=[self.image, self.boxes_from, self.backend, self.confidence, self.classes,
                                       self.segment_button, self.cancel_button])
        self.progress_bar, self.status = QProgressBar(), QLabel("")
        layout = QVBoxLayout(self)
        for widget in (self.form.native, hint("sam2: SAM2's image predictor (weights downloaded once); contrast: "
                                             "no weights, the part of each box unlike its edge."),
                       self.progress_bar, self.status):
            layout.addWidget(widget)
        layout.addStretch()
        self.worker = None
        self.labels_layer = self.boxes_layer = None
        self._stop = threading.Event()
        self._reset_result()
        self.segment_button.changed.connect(self.segment)
        self.cancel_button.changed.connect(self._stop.set)
        viewer.layers.events.inserted.connect(self.form.reset_choices)
        viewer.layers.events.removed.connect(self.form.reset_choices)

    def _images(self, _widget=None):
        return [(layer.name, layer) for layer in self.viewer.layers if isinstance(layer, Image)]

    def settings(self) -> TrackSettings:
        """The settings the form gives, checked (a boxes file is ``detections``, a model ``detector``)."""
        path = self.boxes_from.value
        if not path or not Path(path).is_file():
            raise UserInputError("Choose the YOLO model (.pt) or the boxes CSV that finds the objects.")
        kind = "detections" if Path(path).suffix.lower() == ".csv" else "detector"
        return TrackSettings(**{kind: str(path)}, backend=self.backend.value, detector_conf=self.confidence.value,
                             detector_classes=_class_list(self.classes.value))

    def segment(self) -> None:
        """Start segmenting the chosen layer in a thread worker; errors are shown as notifications."""
        try:
            layer = self.image.value
            if layer is None:
                raise UserInputError("Choose the Image layer to segment.")
            frames, single = frames_of_layer(layer)
            settings = check_segment_settings(self.settings(), frames)
        except UserInputError as error:
            show_error(str(error))
            return
        self._reset_result(layer, frames, single)
        self._stop.clear()
        self.progress_bar.setRange(0, len(frames))
        self.progress_bar.setValue(0)
        self.worker = create_worker(
            segmentation_events, frames, settings, self._stop,
            _start_thread=False, _ignore_errors=True,  # errors are reported in _on_error
        )
        self.worker.yielded.connect(self._on_event)
        self.worker.errored.connect(self._on_error)
        self.worker.finished.connect(self._on_finished)
        self._set_running(True)
        self.worker.start()

    def _reset_result(self, layer=None, frames=None, single=True) -> None:
        self._source, self._single, self._names = layer, single, {}
        shape = (len(frames), frames.height, frames.width) if frames is not None else (0, 0, 0)
        self._labels = np.zeros(shape, np.uint32)
        self._rows: list[tuple] = []
        self._boxes: list[np.ndarray] = []

    def _on_event(self, event) -> None:
        if isinstance(event, dict):
            self._names = event
            return
        segmented: SegmentedFrame = event
        offset = len(self._rows)
        labels = segmented.labels.astype(np.uint32)
        self._labels[segmented.frame] = np.where(labels > 0, labels + offset, 0)
        for o in segmented.objects:
            self._rows.append((offset + o.label, o.frame, o.label, o.class_id, self._names.get(o.class_id, ""),
                               o.confidence, o.area))
            self._boxes.append(o.box)
        self.progress_bar.setValue(segmented.frame + 1)
        self.status.setText(f"image {segmented.frame + 1} of {segmented.num_frames}: {len(self._rows)} objects")

    def _on_error(self, error: Exception) -> None:
        self._source = None  # nothing is added for a run that failed
        if isinstance(error, TrackingFailed):
            error = error.error
        if not isinstance(error, UserInputError):
            logger.error("segmenting failed", exc_info=error)
            error = f"Segmenting failed ({type(error).__name__}: {error}). The full error is in the console."
        show_error(str(error))

    def _on_finished(self) -> None:
        self.worker = None
        self._set_running(False)
        if self._source is None or not self._rows:
            if self._source is not None:
                show_info(f"The detector found nothing on {self._source.name!r}: lower the minimum confidence.")
            return
        self._show_results()

    def _show_results(self) -> None:
        features = pd.DataFrame(self._rows, columns=FEATURE_COLUMNS)
        name, scale = self._source.name, self._source.scale[-2:] if self._single else self._source.scale[:3]
        data = self._labels[0] if self._single else self._labels
        for old in (self.labels_layer, self.boxes_layer):
            if old is not None and old in self.viewer.layers:
                self.viewer.layers.remove(old)
        self.labels_layer = self.viewer.add_labels(data, name=f"{name} objects", features=features, scale=scale)
        self.boxes_layer = self.viewer.add_shapes(
            [self._rectangle(box, frame) for box, frame in zip(self._boxes, features["frame"])],
            shape_type="rectangle", name=f"{name} boxes", edge_width=2, edge_color="yellow",
            face_color="transparent", features=features.drop(columns="index"), scale=scale,
            text={"string": "{class_name} {confidence:.2f}", "anchor": "upper_left", "size": 9, "color": "yellow"},
        )
        self.status.setText(f"{len(features)} objects on {len(self._labels)} image(s)")

    def _rectangle(self, box, frame: int) -> np.ndarray:
        x0, y0, x1, y1 = box
        corners = np.array([[y0, x0], [y0, x1], [y1, x1], [y1, x0]], float)
        return corners if self._single else np.column_stack([np.full(4, frame, float), corners])

    def _set_running(self, running: bool) -> None:
        self.segment_button.enabled = not running
        self.cancel_button.enabled = running
