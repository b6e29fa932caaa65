"""The engine's messages in the widget's words: its controls, never the command line's options.

A `UserInputError` may carry its own widget wording (``gui``); otherwise the command-line phrases are
put as the form names them: "pass --overwrite" becomes "tick 'start over'", ``--chunk-size`` the
form's 'chunk size'.
"""

from __future__ import annotations

import re

# whole phrases first: "Pass 'start over' to start over" would read oddly
PHRASES = (
    (r"\b[Pp]ass --overwrite to start (?:the run )?over", "tick 'start over' to start over"),
    (r"\b[Rr]e-run with --overwrite to track again", "tick 'start over' and press Track to track again"),
    (r"\bre-run with --overwrite", "tick 'start over' and press Track"),
    (r"\b[Rr]un the same command again to resume", "press Track to resume"),
    (r"choose another --out", "choose another output folder"),
    (r"with --out\b", "as 'output folder'"),
)
CONTROLS = {"--overwrite": "start over", "--out": "output folder", "--prompts": "prompts"}


def gui_message(error: Exception, widgets: dict) -> str:
    """``error``'s message as the widget shows it; ``widgets`` are the form's, by setting name."""
    message = getattr(error, "gui", None) or str(error)
    for pattern, words in PHRASES:
        message = re.sub(pattern, words, message)
    labels = {f"--{name.replace('_', '-')}": widget.label for name, widget in widgets.items()}
    labels.update(CONTROLS)
    return re.sub(
        r"(--[a-z][a-z-]*)(?: [A-Z]+\b)?",  # "--checkpoint PATH" -> 'checkpoint file'
        lambda match: f"'{labels[match[1]]}'" if match[1] in labels else match[0], message,
    )
