"""How a run finds its animals: the user's clicks, or a detector (its boxes linked by a tracker, or
prompting the segmenter at the start and re-anchoring it at each chunk).

The three modes are views of the settings the command line takes (``--link``, ``--detector`` /
``--detections``, ``--animals``, ``--prompts``); the mode chooser keeps the form's ``link`` in step and
says what each mode still needs, in the widget's words.
"""

from __future__ import annotations

from magicgui.widgets import ComboBox

from ..errors import UserInputError
from ..settings import TrackSettings

CLICKS, LINKED, DETECTOR_PROMPTED = "clicks", "linked", "detector"
MODE_CHOICES = [
    ("clicks on each animal", CLICKS),
    ("detector + tracker (no clicks)", LINKED),
    ("detector-prompted segmentation (no clicks)", DETECTOR_PROMPTED),
]
MODE_HELP = {
    CLICKS: "Click each animal once in the prompts layer; a detector (under Detector) is optional.",
    LINKED: "A YOLO model or a boxes CSV (under Detector) finds the animals on every frame; a tracker "
    "links its boxes ('link', bytetrack or botsort) and each box prompts the segmenter.",
    DETECTOR_PROMPTED: "A YOLO model or a boxes CSV (under Detector) finds the animals on the first frame "
    "where it sees all of them; the segmenter tracks them from there, re-anchored at each chunk.",
}


class ModeChooser(ComboBox):
    """The mode drop-down, bound to a `SettingsForm` (its ``link`` follows the mode and the other way)."""

    def __init__(self, form):
        super().__init__(label="animals from", choices=MODE_CHOICES, value=CLICKS,
                         tooltip="how the run finds the animals")
        self.form = form
        self.changed.connect(self._set_link)
        form.widgets["link"].changed.connect(self._follow_link)

    def _set_link(self, mode: str) -> None:
        link = self.form.widgets["link"]
        if mode == LINKED and link.value == "none":
            link.value = "bytetrack"
        elif mode != LINKED and link.value != "none":
            link.value = "none"

    def _follow_link(self, link: str) -> None:
        if link != "none":
            self.value = LINKED
        elif self.value == LINKED:
            self.value = CLICKS

    def show_run(self, settings: TrackSettings, prompted: bool) -> None:
        """The mode of a run with ``settings`` (``prompted``: it had clicks)."""
        if settings.link != "none":
            self.value = LINKED
        elif not prompted and settings.animals and (settings.detector or settings.detections):
            self.value = DETECTOR_PROMPTED
        else:
            self.value = CLICKS

    @property
    def uses_clicks(self) -> bool:
        return self.value == CLICKS

    def check(self) -> None:
        """What a detector mode still lacks, as the form names it.

        Raises
        ------
        UserInputError
            Before the settings' own checks, whose words are the command line's.
        """
        if self.value == CLICKS:
            return
        widgets = self.form.widgets
        name = dict((value, label) for label, value in MODE_CHOICES)[self.value]
        if not (widgets["detector"].value or widgets["detections"].value) or widgets["train_detector"].value:
            raise UserInputError(
                f"'{name}' needs a detector: choose a 'YOLO model' file or a 'boxes CSV' under Detector "
                "(and untick 'train one on the first frames': that needs clicks)."
            )
        if not widgets["animals"].value:
            raise UserInputError(
                f"'{name}' needs to know how many animals the video holds: set 'animals' under Detector."
            )
