"""Prompting in the viewer: "New prompts", clicks, Shift-clicks, keys, colours, and the engine's prompts."""

from __future__ import annotations

import numpy as np
import pytest

from napari_sam2_longvideo._napari._colors import animal_color, animal_colormap
from napari_sam2_longvideo._napari._prompts_layer import (
    is_prompts_layer,
    prompts_from_layer,
)


@pytest.fixture
def video(viewer):
    return viewer.add_image(np.zeros((10, 30, 40, 3), np.uint8), name="video", rgb=True)


@pytest.fixture
def press_key(viewer):
    """Press and release a key on the canvas: napari routes it to the selected layer's bindings."""
    handler = viewer.window._qt_viewer._key_map_handler

    def press(key: str) -> None:
        handler.press_key(key)
        handler.release_key(key)

    return press


def test_new_prompts_makes_a_points_layer_ready_for_clicking(viewer, widget, video):
    widget.prompting.new_prompts.native.click()
    layer = viewer.layers["video prompts"]
    assert is_prompts_layer(layer) and layer.mode == "add"
    assert widget.prompts.value is layer and viewer.layers.selection.active is layer
    assert list(layer.features.columns) == ["animal", "positive"] and len(layer.data) == 0
    assert layer.axis_labels == video.axis_labels


def test_clicks_add_points_for_the_current_animal_coloured_as_its_label_will_be(
    viewer, widget, video, click, press_key
):
    layer = widget.make_prompts_layer()
    click(layer, (2, 10, 12))  # animal 1, positive
    click(layer, (2, 20, 30), modifiers=["Shift"])  # Shift: negative, this click only
    press_key("=")
    press_key("=")  # animal 3
    click(layer, (7, 5, 5))  # a later frame: prompts may be on any frame
    press_key("n")  # negative until pressed again
    click(layer, (7, 25, 35))
    widget.animal.value = 2
    widget.negative.value = False
    layer.add([9, 12, 12])  # points added from code follow the pen too

    assert layer.features["animal"].tolist() == [1, 1, 3, 3, 2]
    assert layer.features["positive"].tolist() == [True, False, True, False, True]
    assert [str(symbol) for symbol in layer.symbol] == ["disc", "x", "disc", "x", "disc"]
    np.testing.assert_allclose(layer.data[:3], [[2, 10, 12], [2, 20, 30], [7, 5, 5]])
    label_colors = animal_colormap().map(np.array([1, 1, 3, 3, 2]))
    np.testing.assert_allclose(layer.face_color, label_colors)
    np.testing.assert_allclose(layer.face_color[[0, 2, 4]], [animal_color(a) for a in (1, 3, 2)])
    assert len({tuple(color) for color in label_colors}) == 3  # three animals, three colours

    assert layer.selected_data == {4}  # napari selects what was just added
    widget.animal.value = 1
    np.testing.assert_allclose(layer.face_color[4], animal_color(2))  # the selected point keeps its animal
    assert layer.current_face_color == "#e69f00ff" and layer.features["animal"].iloc[4] == 2  # controls: the pen


def test_each_prompts_layer_keeps_its_own_pen(viewer, widget, video):
    first = widget.make_prompts_layer()
    widget.animal.value = 4
    first.add([0, 5, 5])  # an empty layer would be reused by New prompts
    widget.make_prompts_layer()
    assert widget.animal.value == 1
    widget.prompts.value = first
    assert widget.animal.value == 4


def test_the_layer_becomes_engine_prompts_in_pixels_of_the_video(viewer, widget, click):
    video = viewer.add_image(np.zeros((10, 30, 40, 3), np.uint8), rgb=True, scale=(1, 2, 2), translate=(0, 10, 0))
    layer = widget.make_prompts_layer()
    click(layer, (3, 30, 20))  # world coordinates: pixel (10, 10) of the scaled, shifted video
    click(layer, (3, 40, 40), modifiers=["Shift"])
    prompts = prompts_from_layer(layer, video)
    assert prompts.rows() == [(3, 10.0, 10.0, 1, True), (3, 15.0, 20.0, 1, False)]


def test_a_sample_opens_with_its_prompts_in_view_and_ready(viewer, widget):
    viewer.open_sample("napari-sam2-longvideo", "two_mice")
    image, prompts = viewer.layers
    assert image.data.shape == (60, 360, 640, 3) and not isinstance(image.data, np.ndarray)
    assert is_prompts_layer(prompts) and widget.prompts.value is prompts and widget.video.value is image
    assert sorted(set(prompts.features["animal"])) == [1, 2]
    assert viewer.dims.point[0] == prompts.data[:, 0].min()  # the frame the prompts are on
    np.testing.assert_allclose(prompts.face_color, animal_colormap().map(prompts.features["animal"].to_numpy()))
