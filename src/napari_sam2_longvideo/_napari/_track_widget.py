"""The "Track animals" dock widget: choose a video and prompts, set up the run, Track, Cancel, export.

The engine's generator runs in a napari thread worker (`_worker.tracking_events`); layers, the
progress bar and notifications change only in the handlers of the worker's signals, which Qt calls
on the main thread. The settings scroll; the buttons, the progress bar and the status line below them
never do. `add_panel` turns the dock into tabs, for panels that belong beside it (review).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import napari
from magicgui.widgets import CheckBox, FileEdit, PushButton
from napari.qt.threading import create_worker
from napari.utils.notifications import show_error, show_info
from qtpy.QtWidgets import QLabel, QProgressBar, QSizePolicy, QTabWidget, QVBoxLayout, QWidget

from ..engine.events import ResultsWritten
from ..errors import UserInputError
from ..io.prompts import Prompts
from ..progress import RunProgress
from ..run import run_animals
from ._export_panel import ExportButtons
from ._gui_words import gui_message
from ._labels_layer import ResultsLayer
from ._layout import collapsible, heading, hint, row, scrolling
from ._prompts_layer import prompts_from_layer
from ._prompts_panel import PEN_HELP, PromptsPanel
from ._review_panel import ReviewPanel
from ._run_mode import MODE_HELP, ModeChooser
from ._run_view import RunView
from ._settings_form import SECTION_TITLES, SettingsForm
from ._worker import DownloadRelay, TrackingFailed, tracking_events

logger = logging.getLogger(__name__)
COLLAPSED_SECTIONS = ("more", "detector", "contrast", "testing")


class TrackWidget(QWidget):
    """Dock widget that tracks the prompted animals through a video layer into a Labels layer.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer whose layers it reads and adds to.
    backend_factory : callable, optional
        ``backend_factory(settings)`` makes the segmentation backend instead of the one the settings
        name; tests give a deterministic one.
    """

    # the most often the worker reports a tracked frame: each report costs the main thread, and the
    # viewer lagged at every frame (benchmarks/slider.py, docs/benchmarks.md)
    frame_interval_s = 0.1

    def __init__(self, viewer: napari.viewer.Viewer, backend_factory=None):
        super().__init__()
        self.viewer = viewer
        self.backend_factory = backend_factory
        self.form = SettingsForm()
        self.worker = None
        self.progress = RunProgress(self.form.widgets["chunk_size"].value)
        self.results: ResultsLayer | None = None
        self._adding_results = False
        self._stop = threading.Event()
        self._relay = DownloadRelay()
        self._relay.progressed.connect(self._on_download)

        self.prompting = PromptsPanel(viewer)
        # the controls tests and scripts reach for most
        self.video, self.prompts, self.animal, self.negative = (
            self.prompting.video, self.prompting.prompts, self.prompting.animal, self.prompting.negative
        )
        self.mode = ModeChooser(self.form)
        self.mode_help = hint(MODE_HELP[self.mode.value])
        self.pen_help = hint(PEN_HELP)
        self.out = FileEdit(label="output folder", mode="d", nullable=True)
        self.overwrite = CheckBox(text="start over (discard the run in that folder)")
        self.track_button, self.cancel_button = PushButton(text="Track"), PushButton(text="Cancel", enabled=False)
        self.exports = ExportButtons(self._folder, lambda: self.video.value, show_info, self._show_error)
        self.progress_bar, self.status = QProgressBar(), QLabel("")
        self.status.setWordWrap(True)
        self.run_view = RunView(self)

        tracking = self.form.sections["tracking"]
        tracking.extend([self.out, self.overwrite])
        self.sections = {name: collapsible(SECTION_TITLES[name], self.form.sections[name].native)
                         for name in COLLAPSED_SECTIONS}
        settings = scrolling(
            heading("Video and prompts"), self.mode.native, self.mode_help, self.prompting.native, self.pen_help,
            heading(SECTION_TITLES["tracking"]), tracking.native, *self.sections.values(),
        )
        # below the scroll area: always in view, however many sections are unfolded
        self.track_page = QWidget()
        page = QVBoxLayout(self.track_page)
        margins = settings.widget().layout().contentsMargins()  # the footer lines up with the settings
        page.setContentsMargins(margins.left(), 0, margins.right(), margins.bottom())
        page.addWidget(settings, stretch=1)
        for part in (row(self.track_button.native, self.cancel_button.native), self.progress_bar, self.status,
                     self.exports.widget):
            page.addWidget(part)
        self._pages = QVBoxLayout(self)
        self._pages.setContentsMargins(0, 0, 0, 0)
        # napari pads a dock that does not expand with a stretch, which the settings should have had
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        self._pages.addWidget(self.track_page)
        self.tabs: QTabWidget | None = None
        # review and correction belong to the run just tracked: the same dock, one tab over
        self.review = ReviewPanel(viewer, backend_factory)
        self.add_panel("Review and correct", self.review)
        self.review.on_reviewed = lambda panel: self.tabs.setTabText(
            self.tabs.indexOf(panel), f"Review and correct ({len(panel.episodes)})"
        )
        if self.review.run_folder is not None:  # a run folder opened before the widget: reviewed already
            self.review.on_reviewed(self.review)

        self.track_button.changed.connect(self.track)
        self.cancel_button.changed.connect(self.cancel)
        self.mode.changed.connect(self._on_mode)
        viewer.layers.events.inserted.connect(self._on_layer_inserted)
        self.reset_choices()
        opened = [layer.metadata["run_folder"] for layer in viewer.layers if layer.metadata.get("run_folder")]
        if opened:  # a run folder opened before the widget: the one to resume or export from
            self.out.value = opened[-1]
            self.run_view.show_run(Path(opened[-1]))

    def add_panel(self, title: str, panel: QWidget) -> None:
        """Show ``panel`` as a tab beside the tracking controls (the first call makes the tabs)."""
        if self.tabs is None:
            self.tabs = QTabWidget()
            self._pages.removeWidget(self.track_page)
            self.tabs.addTab(self.track_page, "Track")
            self._pages.addWidget(self.tabs)
        self.tabs.addTab(panel, title)

    def reset_choices(self, event=None) -> None:
        """Refresh the layer choices; napari calls this when layers are added, removed or renamed."""
        self.prompting.reset_choices()

    def _on_layer_inserted(self, event) -> None:
        """A run folder just opened is the one to resume or export from, with its settings."""
        run_folder = event.value.metadata.get("run_folder")
        if run_folder and self.worker is None and not self._adding_results:
            self.out.value = run_folder
            self.run_view.show_run(Path(run_folder))

    def _on_mode(self, mode: str) -> None:
        self.mode_help.setText(f"<small>{MODE_HELP[mode]}</small>")
        clicks = self.mode.uses_clicks
        panel = self.prompting  # the video is read in every mode, the prompts only with clicks
        for control in (panel.prompts, panel.new_prompts, panel.animal, panel.negative):
            control.enabled = clicks
        self.pen_help.setVisible(clicks)
        if not clicks:
            self.sections["detector"].expand(animate=False)

    def make_prompts_layer(self):
        """A prompts layer over the chosen video, in add mode (the "New prompts" button)."""
        return self.prompting.make_prompts_layer()

    def _folder(self) -> Path | None:
        return Path(self.out.value) if self.out.value and str(self.out.value) not in ("", ".") else None

    # -- running -----------------------------------------------------------------------------------
    def settings(self):
        """The settings the form shows, as the command line would build them."""
        return self.form.settings()

    def track(self) -> None:
        """Start (or resume) tracking in a worker thread; user mistakes become notifications."""
        if self.worker is not None:
            return
        try:
            image, prompts, settings, out = self._run_inputs()
            if not self.overwrite.value and self.run_view.is_finished(out, image, prompts, settings):
                return
            animals = run_animals(prompts, settings)
        except UserInputError as error:
            self._show_error(error)
            return
        overwrite = self.overwrite.value
        self._adding_results = True  # the layer Track adds is no run folder opened by the user
        try:
            self.results = ResultsLayer.for_run(self.viewer, image, out, animals, settings, overwrite)
        finally:
            self._adding_results = False
        self.progress = RunProgress(settings.chunk_size)
        self._stop = threading.Event()
        source = image.metadata.get("video") or image.data
        self.worker = create_worker(
            tracking_events, source, prompts, settings, out, self._stop, overwrite=overwrite,
            backend_factory=self.backend_factory, download_progress=self._relay,
            frame_interval_s=self.frame_interval_s,
            _start_thread=False, _ignore_errors=True,  # errors are reported in _on_error
        )
        self.worker.yielded.connect(self._on_event)
        self.worker.errored.connect(self._on_error)
        self.worker.finished.connect(self._on_finished)
        self.destroyed.connect(self._stop.set)  # the dock closed mid-run: stop at the next frame
        self.overwrite.value = False  # done once: a Track after Cancel resumes rather than starting over again
        self._set_running(True)
        self.progress_bar.setRange(0, 0)  # busy until the run knows its size
        self.status.setText("starting…")
        self.worker.start()

    def _run_inputs(self):
        image, points = self.video.value, self.prompts.value
        if image is None:
            raise UserInputError(
                "Open a video first: drag a video file, a folder of frames or a TIFF stack into napari."
            )
        if image.multiscale or image.ndim != 3:
            raise UserInputError(f"Layer '{image.name}' is not a video of (frame, y, x) frames; choose another.")
        self.mode.check()
        if self.mode.uses_clicks and points is None:
            raise UserInputError("No prompts: press 'New prompts' and click once on each animal.")
        settings = self.form.settings()
        frames, height, width = image.data.shape[:3]
        frames = min(frames, settings.max_frames or frames)
        if self.mode.uses_clicks:
            prompts = prompts_from_layer(points, image).validate(frames, height, width, f"layer '{image.name}'")
        else:
            prompts = Prompts([], source="no clicks: the detector finds the animals")
        out = self._folder()
        if out is None:
            raise UserInputError("Choose an output folder: the labels, tracks.csv and what resuming needs go there.")
        return image, prompts, settings, out

    def cancel(self) -> None:
        """Stop at the next frame; finished chunks stay on disk and Track resumes after them."""
        if self.worker is not None:
            self._stop.set()
            self.cancel_button.enabled = False
            self.status.setText("stopping…")

    def _set_running(self, running: bool) -> None:
        self.track_button.enabled, self.cancel_button.enabled = not running, running

    def _on_event(self, event) -> None:
        self.progress.update(event)
        if self.results is not None:
            self.results.update(event)
        if self.progress.total_frames:
            self.progress_bar.setRange(0, self.progress.total_frames)
            self.progress_bar.setValue(self.progress.frames_done)
            self.progress_bar.setFormat("%v of %m frames")
        if not self._stop.is_set():
            self.status.setText(self.progress.text())
        if isinstance(event, ResultsWritten):
            self.status.setText(f"Done: {event.labels.name}, {event.tracks.name} and {event.metadata.name} "
                                f"are in {event.labels.parent}")
            show_info(f"Tracking finished. Results: {event.labels.parent}")
            self.review.show_run(event.labels.parent, self.results.layer if self.results else None)

    def _on_download(self, done, total) -> None:
        self.progress_bar.setMaximum(int(total or 0) // 1_000_000)  # 0: a busy bar when the size is unknown
        self.progress_bar.setValue(int(done) // 1_000_000)
        self.progress_bar.setFormat("downloading SAM2 weights: %v of %m MB")

    def _on_error(self, error: Exception) -> None:
        if self.results is not None:
            self.results.discard_if_empty(self.viewer)
        if isinstance(error, TrackingFailed):
            error = error.error
        if not isinstance(error, UserInputError):
            logger.error("tracking failed", exc_info=error)
            error = RuntimeError(
                f"Tracking failed ({type(error).__name__}: {error}). Finished chunks are kept in "
                f"{self.out.value}; Track resumes after them. The full error is in the console."
            )
        self._show_error(error)
        self._show_saved()

    def _on_finished(self) -> None:
        self._set_running(False)
        self.worker = None
        if self._stop.is_set() and self.progress.results is None:  # Cancel came after the last frame: done
            progress = self.progress
            lost = progress.frames_done - progress.frames_saved
            unsaved = (f" The {lost} frame{'s' * (lost != 1)} tracked since, in an unfinished chunk, "
                       f"{'are' if lost != 1 else 'is'} not kept.") if lost else ""
            if progress.frames_saved:
                saved = (f"Stopped: {progress.frames_saved} of {progress.total_frames} frames are saved in "
                         f"{self.out.value}; Track resumes after them.")
            else:
                saved = f"Stopped before the first chunk was saved: nothing is kept in {self.out.value}."
            self.status.setText(saved + unsaved)
            self._show_saved()

    def _show_saved(self) -> None:
        """The bar at what is on disk: a stopped or failed run keeps its finished chunks only."""
        if self.progress.total_frames:
            self.progress_bar.setRange(0, self.progress.total_frames)
            self.progress_bar.setValue(self.progress.frames_saved)
            self.progress_bar.setFormat("%v of %m frames saved")
        else:
            self.progress_bar.setRange(0, 1)
            self.progress_bar.reset()

    def _show_error(self, error: Exception) -> None:
        """Show the engine's message in the form's words (its controls, never command-line options)."""
        message = gui_message(error, self.form.widgets)
        self.status.setText(message)
        show_error(message)

    # -- export ------------------------------------------------------------------------------------
    def export_tracks(self, path=None) -> Path | None:
        """Write the run's per-frame table (finished chunks so far) to ``path``, asked for when None."""
        return self.exports.export_tracks(path)

    def export_formats(self, formats) -> list[Path]:
        """The finished run as ``formats`` (sleap, dlc, nwb, movement, coco) into its ``exports`` folder."""
        return self.exports.export_formats(list(formats))
