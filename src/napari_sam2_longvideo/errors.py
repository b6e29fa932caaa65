"""Errors a user can cause, each with a message that says what went wrong and what to do.

The command line prints these without a traceback; the napari widget shows them as notifications.
Anything else that escapes is a bug in this package.
"""


class UserInputError(Exception):
    """Bad input from the user: a path, a prompt, a setting. The message names it and the fix.

    Parameters
    ----------
    message : str
        The message, in the command line's words (its options: ``--overwrite``, ``--out``).
    gui : str, optional
        The same message in the napari widget's words (its controls: "tick *start over*"), where the
        two differ by more than the names of the settings.
    """

    def __init__(self, message: str = "", *args, gui: str | None = None):
        super().__init__(message, *args)
        self.gui = gui


class FrameIndexError(UserInputError, IndexError):
    """A frame number outside the video.

    An `IndexError` too, so that a frame source follows Python's sequence rules (``list(frames)`` and
    ``for frame in frames`` end at the last frame), while callers that report user errors still catch it.
    """


class FolderInUseError(UserInputError):
    """Another run holds the output folder; the message names the folder and the holder."""


class FrameReadError(UserInputError):
    """A frame of the video could not be decoded.

    Parameters
    ----------
    path : str
        The video, folder or stack being read.
    frame : int
        Index of the frame (0-based) that failed.
    reason : str
        What the decoder said.
    """

    def __init__(self, path: str, frame: int, reason: str):
        self.path = str(path)
        self.frame = int(frame)
        self.reason = reason
        super().__init__(
            f"Could not decode frame {frame} of {path}: {reason}. "
            "Re-encode the video (for example `ffmpeg -i in.mp4 -c:v libx264 out.mp4`) "
            "or cut it before this frame; finished chunks are kept and the run resumes."
        )

    def __reduce__(self):
        # rebuilt from its parts when it crosses to another process (the contrast backend's blob finder)
        return type(self), (self.path, self.frame, self.reason)
