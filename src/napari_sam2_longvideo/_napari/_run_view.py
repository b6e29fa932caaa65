"""What the widget shows of a run folder it is pointed at: the run's settings and mode, how far the
run got, and whether Track has anything left to do there."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from napari.utils.notifications import show_info

from ..errors import UserInputError
from ..io.run_folder import RunFolder
from ..io.store import LabelStore
from ..settings import TrackSettings


class RunView:
    """The part of the `TrackWidget` that reads run folders (``run.json`` and the label store)."""

    def __init__(self, widget):
        self.widget = widget

    def show_run(self, folder: Path) -> TrackSettings | None:
        """Put the run's settings in the form and say what Track will do with it; return them."""
        widget = self.widget
        try:
            metadata = RunFolder(folder).read_metadata()
        except UserInputError as error:
            widget._show_error(error)
            return None
        if not metadata or "settings" not in metadata:
            return None
        settings = TrackSettings.from_dict(metadata["settings"])
        # the device never changes the result: this machine's choice stays
        settings = dataclasses.replace(settings, device=widget.form.widgets["device"].value)
        widget.form.show(settings)
        widget.mode.show_run(settings, prompted=bool(metadata.get("prompts", {}).get("rows")))
        widget.overwrite.value = False
        widget.status.setText(self._summary(folder, metadata))
        return settings

    @staticmethod
    def _summary(folder: Path, metadata: dict) -> str:
        video = (metadata.get("video") or {}).get("path", "its video")
        try:
            store = LabelStore.open(folder, read_only=True)
        except UserInputError:
            return f"{folder} holds a run this version cannot resume; tick 'start over' to track again there."
        total = store.shape[0]
        if store.complete and metadata.get("status") == "finished":
            return (f"Finished run: all {total} frames of {video} are in {folder}. Export below, or tick "
                    "'start over' and press Track to track it again (that discards this result).")
        return (f"Stopped run: {store.frames_done} of {total} frames of {video} are saved in {folder}. "
                "With that video open, press Track to resume after them.")

    def is_finished(self, out: Path, image, prompts, settings: TrackSettings) -> bool:
        """Whether the run in ``out`` is this one (prompts, settings), finished for as many frames as
        asked; then says so. Any difference is left to the run, which names it."""
        try:
            metadata = RunFolder(out).read_metadata()
            if not metadata or metadata.get("status") != "finished" or settings.detections:
                return False
            if metadata.get("prompts", {}).get("sha256") != prompts.fingerprint():
                return False
            was, shown = (metadata.get("video") or {}).get("path"), image.metadata.get("video")
            if was and shown and Path(was).resolve() != Path(shown).resolve():
                return False
            earlier = TrackSettings.from_dict(metadata.get("settings", {})).result_defining()
            if {k: v for k, v in earlier.items() if k != "max_frames"} != {
                k: v for k, v in settings.result_defining().items() if k != "max_frames"
            }:
                return False
            store = LabelStore.open(out, read_only=True)
        except UserInputError:
            return False  # the run reports what is wrong with the folder
        asked = min(image.data.shape[0], settings.max_frames or image.data.shape[0])
        if not store.complete or store.shape[0] < asked:
            return False  # more frames asked for than tracked: the run extends
        message = (f"This run is finished: all {store.shape[0]} frames are in {out}. Nothing is left to "
                   "track; to track it again, tick 'start over' (that discards this result).")
        self.widget.status.setText(message)
        show_info(message)
        return True
