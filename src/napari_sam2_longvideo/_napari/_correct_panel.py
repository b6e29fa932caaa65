"""Corrections from the review panel: swap two animals, fix with clicks and re-track, undo, the history.

Each button calls the same function as the command line (`napari_sam2_longvideo.corrections`), so a
correction made here is logged in ``corrections.jsonl`` and undone by ``sam2-longvideo undo`` as well.
A re-track runs in a napari thread worker (`correction_events`, drained as the Track widget drains a
run): the Labels layer is redrawn as blocks of frames are rewritten, and Cancel stops at the next frame,
keeping what is re-tracked so far as a correction of its own (undo takes it back).

*Fix here* adds a Points layer on the current frame with the pen of the chosen animal: click where that
animal really is (Shift-click: a negative point), for one or more animals, then *Re-track from here*.
*Paint here* adds instead a Labels layer holding the current frame's labels, on that frame only, with the
brush of the chosen animal: paint each mask as it should be (label 0 erases), then *Re-track from here*,
which starts every animal from its painted mask.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
from magicgui.widgets import CheckBox, PushButton, SpinBox
from napari.layers import Image, Labels, Points
from napari.qt.threading import create_worker
from napari.utils.notifications import show_error, show_info
from qtpy.QtWidgets import QLabel, QListWidget, QProgressBar, QVBoxLayout, QWidget

from ..corrections import CorrectionWritten, correct_run, corrections_of, swap_animals, undo_last
from ..engine.corrections import PaintedFrame, RejoinSettings
from ..errors import UserInputError
from ..io.prompts import Prompts
from ..io.run_folder import RunFolder
from ..settings import TrackSettings
from ._colors import animal_colormap
from ._layout import hint, row
from ._prompts_layer import adopt, prompts_from_layer, prompts_layer_data, set_pen

FIX_LAYER = "fix points"
MASK_LAYER = "fix mask"
REFRESH_SECONDS = 0.25  # the Labels layer is redrawn at most this often while a re-track runs


def correction_events(run_folder, prompts: Prompts | PaintedFrame, rejoin: RejoinSettings, stop: threading.Event, *,
                      backend=None, source=None):
    """Yield `correct_run`'s events; return (closing it, so it logs what it did) once ``stop`` is set."""
    events = correct_run(run_folder, prompts, rejoin, backend=backend, source=source)
    try:
        for event in events:
            yield event
            if stop.is_set():
                return
    finally:
        events.close()


class CorrectPanel(QWidget):
    """The correction controls of a `ReviewPanel` (``host``), acting on the run it shows."""

    def __init__(self, host, backend_factory=None):
        super().__init__()
        self.host, self.backend_factory = host, backend_factory
        self.worker = None
        self._stop = threading.Event()
        self._refreshed = 0.0

        self.a = SpinBox(label="swap", value=1, min=1, max=65535)
        self.b = SpinBox(label="and", value=2, min=1, max=65535)
        self.swap_to_end = CheckBox(text="to the end", value=True)
        self.swap_to = SpinBox(label="to frame", value=0, min=0, max=10**9, enabled=False)
        self.swap_button = PushButton(text="Swap from this frame")
        self.fix_animal = SpinBox(label="animal", value=1, min=1, max=65535)
        self.fix_button = PushButton(text="Fix here (add points)")
        self.paint_button = PushButton(text="Paint here")
        self.retrack_to_end = CheckBox(text="re-track to the end (not only until it agrees again)")
        self.retrack_button, self.cancel_button = PushButton(text="Re-track from here"), PushButton(text="Cancel",
                                                                                                     enabled=False)
        self.undo_button = PushButton(text="Undo the last correction")
        self.progress_bar, self.status = QProgressBar(), QLabel("")
        self.status.setWordWrap(True)
        self.history = QListWidget()
        self.history.setMaximumHeight(110)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for part in (
            row(QLabel("swap animals"), self.a.native, QLabel("and"), self.b.native),
            row(self.swap_to_end.native, QLabel("or to frame"), self.swap_to.native), self.swap_button.native,
            row(QLabel("animal"), self.fix_animal.native, self.fix_button.native, self.paint_button.native),
            hint("Click where the animal really is on this frame (Shift-click: where it is not), for any animals "
                 "that are wrong, then re-track: the others keep their masks. Or paint the frame's masks as "
                 "they should be (label 0 erases): every animal starts from its painted mask."),
            self.retrack_to_end.native, row(self.retrack_button.native, self.cancel_button.native),
            self.progress_bar, self.status, self.undo_button.native, QLabel("Corrections so far (undone last first):"),
            self.history,
        ):
            layout.addWidget(part)

        self.swap_to_end.changed.connect(lambda value: setattr(self.swap_to, "enabled", not value))
        self.swap_button.changed.connect(lambda: self.swap())
        self.fix_button.changed.connect(lambda: self.fix_here())
        self.paint_button.changed.connect(lambda: self.paint_here())
        self.fix_animal.changed.connect(self._on_pen)
        self.retrack_button.changed.connect(lambda: self.retrack())
        self.cancel_button.changed.connect(self.cancel)
        self.undo_button.changed.connect(lambda: self.undo())

    # -- state shown ------------------------------------------------------------------------------
    def refresh(self) -> None:
        """The run's corrections so far, and the limits of the frame and animal fields."""
        host = self.host
        self.swap_to.max = max(host.num_frames - 1, 0)
        if self.swap_to_end.value:
            self.swap_to.value = self.swap_to.max
        if len(host.animals) >= 2 and {self.a.value, self.b.value} - set(host.animals):
            self.a.value, self.b.value = host.animals[:2]
        self.history.clear()
        try:
            entries = corrections_of(host.run_folder) if host.run_folder is not None else []
        except UserInputError:  # a store without run.json: reviewable, but nothing to correct
            entries = []
        for number, entry in enumerate(entries, start=1):
            self.history.addItem(f"{number}. {describe(entry)}")
        self.undo_button.enabled = bool(entries) and self.worker is None

    def show_episode(self, episode) -> None:
        """Put an episode's animals in the fields: a swap of the two, or a fix of the first."""
        if len(episode.animals) >= 2:
            self.a.value, self.b.value = episode.animals[:2]
        self.fix_animal.value = episode.animals[0]

    # -- corrections ------------------------------------------------------------------------------
    def swap(self):
        """Swap the two animals from the current frame to the end (or to the frame given)."""
        if not self._ready():
            return None
        start = self.host.current_frame()
        stop = None if self.swap_to_end.value else self.swap_to.value
        try:
            entry = swap_animals(self.host.run_folder, self.a.value, self.b.value, start, stop)
        except UserInputError as error:
            return self._show_error(error)
        self.host.reload()
        self.status.setText(f"Swapped animals {self.a.value} and {self.b.value} on frames {entry['frame']} to "
                            f"{entry['to']} ({entry['seconds']:.2f} s).")
        return entry

    def fix_here(self) -> Points | None:
        """A points layer for the fix, in add mode with the chosen animal's pen, on the current frame."""
        host = self.host
        if not self._ready():
            return None
        viewer = host.viewer
        if FIX_LAYER in viewer.layers:
            layer = viewer.layers[FIX_LAYER]
        else:
            data, kwargs, _ = prompts_layer_data(None, FIX_LAYER, host.layer.data.shape[1:])
            layer = viewer.add_points(data, scale=host.layer.scale, translate=host.layer.translate, **kwargs)
            adopt(layer)
        set_pen(layer, self.fix_animal.value, False)
        viewer.layers.selection.active = layer
        layer.mode = "add"
        self.status.setText(f"Click animal {self.fix_animal.value} on frame {host.current_frame()}, then "
                            "'Re-track from here'.")
        return layer

    def paint_here(self) -> Labels | None:
        """A Labels layer of the current frame's labels, shown on that frame only, in paint mode with the
        chosen animal's brush: the frame as it should be."""
        host = self.host
        if not self._ready():
            return None
        viewer, frame = host.viewer, host.current_frame()
        if MASK_LAYER in viewer.layers:
            viewer.layers.remove(MASK_LAYER)  # a new painting starts from the frame shown now
        labels = np.array(host.layer.data[frame : frame + 1])
        translate = np.array(host.layer.translate, float)
        translate[0] += frame * host.layer.scale[0]  # one frame, placed at its own step of the time axis
        layer = viewer.add_labels(labels, name=MASK_LAYER, scale=host.layer.scale, translate=translate,
                                  colormap=animal_colormap(), opacity=0.7, metadata={"frame": frame})
        layer.selected_label = self.fix_animal.value
        viewer.layers.selection.active = layer
        layer.mode = "paint"
        self.status.setText(f"Paint animal {self.fix_animal.value} on frame {frame} as it should be (label 0 "
                            "erases; change the animal above for another), then 'Re-track from here'.")
        return layer

    def _painted(self) -> PaintedFrame | None:
        viewer = self.host.viewer
        if MASK_LAYER not in viewer.layers:
            return None
        if FIX_LAYER in viewer.layers and len(viewer.layers[FIX_LAYER].data):
            raise UserInputError(f"There are both fix points ('{FIX_LAYER}') and a painted mask ('{MASK_LAYER}'): "
                                 "delete the layer you do not want, then re-track.")
        layer = viewer.layers[MASK_LAYER]
        return PaintedFrame(int(layer.metadata["frame"]), np.asarray(layer.data[0]))

    def retrack(self) -> None:
        """Re-track from the painted frame, or from the current frame with the fix points there, in a worker
        thread."""
        host = self.host
        if not self._ready():
            return
        viewer, frame = host.viewer, host.current_frame()
        try:
            prompts = self._painted()
            if prompts is not None:
                frame = prompts.frame
            elif FIX_LAYER not in viewer.layers or not len(viewer.layers[FIX_LAYER].data):
                raise UserInputError(f"No fix points: press 'Fix here' and click the animal where it is on frame "
                                     f"{frame}, or 'Paint here' and paint it.")
            else:
                prompts = self._fix_points(frame)
            backend, source = self._backend(), self._source()
        except UserInputError as error:
            self._show_error(error)
            return
        self._stop = threading.Event()
        self.worker = create_worker(
            correction_events, host.run_folder, prompts, RejoinSettings(to_end=self.retrack_to_end.value),
            self._stop, backend=backend, source=source, _start_thread=False, _ignore_errors=True,
        )
        self.worker.yielded.connect(self._on_event)
        self.worker.errored.connect(self._on_error)
        self.worker.finished.connect(self._on_finished)
        self.progress_bar.setMaximum(host.num_frames - frame)
        self.progress_bar.setValue(0)
        self._set_running(True)
        self.status.setText(f"re-tracking from frame {frame}…")
        self.worker.start()

    def _fix_points(self, frame: int) -> Prompts:
        points = prompts_from_layer(self.host.viewer.layers[FIX_LAYER], self.host.layer)
        rows = [r for r in points.rows() if r[0] == frame]
        if not rows:
            raise UserInputError(f"No fix points on frame {frame} (they are on frames "
                                 f"{sorted({r[0] for r in points.rows()})}): go to that frame, or click here.")
        return Prompts(rows, source=f"layer '{FIX_LAYER}'")

    def cancel(self) -> None:
        """Stop the re-track at the next frame; the frames re-tracked so far are kept (and can be undone)."""
        if self.worker is not None:
            self._stop.set()
            self.cancel_button.enabled = False
            self.status.setText("stopping…")

    def undo(self):
        """Undo the last correction in effect."""
        if not self._ready():
            return None
        try:
            entry = undo_last(self.host.run_folder)
        except UserInputError as error:
            return self._show_error(error)
        self.host.reload()
        self.status.setText(f"Undid: {describe(entry)}.")
        return entry

    # -- the worker's signals (main thread) --------------------------------------------------------
    def _on_event(self, event) -> None:
        if isinstance(event, CorrectionWritten):
            return
        self.progress_bar.setValue(event.frames_done)
        now = time.monotonic()
        if now - self._refreshed > REFRESH_SECONDS:  # the store is rewritten a block at a time
            self._refreshed = now
            self.host.layer.refresh()

    def _on_error(self, error: Exception) -> None:
        if not isinstance(error, UserInputError):
            error = RuntimeError(f"The re-track failed ({type(error).__name__}: {error}); what was re-tracked "
                                 "before is kept and can be undone.")
        self._show_error(error)

    def _on_finished(self) -> None:
        self.worker = None
        self._set_running(False)
        stopped = self._stop.is_set()
        self.host.reload()
        entries = corrections_of(self.host.run_folder)
        if entries and entries[-1]["kind"] == "retrack":
            self.status.setText(("Stopped: kept " if stopped else "Done: ") + describe(entries[-1]) + ".")
            for used in (FIX_LAYER, MASK_LAYER):  # used up; the next fix starts a fresh layer
                if used in self.host.viewer.layers:
                    self.host.viewer.layers.remove(used)
            show_info(f"Re-track written: {describe(entries[-1])}")

    # -- helpers ----------------------------------------------------------------------------------
    def _ready(self) -> bool:
        if self.host.run_folder is None:
            self._show_error(UserInputError("Choose a run to correct first ('Review this run')."))
            return False
        return self.worker is None

    def _set_running(self, running: bool) -> None:
        for button in (self.swap_button, self.retrack_button, self.undo_button, self.fix_button, self.paint_button):
            button.enabled = not running
        self.cancel_button.enabled = running

    def _on_pen(self, animal: int) -> None:
        if FIX_LAYER in self.host.viewer.layers:
            set_pen(self.host.viewer.layers[FIX_LAYER], animal, False)
        if MASK_LAYER in self.host.viewer.layers:
            self.host.viewer.layers[MASK_LAYER].selected_label = animal

    def _backend(self):
        if self.backend_factory is None:
            return None  # the run's own, made from run.json by correct_run
        metadata = RunFolder(self.host.run_folder).read_metadata()
        return self.backend_factory(TrackSettings.from_dict(metadata["settings"]))

    def _source(self):
        """The video, where ``run.json``'s path cannot give it: a video layer of the run's frame count."""
        video = RunFolder(self.host.run_folder).read_metadata().get("video", {})
        if video.get("kind") != "array" and video.get("path") and Path(video["path"]).exists():
            return None
        for layer in self.host.viewer.layers:
            if isinstance(layer, Image) and layer.data.shape[:3] == tuple(self.host.layer.data.shape):
                return layer.metadata.get("video") or layer.data
        return None  # correct_run says what to do

    def _show_error(self, error: Exception) -> None:
        self.status.setText(str(error))
        show_error(str(error))


def describe(entry: dict) -> str:
    """One line for a ``corrections.jsonl`` entry."""
    animals = " and ".join(map(str, entry["animals"]))
    if entry["kind"] == "swap":
        return f"swap {animals}, frames {entry['frame']} to {entry['to']}"
    how = "to the end" if entry.get("to_end") else ("until rejoined" if entry.get("rejoined") else "stopped")
    what = "painted re-track" if entry.get("painted") else "re-track"
    return f"{what} of {animals} from frame {entry['frame']}, {entry['frames_retracked']} frames ({how})"
