"""The results Labels layer of a run: there as soon as Track is pressed, filled in chunk by chunk.

Its data is the run's ``labels.zarr`` opened read-only (napari reads only the blocks of the frames it
shows), which the worker writes; the layer is redrawn after each finished chunk. Until the run has made
its store, the layer shows a lazy blank of the right shape.
"""

from __future__ import annotations

from pathlib import Path

import dask.array as da
import numpy as np
from napari.layers import Labels, Points

from ..core.records import label_dtype
from ..engine.events import ChunkDone, ResultsWritten, RunStarted
from ..errors import UserInputError
from ..io.store import LabelStore
from ._reader import is_run_folder, labels_layer_kwargs


class ResultsLayer:
    """A Labels layer bound to one run folder.

    Parameters
    ----------
    layer : napari.layers.Labels
        The layer shown.
    run_folder : Path
        The run's output folder.
    added_now : bool
        True when this Track press added the layer (it is removed again if the run never starts).
    """

    def __init__(self, layer, run_folder: Path, added_now: bool):
        self.layer, self.run_folder, self.added_now = layer, Path(run_folder), added_now
        self.started = False

    @classmethod
    def for_run(cls, viewer, image, run_folder: Path, animals, settings, overwrite: bool) -> ResultsLayer:
        """The layer for a run of ``image`` into ``run_folder``: the layer already showing that folder, if any.

        It shows what an earlier run left there (unless the run starts over, which deletes it) or a
        blank, until the run's `RunStarted`; it is shown, on top of the other labels.
        """
        frames, height, width = image.data.shape[:3]
        shape = (min(frames, settings.max_frames or frames), height, width)
        data = None if overwrite else _earlier_store(run_folder, shape)
        if data is None:
            data = da.zeros(shape, dtype=label_dtype(animals), chunks=(1, height, width))
        active = viewer.layers.selection.active
        for layer in viewer.layers:  # an earlier Track's layer, or the folder opened with the reader
            if isinstance(layer, Labels) and _same_folder(layer.metadata.get("run_folder"), run_folder):
                layer.data = data  # replaced in place: one layer per folder, never "labels [1]"
                results = cls(layer, run_folder, added_now=False)
                break
        else:
            name = f"{image.name} labels"
            if name in viewer.layers:  # another folder's run of the same video: named by its folder
                name = f"{image.name} labels ({Path(run_folder).name})"
            kwargs = {**labels_layer_kwargs(name, run_folder), "axis_labels": image.axis_labels}
            layer = viewer.add_labels(data, scale=image.scale, translate=image.translate, **kwargs)
            results = cls(layer, run_folder, added_now=True)
        results.bring_to_front(viewer)
        if active is not None and active in viewer.layers:
            viewer.layers.selection.active = active  # the selected layer (the prompts) stays selected
        return results

    def bring_to_front(self, viewer) -> None:
        """Shown, above every image and labels layer (an earlier run's too), under the points, so the
        labels filling in are the ones seen and the clicks stay visible."""
        self.layer.visible = True
        viewer.layers.move(viewer.layers.index(self.layer), len(viewer.layers))
        for points in [layer for layer in viewer.layers if isinstance(layer, Points)]:
            viewer.layers.move(viewer.layers.index(points), len(viewer.layers))

    def update(self, event) -> None:
        """Follow the run: its store once it exists, each chunk as it is saved."""
        if isinstance(event, RunStarted):
            self.started = True
            self.layer.data = LabelStore.open(self.run_folder, read_only=True).labels
        elif isinstance(event, (ChunkDone, ResultsWritten)) and self.started:
            self.layer.refresh()

    def discard_if_empty(self, viewer) -> None:
        """Remove the layer this Track press added when its run stopped before it began."""
        if self.added_now and not self.started and self.layer in viewer.layers:
            viewer.layers.remove(self.layer)


def _same_folder(shown, run_folder) -> bool:
    return shown is not None and Path(shown).resolve() == Path(run_folder).resolve()


def _earlier_store(run_folder: Path, shape: tuple[int, int, int]):
    """The labels a stopped run left in ``run_folder``, when they fit this video: resuming shows them at once."""
    if not is_run_folder(Path(run_folder)):
        return None
    try:
        store = LabelStore.open(Path(run_folder), read_only=True)
    except (UserInputError, KeyError, ValueError):  # a damaged store is the run's to report, not the display's
        return None
    return store.labels if store.shape == tuple(shape) and np.dtype(store.dtype).kind == "u" else None
