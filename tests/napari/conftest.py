"""Fixtures for the napari side: a viewer with the widget opened through the manifest, clicks, errors."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
import pytest

from napari_sam2_longvideo._napari._sample_data import GENERATED_CLIP
from napari_sam2_longvideo._napari._track_widget import TrackWidget
from napari_sam2_longvideo.testing.synthetic import crossing_ellipses
from napari_sam2_longvideo.testing.truth_backend import TruthBackend

PLUGIN = "napari-sam2-longvideo"


@pytest.fixture
def viewer(make_napari_viewer):
    return make_napari_viewer()


@pytest.fixture
def widget(viewer) -> TrackWidget:
    """The "Track animals" widget, docked as napari docks it from the Plugins menu."""
    _dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Track animals")
    assert isinstance(widget, TrackWidget)
    return widget


@pytest.fixture
def generated(viewer):
    """The generated sample opened from File > Open Sample; returns the same clip, with its truth."""
    viewer.open_sample(PLUGIN, "generated_clip")
    return crossing_ellipses(**GENERATED_CLIP)


@pytest.fixture
def errors_shown():
    """Messages of the error notifications shown during the test, in order."""
    from napari.utils.notifications import NotificationSeverity, notification_manager

    shown: list[str] = []

    def record(notification):
        if notification.severity == NotificationSeverity.ERROR:
            shown.append(notification.message)

    notification_manager.notification_ready.connect(record)
    yield shown
    notification_manager.notification_ready.disconnect(record)


@pytest.fixture
def wait_for_run(qtbot):
    """Wait until the widget's worker has finished and its ``finished`` handler has run."""

    def wait(widget: TrackWidget, timeout_ms: int = 60_000) -> None:
        qtbot.waitUntil(lambda: widget.worker is None, timeout=timeout_ms)

    return wait


@dataclass
class _MouseEvent:
    """What napari's mouse callbacks read from a vispy mouse event."""

    type: str
    position: tuple
    modifiers: list = field(default_factory=list)
    is_dragging: bool = False
    pos: np.ndarray = field(default_factory=lambda: np.zeros(2))
    view_direction: list | None = None
    up_direction: list | None = None
    dims_displayed: list = field(default_factory=lambda: [1, 2])
    handled: bool = False


@pytest.fixture
def click():
    """``click(layer, (frame, y, x), modifiers=())``: press and release the mouse there, as napari does."""
    from napari.utils._proxies import ReadOnlyWrapper
    from napari.utils.interactions import mouse_press_callbacks, mouse_release_callbacks

    def press_and_release(layer, position, modifiers=()):
        for kind, dispatch in (("mouse_press", mouse_press_callbacks), ("mouse_release", mouse_release_callbacks)):
            event = _MouseEvent(kind, tuple(position), list(modifiers))
            dispatch(layer, ReadOnlyWrapper(event, exceptions=("handled",)))

    return press_and_release


@pytest.fixture
def gated_backend(generated):
    """A truth backend for the generated clip that waits at each later chunk until its gate is set."""
    return GatedTruthBackend(generated)


@pytest.fixture
def use_generated(viewer, generated):
    """``use_generated(widget, out, chunk_size=10)``: point the widget at the generated sample."""

    def choose(widget: TrackWidget, out, chunk_size: int = 10) -> None:
        widget.video.value = viewer.layers["generated_clip"]
        widget.prompts.value = viewer.layers["generated_clip prompts"]
        widget.form.widgets["chunk_size"].value = chunk_size
        widget.out.value = out

    return choose


class GatedTruthBackend(TruthBackend):
    """The truth backend, holding every chunk after the first until ``gate`` is set (as a slow model would)."""

    def __init__(self, clip, **kwargs):
        super().__init__(clip, **kwargs)
        self.gate = threading.Event()
        self.waiting = threading.Event()  # set once the run is held at the gate

    def start_session(self, frames, start, stop):
        if start > 0:
            self.waiting.set()
            assert self.gate.wait(timeout=60), "the test never opened the gate"
        return super().start_session(frames, start, stop)
