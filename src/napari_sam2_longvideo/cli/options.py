"""Command-line options built from `TrackSettings`: one option per field, from the field's metadata."""

from __future__ import annotations

import argparse
import dataclasses
import typing

from ..settings import TrackSettings, flag_of, setting_types


def add_setting_options(
    parser: argparse.ArgumentParser, cls=TrackSettings, only=None, aliases: dict | None = None
) -> None:
    """One option per field of ``cls``, from the field's metadata, in a group per backend.

    Options are left out of the parsed arguments unless given (``argparse.SUPPRESS``), so the
    settings' own defaults apply and a caller can tell "not given" from "given the default".
    ``only`` names the fields a command offers (all by default); ``aliases`` maps a field to more
    option strings for it (``segment``'s ``--classes``).
    """
    groups = {
        applies: parser.add_argument_group(title, description)
        for applies, (title, description) in SETTING_GROUPS.items()
    }
    types = setting_types(cls)
    for field in dataclasses.fields(cls):
        if only is not None and field.name not in only:
            continue
        meta = field.metadata
        group = groups[meta.get("applies", "all")]
        kind = types[field.name]
        options = dict(dest=field.name, default=argparse.SUPPRESS, help=_help(field))
        if kind is bool:
            options["action"] = "store_true" if not field.default else argparse.BooleanOptionalAction
        else:
            value_type, many = _value_type(kind)
            metavar = meta.get("metavar") or (None if meta.get("choices") else METAVARS.get(value_type))
            options.update(type=value_type, metavar=metavar, choices=meta.get("choices"))
            if many:
                options["nargs"] = "+"
        group.add_argument(flag_of(field), *(aliases or {}).get(field.name, ()), **options)


SETTING_GROUPS = {
    "all": ("settings for either backend", None),
    "sam2": ("SAM2 backend", "used only with --backend sam2"),
    "contrast": ("contrast backend", "used only with --backend contrast"),
    "detector": (
        "detector (re-anchors drifting animals, finds lost ones)",
        "either backend; used only with --detector, --detections or --train-detector",
    ),
    "link": (
        "box linking (ultralytics' trackers; the defaults are those of their yaml files)",
        "used only with --link bytetrack or botsort",
    ),
}


METAVARS = {int: "N", float: "X"}


def _value_type(kind) -> tuple[type, bool]:
    """``int | None`` -> (int, False); ``list[int] | None`` -> (int, True)."""
    args = [arg for arg in typing.get_args(kind) if arg is not type(None)]
    if args and typing.get_origin(kind) is not list:  # an optional value
        kind = args[0]
    if typing.get_origin(kind) is list:
        return typing.get_args(kind)[0], True
    return kind, False


def _help(field: dataclasses.Field) -> str:
    meta = field.metadata
    text = meta.get("help", "").replace("%", "%%")  # argparse formats help with %
    if field.default is None:
        return f"{text} (default: {meta['none_means']})" if meta.get("none_means") else text
    if field.default is False:
        return text
    return f"{text} (default: {field.default})"


def settings_from_args(args, cls=TrackSettings, check: bool = True) -> TrackSettings:
    """The settings the options give, the rest at their defaults, checked (unless ``check`` is False:
    a batch checks them with each manifest row's own settings, which may complete them)."""
    given = vars(args)
    settings = cls(**{f.name: given[f.name] for f in dataclasses.fields(cls) if f.name in given})
    return settings.validate() if check else settings
