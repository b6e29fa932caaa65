"""The widget's settings form reads each setting's help, choices and backend from `TrackSettings`."""

from __future__ import annotations

import dataclasses

from napari_sam2_longvideo.settings import TrackSettings


def test_tooltips_and_choices_are_the_command_lines(widget):
    for field in dataclasses.fields(TrackSettings):
        shown = widget.form.widgets[field.name]
        help_text = field.metadata["help"]
        assert shown.tooltip.lower().startswith(help_text.lower()), field.name
        if field.metadata.get("choices"):
            assert tuple(shown.choices) == field.metadata["choices"], field.name
    assert "When not set: automatic" in widget.form.widgets["threshold"].tooltip


def test_the_other_backends_settings_are_greyed_out(widget):
    widgets, by_backend = widget.form.widgets, {}
    for field in dataclasses.fields(TrackSettings):
        by_backend.setdefault(field.metadata["applies"], []).append(widgets[field.name])
    for backend, other in (("contrast", "sam2"), ("sam2", "contrast")):
        widgets["backend"].value = backend
        assert all(w.enabled for w in by_backend[backend]) and not any(w.enabled for w in by_backend[other])
        assert all(w.enabled for w in by_backend["all"] + by_backend["detector"])
