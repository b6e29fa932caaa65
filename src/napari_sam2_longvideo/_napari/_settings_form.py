"""A form built from `TrackSettings`' fields: the widget offers exactly the command line's settings.

Every field gets a widget, its tooltip and choices from the field's metadata (as ``--help`` has them),
and a section. ``FIELD_FORMS`` says how fields look where a plain widget would not do (files, "0 means
automatic", labels); a field added to the settings later still appears, with a drop-down for its
choices or the widget magicgui picks from its type, in its backend's section or under "More settings".
"""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    FloatSpinBox,
    LineEdit,
    SpinBox,
    create_widget,
)

from ..errors import UserInputError
from ..settings import BACKENDS, MIN_PRUNE_WINDOW, TrackSettings

SECTION_TITLES = {
    "tracking": "Tracking",
    "more": "More settings",
    "detector": "Detector (finds lost animals)",
    "contrast": "Contrast backend",
    "testing": "Advanced / testing",
}


def _same(value):
    return value


def _none_if_blank(value):
    """0 and "" stand for None: no limit, automatic, no file."""
    return value or None


def _zero_if_none(value):
    return value or 0


def _class_list(text: str) -> list[int] | None:
    if not text.strip():
        return None
    try:
        return [int(part) for part in re.split(r"[,\s]+", text.strip())]
    except ValueError:
        raise UserInputError(
            f"Detector classes {text!r}: give class numbers separated by spaces, for example '0 2'."
        ) from None


@dataclass(frozen=True)
class FieldForm:
    """How one setting appears: ``make(value=..., label=..., tooltip=...)`` and the conversions."""

    section: str
    make: Callable
    label: str | None = None
    to_setting: Callable = _same
    to_widget: Callable = _same


def _zero_means(meaning: str, make: Callable, section: str, label: str) -> FieldForm:
    """A number field where 0 stands for None (magicgui's spin boxes cannot show a word instead)."""
    return FieldForm(section, make, f"{label} (0: {meaning})", _none_if_blank, _zero_if_none)


def _file(section: str, label: str) -> FieldForm:
    return FieldForm(section, partial(FileEdit, mode="r", filter="*.pt", nullable=True), label)


FIELD_FORMS: dict[str, FieldForm] = {
    "backend": FieldForm("tracking", ComboBox),
    "model": FieldForm("tracking", ComboBox, "SAM2 model"),
    "checkpoint": _file("tracking", "checkpoint file"),
    "chunk_size": FieldForm("tracking", partial(SpinBox, min=2, max=1_000_000, step=10)),
    "sam_version": FieldForm("more", ComboBox, "SAM version"),
    "image_size": FieldForm("more", partial(SpinBox, min=64, max=4096, step=16)),
    "device": FieldForm("more", ComboBox),
    "prune_window": FieldForm("more", partial(SpinBox, min=MIN_PRUNE_WINDOW, max=100_000)),
    "max_frames": _zero_means("all", partial(SpinBox, min=0, max=10**9), "more", "max. frames"),
    "detector": _file("detector", "YOLO model"),
    "detections": _file("detector", "boxes CSV"),
    "animals": _zero_means("as prompted", partial(SpinBox, min=0, max=65535), "detector", "animals"),
    "detector_conf": FieldForm("detector", partial(FloatSpinBox, min=0.01, max=0.99, step=0.05), "min. confidence"),
    "detector_classes": FieldForm(
        "detector", LineEdit, "classes", _class_list, lambda v: " ".join(map(str, v or ()))
    ),
    "detector_imgsz": FieldForm("detector", partial(SpinBox, min=32, max=4096, step=32), "image size"),
    "train_detector": FieldForm("detector", CheckBox, "train one on the first frames"),
    "train_frames": FieldForm("detector", partial(SpinBox, min=5, max=1_000_000), "training frames"),
    "detector_epochs": FieldForm("detector", partial(SpinBox, min=1, max=1000), "epochs"),
    "detector_patience": FieldForm("detector", partial(SpinBox, min=1, max=1000), "patience"),
    "reanchor_iou": FieldForm("detector", partial(FloatSpinBox, min=0.0, max=1.0, step=0.05), "re-anchor IoU"),
    "arena": FieldForm("contrast", LineEdit, "arena", _none_if_blank, lambda v: v or ""),
    "threshold": _zero_means("automatic", partial(FloatSpinBox, min=0, max=254, step=1), "contrast", "threshold"),
    "low_threshold": _zero_means(
        "automatic", partial(FloatSpinBox, min=0, max=254, step=1), "contrast", "low threshold"
    ),
    "min_area": _zero_means("automatic", partial(SpinBox, min=0, max=10**8), "contrast", "min. area"),
    "overlay": FieldForm(
        "more", partial(FileEdit, mode="w", filter="*.mp4", nullable=True), "overlay video", _none_if_blank
    ),
    "random_weights": FieldForm("testing", CheckBox, "random weights: meaningless masks"),
    "seed": FieldForm("testing", SpinBox, "seed of random weights"),
}

# Settings only one backend reads; the other backend's are greyed out so nobody tunes them in vain.
BACKEND_FIELDS = {
    backend: tuple(f.name for f in dataclasses.fields(TrackSettings) if f.metadata.get("applies") == backend)
    for backend in BACKENDS
}
# where a setting with no entry in FIELD_FORMS goes
DEFAULT_SECTIONS = {"contrast": "contrast", "detector": "detector"}


class SettingsForm:
    """magicgui widgets for every `TrackSettings` field, grouped into ``sections`` (Containers).

    Parameters
    ----------
    defaults : TrackSettings, optional
        The values the form starts with.
    """

    def __init__(self, defaults: TrackSettings | None = None):
        defaults = defaults or TrackSettings()
        hints = typing.get_type_hints(TrackSettings)
        self.forms: dict[str, FieldForm] = {}
        self.widgets = {}
        self.sections = {name: Container(labels=True) for name in SECTION_TITLES}
        for setting in dataclasses.fields(TrackSettings):
            meta = setting.metadata
            form = FIELD_FORMS.get(setting.name) or _default_form(meta, hints[setting.name])
            label = form.label or setting.name.replace("_", " ")
            choices = {"choices": meta["choices"]} if meta.get("choices") else {}
            widget = form.make(value=form.to_widget(getattr(defaults, setting.name)), label=label,
                               tooltip=_tooltip(meta), **choices)
            self.forms[setting.name], self.widgets[setting.name] = form, widget
            self.sections[form.section].append(widget)
        self.widgets["backend"].changed.connect(self._enable_backend_fields)
        self._enable_backend_fields(self.widgets["backend"].value)

    def _enable_backend_fields(self, backend: str) -> None:
        for owner, names in BACKEND_FIELDS.items():
            for name in names:
                self.widgets[name].enabled = owner == backend

    def settings(self) -> TrackSettings:
        """The settings the form shows, checked.

        Raises
        ------
        UserInputError
            Naming the first setting that is not usable.
        """
        values = {name: self.forms[name].to_setting(widget.value) for name, widget in self.widgets.items()}
        for name in ("checkpoint", "detector", "detections", "overlay"):
            values[name] = str(values[name]) if values[name] else None
        return TrackSettings(**values).validate()

    def show(self, settings: TrackSettings) -> None:
        """Put ``settings`` in the form (a resumed run's, for example)."""
        for name, widget in self.widgets.items():
            widget.value = self.forms[name].to_widget(getattr(settings, name))


def _default_form(meta, annotation) -> FieldForm:
    """How a setting with no entry in ``FIELD_FORMS`` looks: a drop-down for choices, else by its type."""
    section = DEFAULT_SECTIONS.get(meta.get("applies"), "more")
    return FieldForm(section, ComboBox if meta.get("choices") else partial(_plain_widget, annotation))


def _tooltip(meta) -> str | None:
    """The ``--help`` sentence, and what an empty value means."""
    text = meta.get("help")
    if not text:
        return None
    unset = f" When not set: {meta['none_means']}." if meta.get("none_means") else ""
    return f"{text[:1].upper()}{text[1:]}.{unset}"


def _plain_widget(annotation, value, label: str, tooltip: str | None):
    """The widget magicgui picks for a setting's type (a field added after this form was written)."""
    return create_widget(value=value, annotation=annotation, label=label, options={"tooltip": tooltip})
