"""One settings object: every field is a command-line option built from its metadata, and a setting
the run does not use does not stop a resume."""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from napari_sam2_longvideo.cli import add_setting_options, build_parser, settings_from_args
from napari_sam2_longvideo.errors import UserInputError
from napari_sam2_longvideo.io.run_folder import _differences
from napari_sam2_longvideo.settings import APPLIES_TO, TrackSettings, flag_of, setting, setting_types

FIELDS = dataclasses.fields(TrackSettings)
# flags users and scripts rely on (README's option table): they must keep their names
DOCUMENTED_FLAGS = {
    "--backend", "--model", "--sam-version", "--checkpoint", "--random-weights", "--image-size", "--device",
    "--chunk-size", "--prune-window", "--max-frames", "--seed", "--detector", "--detector-conf",
    "--detector-classes", "--detector-imgsz", "--train-detector", "--train-frames", "--detector-epochs",
    "--detector-patience", "--reanchor-iou", "--arena", "--threshold", "--low-threshold", "--min-area", "--detections", "--animals",
    "--link", "--track-high-thresh", "--track-low-thresh", "--new-track-thresh", "--track-buffer", "--match-thresh",
    "--gmc-method", "--overlay",
}


def other_value(field: dataclasses.Field, kind):
    """A value for ``field`` that is not its default, as text for the command line and as parsed."""
    choices = field.metadata.get("choices")
    if choices:
        value = next(choice for choice in choices if choice != field.default)
        return [str(value)], value
    if kind is bool:
        return [], not field.default
    base = [arg for arg in typing.get_args(kind) if arg is not type(None)] or [kind]
    kind = base[0]
    if typing.get_origin(kind) is list:
        return ["3", "5"], [3, 5]
    if kind is int:
        value = (field.default or 0) + 7
        return [str(value)], value
    if kind is float:
        value = (field.default or 0) + 0.25
        return [str(value)], value
    return ["some-value"], "some-value"


def parse(*args: str) -> argparse.Namespace:
    return build_parser().parse_args(["track", "v.mp4", "--prompts", "p.csv", "--out", "o", *args])


def test_every_setting_is_an_option_under_its_documented_name_with_help():
    parser = build_parser()
    track = parser._subparsers._group_actions[0].choices["track"]
    options = {action.dest: action for action in track._actions}
    for field in FIELDS:
        assert field.name in options, f"{field.name} has no command-line option"
        assert options[field.name].option_strings == [flag_of(field)]
        assert field.metadata["help"] and field.metadata["applies"] in APPLIES_TO
    assert {flag_of(field) for field in FIELDS} == DOCUMENTED_FLAGS


@pytest.mark.parametrize("field", FIELDS, ids=lambda field: field.name)
def test_each_flag_sets_its_field_and_nothing_else(field):
    text, value = other_value(field, setting_types()[field.name])
    given = vars(parse(flag_of(field), *text))
    settings = TrackSettings(**{f.name: given[f.name] for f in FIELDS if f.name in given})
    assert getattr(settings, field.name) == value
    assert dataclasses.replace(settings, **{field.name: field.default}) == TrackSettings()


def test_no_flags_give_the_default_settings_and_sample_takes_the_same_options():
    assert settings_from_args(parse()) == TrackSettings()
    sample = build_parser().parse_args(["sample", "--out", "o", "--backend", "contrast", "--threshold", "30"])
    assert settings_from_args(sample) == TrackSettings(backend="contrast", threshold=30.0)


def test_a_setting_added_to_the_dataclass_is_an_option_with_no_other_edit():
    """What "one edit" means: a new field with its metadata parses, shows in --help, and is used."""
    @dataclasses.dataclass
    class WithSmoothing(TrackSettings):
        smoothing: float = setting(0.0, "how much to smooth the outline", applies="contrast")
        fill_holes: bool = setting(True, "fill holes in masks", applies="sam2")
        kernel: str = setting("box", "smoothing kernel", applies="contrast", choices=("box", "disk"))

    parser = argparse.ArgumentParser(formatter_class=lambda prog: argparse.HelpFormatter(prog, width=200))
    add_setting_options(parser, WithSmoothing)
    args = parser.parse_args(["--backend", "contrast", "--smoothing", "1.5", "--no-fill-holes"])
    settings = settings_from_args(args, WithSmoothing)
    assert settings.smoothing == 1.5 and settings.fill_holes is False
    assert "smoothing" in settings.result_defining() and "fill_holes" not in settings.result_defining()
    with pytest.raises(UserInputError, match="Unknown kernel 'ring'; choose one of box, disk"):
        WithSmoothing(kernel="ring").validate()
    with pytest.raises(SystemExit):
        parser.parse_args(["--kernel", "ring"])
    help_text = parser.format_help()
    contrast_part = help_text[help_text.index("contrast backend:"):]
    assert re.search(r"\n  --smoothing X +how much to smooth the outline \(default: 0.0\)", contrast_part)
    sam2_part = help_text[help_text.index("SAM2 backend:"):help_text.index("contrast backend:")]
    assert "--fill-holes, --no-fill-holes" in sam2_part


def test_help_groups_the_options_by_backend_and_shows_defaults():
    done = subprocess.run(
        [str(Path(sys.executable).with_name("sam2-longvideo")), "track", "--help"],
        capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 0, done.stderr
    text = done.stdout
    sam2, contrast, detector = (text.index(title) for title in ("SAM2 backend:", "contrast backend:", "detector ("))
    assert sam2 < text.index("\n  --model") < contrast and sam2 < text.index("\n  --image-size") < contrast
    assert contrast < text.index("\n  --threshold") < detector < text.index("\n  --detector-conf")
    assert "used only with --backend contrast" in text
    assert "used only with --detector, --detections or --train-detector" in text
    assert text.index("box linking (") < text.index("\n  --track-buffer") and "used only with --link bytetrack" in text
    assert "frames per chunk: the unit of memory, saving and resuming (default: 100)" in text
    assert "--max-frames N" in text and "(default: all)" in text


def differences(before: TrackSettings, now: TrackSettings) -> list[str]:
    video, prompts = {"path": "v.mp4"}, "abc"
    earlier = {"video": video, "prompts": {"sha256": prompts}, "settings": before.to_dict()}
    return _differences(earlier, video, prompts, now)


def test_settings_the_run_does_not_read_do_not_stop_a_resume():
    contrast = TrackSettings(backend="contrast")
    assert differences(contrast, dataclasses.replace(contrast, model="large", image_size=512, seed=3)) == []
    assert differences(contrast, dataclasses.replace(contrast, device="cpu")) == []
    sam2 = TrackSettings()
    assert differences(sam2, dataclasses.replace(sam2, threshold=30.0, min_area=50)) == []
    # without a detector its options change nothing
    assert differences(sam2, dataclasses.replace(sam2, detector_conf=0.2, train_frames=50)) == []


def test_settings_the_run_reads_still_stop_a_resume():
    contrast = TrackSettings(backend="contrast")
    assert differences(contrast, dataclasses.replace(contrast, threshold=30.0)) == [
        "other settings (threshold None -> 30.0)"
    ]
    assert differences(TrackSettings(), TrackSettings(image_size=512)) == ["other settings (image_size 1024 -> 512)"]
    assert differences(contrast, TrackSettings()) == ["other settings (backend 'contrast' -> 'sam2')"]
    trained = TrackSettings(train_detector=True)
    assert differences(trained, dataclasses.replace(trained, detector_conf=0.2)) == [
        "other settings (detector_conf 0.5 -> 0.2)"
    ]
    # a detector dropped since the earlier run: the earlier run read it, so it counts
    assert differences(trained, TrackSettings()) == ["other settings (train_detector True -> False)"]
