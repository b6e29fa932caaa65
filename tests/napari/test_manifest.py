"""The npe2 manifest: valid, every command imports, and the widget offers every setting."""

from __future__ import annotations

import dataclasses

import npe2

from napari_sam2_longvideo.settings import BACKENDS, MODEL_SIZES, TrackSettings

PLUGIN = "napari-sam2-longvideo"


def test_the_manifest_is_valid_and_every_python_name_imports():
    manifest = npe2.PluginManifest.from_distribution(PLUGIN)
    manifest.validate_imports()
    assert {command.python_name.split(":")[0] for command in manifest.contributions.commands} == {
        "napari_sam2_longvideo._napari._reader",
        "napari_sam2_longvideo._napari._writer",
        "napari_sam2_longvideo._napari._track_widget",
        "napari_sam2_longvideo._napari._review_panel",
        "napari_sam2_longvideo._napari._segment_widget",
        "napari_sam2_longvideo._napari._sample_data",
    }
    assert [widget.display_name for widget in manifest.contributions.widgets] == [
        "Track animals", "Review and correct", "Segment with detector",
    ]
    assert {sample.key for sample in manifest.contributions.sample_data} == {"two_mice", "generated_clip"}


def test_the_widget_form_offers_every_setting_of_the_command_line(widget):
    assert set(widget.form.widgets) == {field.name for field in dataclasses.fields(TrackSettings)}
    assert tuple(widget.form.widgets["backend"].choices) == BACKENDS
    assert tuple(widget.form.widgets["model"].choices) == MODEL_SIZES
    assert "meaningless" in widget.form.widgets["random_weights"].label
    assert widget.form.widgets["random_weights"] in widget.form.sections["testing"]  # "Advanced / testing"
    assert widget.settings() == TrackSettings()
