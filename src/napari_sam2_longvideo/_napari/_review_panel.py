"""The "Review and correct" dock widget: a run's doubtful episodes, its plot, its tracks, and corrections.

The run is found from a results Labels layer (the Track widget's, or a run folder opened with this
plugin's reader: both carry ``metadata["run_folder"]``), or chosen as a folder. The episodes are the
engine's (`engine.review.find_episodes`, as ``sam2-longvideo review`` prints them) on the store's records;
looking writes nothing. Corrections are `_correct_panel.CorrectPanel`'s, below the plot.

Keys (viewer-wide, while the panel is open): **Shift-Right** the next episode, **Shift-Left** the one
before, in the table's order (worst first).
"""

from __future__ import annotations

from pathlib import Path

import napari
import numpy as np
from magicgui.widgets import FileEdit, PushButton
from napari.layers import Labels
from napari.utils.notifications import show_error
from qtpy.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from ..engine.review import Episode, find_episodes
from ..errors import UserInputError
from ..io.run_folder import RunFolder
from ..io.store import LabelStore
from ._correct_panel import CorrectPanel
from ._layout import heading, hint, row, scrolling
from ._reader import is_run_folder, labels_layer_kwargs
from ._review_data import animal_series
from ._review_plot import ReviewPlot
from ._tracks_layer import show_tracks

NEXT_KEY, PREVIOUS_KEY = "Shift-Right", "Shift-Left"
COLUMNS = ("rank", "frames", "animals", "reason", "score")


class ReviewPanel(QWidget):
    """Dock widget reviewing and correcting one run folder at a time.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer whose time slider it moves and whose layers it shows the run in.
    backend_factory : callable, optional
        ``backend_factory(settings)`` makes the backend a re-track uses, instead of the run's own (tests).
    """

    def __init__(self, viewer: napari.viewer.Viewer, backend_factory=None):
        super().__init__()
        self.viewer = viewer
        self.run_folder: Path | None = None
        self.layer: Labels | None = None
        self.tracks_layer = None
        self.on_reviewed = None  # called with the panel after each (re)load: the Track widget titles its tab
        self.records = np.zeros(0)
        self.episodes: list[Episode] = []
        self.animals: list[int] = []
        self.num_frames = 0
        self.current_episode = -1
        self._adding_layer = False

        self.folder = FileEdit(label="run folder", mode="d", nullable=True)
        self.open_button = PushButton(text="Review this run")
        self.summary = QLabel("Open a run folder, or Track: its doubtful frames are listed here.")
        self.summary.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setMinimumHeight(140)
        self.plot = ReviewPlot(on_frame=self.go_to_frame)
        self.correcting = CorrectPanel(self, backend_factory)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(scrolling(
            row(self.folder.native, self.open_button.native), self.summary,
            heading("Doubtful episodes, worst first"), self.table,
            hint(f"Click a row to go there; {NEXT_KEY} / {PREVIOUS_KEY}: next / previous episode."),
            heading("Speed, area and score per animal"), self.plot,
            heading("Correct"), self.correcting,
        ))

        self.open_button.changed.connect(self._open_chosen)
        self.table.cellClicked.connect(lambda index, _column: self.go_to_episode(index))
        viewer.dims.events.current_step.connect(self._on_step)
        viewer.layers.events.inserted.connect(self._on_layer_inserted)
        viewer.bind_key(NEXT_KEY, lambda _viewer: self.step_episode(+1), overwrite=True)
        viewer.bind_key(PREVIOUS_KEY, lambda _viewer: self.step_episode(-1), overwrite=True)
        self.destroyed.connect(lambda *_: self._disconnect(viewer))
        shown = [layer for layer in viewer.layers if _run_of(layer) is not None]
        if shown:
            self.show_run(_run_of(shown[-1]), shown[-1])

    # -- which run --------------------------------------------------------------------------------
    def show_run(self, run_folder, layer: Labels | None = None) -> bool:
        """Review the run in ``run_folder``: the episodes, the plot and the tracks, in its Labels layer.

        The Track widget calls this when a run finishes. ``layer`` defaults to the Labels layer showing
        that folder; one is added when there is none. Returns False (and says why) when the folder
        holds no run yet.
        """
        run_folder = Path(run_folder)
        if not is_run_folder(run_folder):
            self._show_error(UserInputError(f"{run_folder} holds no tracking run: choose the output folder of a run."))
            return False
        self.run_folder = run_folder
        self.folder.value = run_folder
        self.layer = layer or self._labels_layer(run_folder)
        self.reload()
        return True

    def reload(self) -> None:
        """Read the run's records again (after a correction) and refresh the table, plot, tracks and layer."""
        store = LabelStore.open(self.run_folder, read_only=True)
        if self.layer.data is not store.labels and np.asarray(self.layer.data.shape).tolist() != list(store.shape):
            self.layer.data = store.labels
        self.layer.refresh()
        self.records = store.records()
        self.num_frames = store.shape[0]
        self.animals = _run_animals(self.run_folder, self.records)
        self.episodes = find_episodes(self.records, assignments=store.assignments()) if len(self.records) else []
        self._fill_table()
        self.plot.show_series(animal_series(self.records, self.num_frames), self.episodes, self.num_frames)
        self.plot.set_frame(self.current_frame())
        tracks = show_tracks(self.viewer, self.records, f"{self.layer.name} tracks", like=self.layer)
        earlier = self.tracks_layer
        if earlier is not None and earlier is not tracks and earlier in self.viewer.layers:
            self.viewer.layers.remove(earlier)  # an earlier run's tracks would lie over this one's
        self.tracks_layer = tracks
        done = "" if store.complete else f" (unfinished: {store.frames_done} of {store.shape[0]} frames tracked)"
        self.summary.setText(f"{self.run_folder}: {len(self.episodes)} doubtful episodes in {self.num_frames} "
                             f"frames, animals {' '.join(map(str, self.animals))}{done}.")
        self.correcting.refresh()
        if self.on_reviewed is not None:
            self.on_reviewed(self)

    def _labels_layer(self, run_folder: Path) -> Labels:
        for layer in self.viewer.layers:
            if _run_of(layer) is not None and _run_of(layer).resolve() == run_folder.resolve():
                return layer
        store = LabelStore.open(run_folder, read_only=True)
        self._adding_layer = True  # shown by the caller, not again by _on_layer_inserted
        try:
            return self.viewer.add_labels(store.labels, **labels_layer_kwargs(f"{run_folder.name} labels", run_folder))
        finally:
            self._adding_layer = False

    def _open_chosen(self) -> None:
        if self.folder.value is None or str(self.folder.value) in ("", "."):
            self._show_error(UserInputError("Choose a run folder first (the output folder of a track run)."))
            return
        self.show_run(Path(self.folder.value))

    def _on_layer_inserted(self, event) -> None:
        """A run folder just opened with the reader is reviewed at once (a Track run, when it finishes)."""
        run_folder = _run_of(event.value)
        if self._adding_layer or run_folder is None or self.correcting.worker is not None:
            return
        if _finished(run_folder):
            self.show_run(run_folder, event.value)

    # -- moving through the video -----------------------------------------------------------------
    def current_frame(self) -> int:
        return int(self.viewer.dims.current_step[0])

    def go_to_frame(self, frame: int) -> None:
        self.viewer.dims.set_current_step(0, int(frame))

    def go_to_episode(self, index: int) -> None:
        """Show episode ``index`` (in table order): the slider to its first frame, its first animal selected."""
        if not 0 <= index < len(self.episodes):
            return
        self.current_episode = index
        episode = self.episodes[index]
        self.table.selectRow(index)
        self.go_to_frame(episode.start)
        if self.layer is not None:
            self.layer.selected_label = episode.animals[0]
            self.viewer.layers.selection.active = self.layer
        self.correcting.show_episode(episode)

    def step_episode(self, step: int) -> None:
        """The next (``+1``) or previous (``-1``) episode of the table, wrapping around."""
        if self.episodes:
            self.go_to_episode((self.current_episode + step) % len(self.episodes))

    def _on_step(self, event=None) -> None:
        if self.num_frames:
            self.plot.set_frame(self.current_frame())

    def _fill_table(self) -> None:
        self.table.setRowCount(len(self.episodes))
        for index, episode in enumerate(self.episodes):
            frames = str(episode.start) if episode.frames == 1 else f"{episode.start}–{episode.stop}"
            cells = (str(index + 1), frames, " ".join(map(str, episode.animals)), episode.reason.replace("_", " "),
                     f"{episode.score:.1f}")
            for column, text in enumerate(cells):
                self.table.setItem(index, column, QTableWidgetItem(text))
        self.current_episode = -1

    def _show_error(self, error: Exception) -> None:
        self.summary.setText(str(error))
        show_error(str(error))

    def _disconnect(self, viewer) -> None:
        viewer.dims.events.current_step.disconnect(self._on_step)
        viewer.layers.events.inserted.disconnect(self._on_layer_inserted)
        for key in (NEXT_KEY, PREVIOUS_KEY):
            viewer.bind_key(key, None)


def _run_of(layer) -> Path | None:
    """The run folder a results Labels layer shows, or None for any other layer."""
    folder = layer.metadata.get("run_folder") if isinstance(layer, Labels) else None
    return Path(folder) if folder else None


def _finished(run_folder: Path) -> bool:
    try:
        return LabelStore.open(run_folder, read_only=True).complete
    except (UserInputError, KeyError, ValueError, OSError):
        return False


def _run_animals(run_folder: Path, records: np.ndarray) -> list[int]:
    """The run's animals as ``run.json`` lists them (those of the records where it cannot be read)."""
    try:
        metadata = RunFolder(run_folder).read_metadata() or {}
    except UserInputError:
        metadata = {}
    found = metadata.get("animals") or (np.unique(records["animal"]).tolist() if len(records) else [])
    return [int(a) for a in found]
