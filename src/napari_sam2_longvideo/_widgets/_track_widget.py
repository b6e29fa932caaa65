"""The "Track animals" dock widget: prompts in a Points layer, settings, Track and Cancel.

The engine's generator (`run_tracking`) runs in a napari thread worker; layers change only in the
handlers of the worker's signals, which napari calls on the main thread.
"""

from __future__ import annotations

import time
from pathlib import Path

import napari
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    FloatSpinBox,
    Label,
    ProgressBar,
    PushButton,
    SpinBox,
)
from napari.qt.threading import create_worker
from napari.utils.notifications import show_error, show_info

from ..engine.detector_training import DetectorTraining
from ..engine.run import ResultsWritten, run_tracking
from ..engine.tracker import ChunkDone, FrameTracked, RunStarted
from ..errors import UserInputError
from ..io.export import write_tracks_csv
from ..io.store import LabelStore
from ..settings import BACKENDS, MODEL_SIZES, TrackSettings
from ._prompts_layer import PROMPTS_KEY, prompts_from_layer, prompts_layer_data, set_current, setup_prompts_layer
from ._reader import labels_layer_kwargs


class TrackWidget(Container):
    """Dock widget; ``backend_factory(settings)`` replaces the backend (tests use a truth backend)."""

    def __init__(self, viewer: napari.viewer.Viewer, backend_factory=None):
        super().__init__(labels=True)
        self.viewer, self.backend_factory = viewer, backend_factory
        self.worker = None
        self._stopping = False
        defaults = TrackSettings()
        self.image = ComboBox(label="video", choices=self._layer_names(napari.layers.Image))
        self.prompts = ComboBox(label="prompts", choices=self._layer_names(napari.layers.Points))
        self.new_prompts = PushButton(text="New prompts")
        self.animal = SpinBox(label="animal", value=1, min=1, max=255)
        self.negative = CheckBox(text="negative point (key n)")
        self.backend = ComboBox(label="backend", choices=list(BACKENDS), value=defaults.backend)
        self.model = ComboBox(label="SAM2 model", choices=list(MODEL_SIZES), value=defaults.model)
        self.checkpoint = FileEdit(label="checkpoint", mode="r", filter="*.pt", value="")
        self.image_size = ComboBox(label="image size", choices=[1024, 512, 256], value=defaults.image_size)
        self.chunk_size = SpinBox(label="chunk size", value=defaults.chunk_size, min=2, max=100_000)
        self.out = FileEdit(label="output folder", mode="d", value="")
        self.detector_title = Label(value="<b>Detector</b> (re-anchors drifting and lost animals)")
        self.detector = FileEdit(label="YOLO model", mode="r", filter="*.pt", value="")
        self.train_detector = CheckBox(text="train one on the first frames")
        self.detector_conf = FloatSpinBox(label="min. confidence", value=defaults.detector_conf, min=0.01,
                                          max=0.99, step=0.05)
        self.train_frames = SpinBox(label="training frames", value=defaults.train_frames, min=5, max=100_000)
        self.detector_epochs = SpinBox(label="epochs", value=defaults.detector_epochs, min=1, max=1000)
        self.random_weights = CheckBox(text="random SAM2 weights (testing only: meaningless masks)")
        self.track = PushButton(text="Track")
        self.cancel = PushButton(text="Cancel", enabled=False)
        self.progress = ProgressBar(label="progress", value=0, max=1)
        self.status = Label(value="")
        self.export_path = FileEdit(label="tracks.csv to", mode="w", filter="*.csv", value="")
        self.export = PushButton(text="Export tracks.csv")
        self.extend([
            self.image, self.prompts, self.new_prompts, self.animal, self.negative, self.backend, self.model,
            self.checkpoint, self.image_size, self.chunk_size, self.out, self.detector_title, self.detector,
            self.detector_conf, self.train_detector, self.train_frames, self.detector_epochs, self.random_weights, self.track, self.cancel,
            self.progress, self.status, self.export_path, self.export,
        ])
        self.new_prompts.changed.connect(self.make_prompts_layer)
        self.animal.changed.connect(self._update_current)
        self.negative.changed.connect(self._update_current)
        self.track.changed.connect(self.start)
        self.cancel.changed.connect(self.stop)
        self.export.changed.connect(self.export_tracks)
        for event in (viewer.layers.events.inserted, viewer.layers.events.removed):
            event.connect(self._refresh_choices)
        self._started = 0.0

    # -- layers ------------------------------------------------------------------------------------
    def _layer_names(self, kind):
        return lambda _widget=None: [l.name for l in self.viewer.layers if isinstance(l, kind)]

    def _refresh_choices(self, event=None):
        self.image.reset_choices()
        self.prompts.reset_choices()
        prompt_layers = [l for l in self.viewer.layers if l.metadata.get(PROMPTS_KEY)]
        if prompt_layers and not self.prompts.value:
            self.prompts.value = prompt_layers[-1].name

    def make_prompts_layer(self, _=None):
        """A new Points layer in add mode: each click is a point for the current animal."""
        name = f"{self.image.value} prompts" if self.image.value else "prompts"
        data, kwargs, _kind = prompts_layer_data(None, name)
        layer = self.viewer.add_points(data, **kwargs)
        setup_prompts_layer(layer, self.animal.value, not self.negative.value)
        layer.mode = "add"
        layer.bind_key("n", lambda _layer: setattr(self.negative, "value", not self.negative.value), overwrite=True)
        for key in range(1, 10):
            layer.bind_key(str(key), lambda _layer, k=key: setattr(self.animal, "value", k), overwrite=True)
        self._refresh_choices()
        self.prompts.value = layer.name
        return layer

    def _update_current(self, _=None):
        if self.prompts.value and self.prompts.value in self.viewer.layers:
            set_current(self.viewer.layers[self.prompts.value], self.animal.value, not self.negative.value)

    # -- running -----------------------------------------------------------------------------------
    def settings(self) -> TrackSettings:
        path = lambda widget: str(widget.value) if str(widget.value) not in ("", ".") else None  # noqa: E731
        return TrackSettings(
            backend=self.backend.value, model=self.model.value, checkpoint=path(self.checkpoint),
            random_weights=self.random_weights.value, image_size=int(self.image_size.value),
            chunk_size=self.chunk_size.value, detector=path(self.detector),
            detector_conf=self.detector_conf.value, train_detector=self.train_detector.value,
            train_frames=self.train_frames.value, detector_epochs=self.detector_epochs.value,
        ).validate()

    def start(self, _=None):
        try:
            if not self.image.value:
                raise UserInputError("Open a video first (drag it into napari), then choose it as 'video'.")
            if not self.prompts.value:
                raise UserInputError("No prompts: press 'New prompts' and click once on each animal.")
            out = str(self.out.value)
            if out in ("", "."):
                raise UserInputError("Choose an output folder: the labels, tracks and resume data go there.")
            image = self.viewer.layers[self.image.value]
            prompts = prompts_from_layer(self.viewer.layers[self.prompts.value], f"layer '{self.prompts.value}'")
            settings = self.settings()
        except UserInputError as error:
            show_error(str(error))
            return
        backend = self.backend_factory(settings) if self.backend_factory else None
        self.run_folder = Path(out)
        self.labels_name = f"{image.name} labels"
        self.worker = create_worker(run_tracking, image.data, prompts, settings, out, backend=backend,
                                    _start_thread=False, _ignore_errors=True)  # _on_error reports them
        self.worker.yielded.connect(self._on_event)
        self.worker.errored.connect(self._on_error)
        self.worker.finished.connect(self._on_finished)
        self.track.enabled, self.cancel.enabled = False, True
        self.status.value = "starting…"
        self._stopping = False
        self._started = time.perf_counter()
        self.worker.start()

    def stop(self, _=None):
        """Stop at the engine's next event; finished chunks stay on disk and Track resumes after them."""
        if self.worker is not None:
            self._stopping = True
            self.status.value = "stopping…"
            self.worker.quit()

    def _labels_layer(self):
        if self.labels_name in self.viewer.layers:
            return self.viewer.layers[self.labels_name]
        store = LabelStore.open(self.run_folder / "store")
        return self.viewer.add_labels(store, **labels_layer_kwargs(self.labels_name, self.run_folder))

    def _on_event(self, event):
        if isinstance(event, RunStarted):
            layer = self._labels_layer()
            layer.data = LabelStore.open(self.run_folder / "store")
            self.progress.max, self.progress.value = event.total_frames, event.frames_done
            self._first_done, self._started = event.frames_done, time.perf_counter()
        elif isinstance(event, FrameTracked) and not self._stopping:
            self.progress.value = event.frames_done
            done = event.frames_done - self._first_done
            rate = done / max(time.perf_counter() - self._started, 1e-6)
            left = (event.total_frames - event.frames_done) / rate if rate else 0
            self.status.value = f"{rate:.1f} frames/s, {left / 60:.1f} min left"
        elif isinstance(event, ChunkDone):
            layer = self._labels_layer()
            layer.data.reload()
            layer.refresh()
            if not self._stopping:
                self.status.value = f"chunk {event.chunk.index + 1} of {event.num_chunks} saved"
        elif isinstance(event, DetectorTraining):
            self.status.value = f"training the detector: epoch {event.epoch} of {event.epochs}"
        elif isinstance(event, ResultsWritten):
            self.status.value = f"done: {event.labels.name}, {event.tracks.name} in {event.labels.parent}"
            show_info(f"Tracking finished; results in {event.labels.parent}")

    def _on_error(self, error):
        show_error(str(error) if isinstance(error, UserInputError) else f"Tracking failed: {error!r}")

    def _on_finished(self):
        self.track.enabled, self.cancel.enabled = True, False
        if self._stopping:
            self.status.value = "stopped; finished chunks are kept, Track resumes"
        self.worker = None

    def export_tracks(self, _=None):
        target = str(self.export_path.value)
        folder = getattr(self, "run_folder", None)
        if folder is None or target in ("", "."):
            show_error("Track first, and choose where to write tracks.csv.")
            return
        write_tracks_csv(LabelStore.open(folder / "store").records(), target)
        show_info(f"Wrote {target}")
