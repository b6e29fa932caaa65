"""The "Video and prompts" part of the dock widget: which layers to track, and the prompting pen.

The pen (the animal a click is for, negative or not) is shown here and kept in the chosen prompts
layer; the keys bound on prompts layers change it from the canvas.
"""

from __future__ import annotations

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, PushButton, SpinBox
from napari.layers import Image, Points
from napari.utils.notifications import show_error

from ._colors import animal_color
from ._layout import color_swatch, set_swatch_color
from ._prompts_layer import (
    PROMPTS_KEY,
    adopt,
    is_prompts_layer,
    prompts_layer_data,
    set_pen,
)

PEN_HELP = (
    "In the prompts layer's add mode, click each animal once. Shift-click: a negative point. "
    "Keys: n negative on/off, - and = previous/next animal. Points may be on any frame."
)


class PromptsPanel(Container):
    """Video and prompts layer choices, "New prompts", and the pen: animal number and negative."""

    def __init__(self, viewer):
        super().__init__()
        self.viewer = viewer
        self.video = ComboBox(label="video", choices=self._layers_of(Image), nullable=True)
        self.prompts = ComboBox(label="prompts", choices=self._layers_of(Points), nullable=True)
        self.new_prompts = PushButton(text="New prompts")
        self.animal = SpinBox(value=1, min=1, max=65535, tooltip="the label this animal's pixels get")
        self.swatch = color_swatch(animal_color(1))
        self.negative = CheckBox(text="negative points (not the animal)")
        animal_row = Container(label="animal", layout="horizontal", labels=False, widgets=[self.animal])
        animal_row.native.layout().addWidget(self.swatch)
        self.extend([self.video, self.prompts, self.new_prompts, animal_row, self.negative])

        self.new_prompts.changed.connect(self.make_prompts_layer)
        self.prompts.changed.connect(self._show_pen)
        self.animal.changed.connect(self._update_pen)
        self.negative.changed.connect(self._update_pen)
        viewer.layers.events.inserted.connect(self._on_layer_inserted)

    def _layers_of(self, kind):
        return lambda _widget=None: [(layer.name, layer) for layer in self.viewer.layers if isinstance(layer, kind)]

    def reset_choices(self, event=None) -> None:
        """Refresh the layer choices, and pick the newest video and prompts where none is chosen."""
        super().reset_choices()
        videos = [layer for layer in self.viewer.layers if isinstance(layer, Image)]
        prompts = [layer for layer in self.viewer.layers if is_prompts_layer(layer)]
        for layer in prompts:
            self._adopt(layer)
        if self.video.value is None and videos:
            self.video.value = videos[-1]
        if self.prompts.value is None and prompts:
            self.prompts.value = prompts[-1]

    def _on_layer_inserted(self, event) -> None:
        """A video or prompts layer just opened is most likely the one to use next."""
        layer = event.value
        self.reset_choices()
        if isinstance(layer, Image):
            self.video.value = layer
        elif is_prompts_layer(layer):
            self.prompts.value = layer
            layer.mode = "add"  # ready to click: napari adds points layers in pan/zoom mode

    def _adopt(self, layer: Points) -> None:
        adopt(layer)
        layer.bind_key("n", lambda _layer: setattr(self.negative, "value", not self.negative.value), overwrite=True)
        layer.bind_key("-", lambda _layer: setattr(self.animal, "value", max(1, self.animal.value - 1)), overwrite=True)
        layer.bind_key("=", lambda _layer: setattr(self.animal, "value", self.animal.value + 1), overwrite=True)

    def make_prompts_layer(self) -> Points | None:
        """A prompts layer over the chosen video, in add mode: each click is a point for the animal."""
        image = self.video.value
        if image is None:
            show_error("Open a video first (drag it into napari), then press 'New prompts'.")
            return None
        layer = self._empty_prompts_layer()
        if layer is None:
            data, kwargs, _ = prompts_layer_data(None, f"{image.name} prompts", image.data.shape[1:3])
            kwargs["axis_labels"] = image.axis_labels
            layer = self.viewer.add_points(data, scale=image.scale, translate=image.translate, **kwargs)
        self.prompts.value = layer
        self._update_pen()
        layer.mode = "add"
        self.viewer.layers.selection.active = layer
        return layer

    def _empty_prompts_layer(self) -> Points | None:
        """A prompts layer with no points yet (the chosen one first): pressed again, "New prompts"
        goes on with it rather than adding a second empty layer."""
        chosen = self.prompts.value
        layers = [chosen] if is_prompts_layer(chosen) else []
        layers += [layer for layer in reversed(self.viewer.layers) if is_prompts_layer(layer)]
        return next((layer for layer in layers if not len(layer.data)), None)

    def _show_pen(self, layer=None) -> None:
        """Show the chosen prompts layer's pen (each layer keeps its own) and its first prompts."""
        if is_prompts_layer(layer):
            self._adopt(layer)
            pen = dict(layer.metadata[PROMPTS_KEY])
            self.animal.value, self.negative.value = pen["animal"], pen["negative"]
            self._show_first_prompts(layer)

    def _show_first_prompts(self, layer: Points) -> None:
        """Go to the frame of the first prompt when none is on this one (napari opens videos mid-way)."""
        if not len(layer.data) or self.viewer.dims.ndim != 3:
            return
        frames = [layer.data_to_world(point)[0] for point in layer.data]
        if not np.isclose(frames, self.viewer.dims.point[0]).any():
            self.viewer.dims.set_point(0, min(frames))

    def _update_pen(self, _=None) -> None:
        set_swatch_color(self.swatch, animal_color(self.animal.value))
        if is_prompts_layer(self.prompts.value):
            set_pen(self.prompts.value, self.animal.value, self.negative.value)
