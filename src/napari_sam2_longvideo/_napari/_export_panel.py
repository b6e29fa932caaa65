"""The widget's exports: the per-frame table (``tracks.csv``, anywhere, with frame times) and the
formats of the ``export`` command (SLEAP, DeepLabCut, NWB, movement, COCO, the overlay video), into the
run's ``exports``. The menu's exports are written in a thread worker: an overlay of an hour's video takes
minutes, and the viewer stays usable meanwhile.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from napari.qt.threading import create_worker
from qtpy.QtWidgets import QFileDialog, QMenu, QPushButton, QWidget

from ..errors import UserInputError
from ..io.export import write_tracks_csv, written_context
from ..io.exports import EXPORTS_DIR, FORMATS, export_run
from ..io.frames import open_frames
from ..io.run_folder import STORE_DIR, TRACKS_FILE, RunFolder
from ..io.source import FrameSource
from ..io.store import LabelStore
from ._layout import row

FORMAT_TITLES = {
    "sleap": "SLEAP analysis (.h5)",
    "dlc": "DeepLabCut (.csv)",
    "nwb": "NWB with ndx-pose (.nwb)",
    "movement": "movement (netCDF .nc)",
    "coco": "COCO instance masks (.json)",
}


class ExportButtons:
    """"Export tracks.csv…" and "Export as…" (a menu of formats), for the run in ``folder()``.

    Parameters
    ----------
    folder : callable
        The run folder the widget points at now (or None).
    video : callable
        The video layer chosen now (or None): frame times for a run not finished yet.
    report, fail : callable
        Show a message of success, or an exception, to the user.
    """

    def __init__(self, folder, video, report, fail):
        self.folder, self.video, self.report, self.fail = folder, video, report, fail
        self.tracks_button = QPushButton("Export tracks.csv…")
        self.tracks_button.setToolTip("the per-frame table of the finished chunks so far, where you choose")
        self.formats_button = QPushButton("Export as…")
        self.formats_button.setToolTip("a finished run in the formats the field reads, into RUN/exports")
        self.worker = None  # the export being written, if any
        menu = QMenu(self.formats_button)
        for name, title in FORMAT_TITLES.items():
            menu.addAction(title, lambda name=name: self.export_in_background([name]))
        menu.addSeparator()
        menu.addAction("all of them", lambda: self.export_in_background(list(FORMATS)))
        menu.addSeparator()
        menu.addAction("overlay video (.mp4)", lambda: self.export_in_background(["overlay"]))
        self.formats_button.setMenu(menu)
        self.tracks_button.clicked.connect(lambda: self.export_tracks())
        self.widget: QWidget = row(self.tracks_button, self.formats_button)

    def _run_folder(self) -> Path:
        folder = self.folder()
        if folder is None or not (folder / STORE_DIR).is_dir():
            raise UserInputError(f"Nothing is tracked in {folder or 'the output folder'} yet: choose a run "
                                 "folder as 'output folder', or Track.")
        return folder

    def export_tracks(self, path=None) -> Path | None:
        """Write the run's per-frame table (finished chunks so far) to ``path``, asked for when None."""
        try:
            folder = self._run_folder()
            if path is None:
                path, _ = QFileDialog.getSaveFileName(
                    self.widget, "Export tracks", str(folder / TRACKS_FILE), "CSV (*.csv)"
                )
                if not path:
                    return None
            records = LabelStore.open(folder, read_only=True).records()
            times, names = self._context(folder)
            written = write_tracks_csv(records, path, times, names)
        except UserInputError as error:
            self.fail(error)
            return None
        self.report(f"Wrote {written}: {len(records)} rows (frame, animal, area, centroid, score, flags, time).")
        return written

    def _context(self, folder: Path) -> tuple[np.ndarray | None, dict[int, str]]:
        """Frame times and class names: as the run's own ``tracks.csv`` has them, else from the video."""
        if (folder / TRACKS_FILE).is_file():
            return written_context(folder / TRACKS_FILE)
        layer = self.video()
        if layer is not None and isinstance(layer.data, FrameSource):
            return layer.data.timestamps_s(), {}
        path = ((RunFolder(folder).read_metadata() or {}).get("video") or {}).get("path")
        if path and Path(path).exists():
            frames = open_frames(path)
            try:
                return frames.timestamps_s(), {}
            finally:
                frames.close()
        return None, {}

    def export_formats(self, formats: list[str]) -> list[Path]:
        """The finished run in ``formats`` (names of `FORMATS` and `VIDEOS`), into its ``exports`` folder,
        written before this returns."""
        try:
            written = export_run(self._run_folder(), formats)
        except UserInputError as error:
            self.fail(error)
            return []
        self._exported(formats, written)
        return written

    def export_in_background(self, formats: list[str]):
        """`export_formats` in a thread worker (returned, or None when there is nothing to export); the
        button says what is being written until it is done."""
        try:
            folder = self._run_folder()
        except UserInputError as error:
            self.fail(error)
            return None
        self.worker = create_worker(export_run, folder, formats, _start_thread=False, _ignore_errors=True)
        self.worker.returned.connect(lambda written: self._exported(formats, written))
        self.worker.errored.connect(self.fail)
        self.worker.finished.connect(self._export_finished)
        self.formats_button.setEnabled(False)
        self.formats_button.setText(f"Exporting {', '.join(formats)}…")
        self.worker.start()
        return self.worker

    def _export_finished(self) -> None:
        self.worker = None
        self.formats_button.setEnabled(True)
        self.formats_button.setText("Export as…")

    def _exported(self, formats, written) -> None:
        if written:
            where = written[0].parent
            self.report(f"Exported {', '.join(formats)} to {where}: {', '.join(p.name for p in written)}")


__all__ = ["EXPORTS_DIR", "ExportButtons"]
