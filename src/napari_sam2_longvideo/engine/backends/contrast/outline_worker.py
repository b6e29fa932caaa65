"""Blob outlines of the coming frames, found in a second process while this one tracks.

Finding a frame's blobs (decoding it, comparing it with the floor, tracing outlines) is a string of short
calls into FFmpeg, OpenCV and numpy. In a thread, each call that hands back the interpreter lock has to
wait for the tracking thread's Python to let go of it again: measured, a read-ahead thread was no faster
than doing the work in turn. A process has an interpreter of its own. It opens the same video itself and
sends back only the outlines, a few kilobytes a frame; this process draws the blobs from them
(`blobs.blobs_from_outlines`), which gives exactly the blobs `blobs.find_blobs` would.

The worker serves one *job* at a time: a list of frames in the order they will be asked for. A new job
abandons the one before (a session stopped early); results of abandoned jobs are thrown away here.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import sys
import threading
import time
import types
import weakref

import numpy as np

from ....errors import UserInputError
from .blobs import find_outlines
from .floor import FloorModel

AHEAD = 8  # frames the worker may run ahead of the tracker: enough to never wait, little memory
POLL_SECONDS = 1.0  # how often a wait for the worker checks that it is still alive
SETTLE_SECONDS = 2.0  # how long a closing worker may take to finish its frame before it is stopped


class OutlineWorker:
    """A process that finds blob outlines for the frames it is asked for.

    Parameters
    ----------
    reopen : callable
        Opens the video in the worker (`FrameSource.reopener`).

    Notes
    -----
    The process is started with "spawn", which is safe beside the threads of FFmpeg, Qt and napari, and
    lives until `close` (or until this object is collected, or this process exits). It is started
    without the caller's main module (`_without_callers_main`), so a script or notebook that calls the
    engine needs no ``if __name__ == "__main__":`` guard.
    """

    def __init__(self, reopen):
        context = multiprocessing.get_context("spawn")
        self._requests = context.Queue()
        self._results = context.Queue(maxsize=AHEAD)
        self._process = context.Process(
            target=_serve, args=(reopen, self._requests, self._results), name="contrast-outlines", daemon=True
        )
        with _without_callers_main():
            self._process.start()
        self._job = 0
        self._finalizer = weakref.finalize(self, _stop, self._process, self._requests, self._results)

    def start(self, frames_in_order, floor: FloorModel, arena, arena_area: int, min_area: int) -> OutlineJob:
        """Begin finding the outlines of ``frames_in_order``; earlier jobs are abandoned."""
        self._job += 1
        self._requests.put((self._job, list(frames_in_order), floor, arena, arena_area, min_area))
        return OutlineJob(self, self._job)

    def receive(self):
        """The next result the worker sent: ``(job, frame, outlines, error)``."""
        while True:
            try:
                return self._results.get(timeout=POLL_SECONDS)
            except queue.Empty:
                if not self._process.is_alive():
                    raise RuntimeError(
                        f"The process that finds the contrast backend's blobs ended unexpectedly (exit code "
                        f"{self._process.exitcode}). Finished chunks are kept; run again to resume."
                    ) from None

    def close(self) -> None:
        self._finalizer()


class OutlineJob:
    """The outlines of one job's frames, asked for in the job's order (frames may be skipped)."""

    def __init__(self, worker: OutlineWorker, job: int):
        self.worker, self.job = worker, job

    def get(self, frame: int) -> list[np.ndarray]:
        """The outlines on ``frame``; raises the error reading it raised in the worker."""
        while True:
            job, found, outlines, error = self.worker.receive()
            if job == "failed":
                raise error
            if job != self.job or found != frame:
                continue  # an abandoned job's, or a frame the caller did not need
            if error is not None:
                raise error
            return outlines


_STARTING = threading.Lock()  # the stand-in main module is this process's for the moment of a start


@contextlib.contextmanager
def _without_callers_main():
    """Start a process as if ``__main__`` were an empty module.

    "spawn" runs the parent's main script (or ``-m`` module) again in the child, to make its functions
    importable there. The worker needs nothing from it, and a script without a ``__main__`` guard would
    run its whole body a second time: open a second viewer, or delete the output folder it is tracking
    into. For the moment of ``Process.start`` (which is when spawn looks), ``__main__`` is a module with
    neither a file nor a spec, which spawn does not re-run.
    """
    with _STARTING:
        callers = sys.modules["__main__"]
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            yield
        finally:
            sys.modules["__main__"] = callers


def _serve(reopen, requests, results) -> None:
    """The worker's loop: open the video, then answer jobs until told to stop (None).

    Every wait (for a job, or for room to send a result) also watches the tracking process: if that
    one was killed, nobody will ever send a stop or read a result, and the worker ends instead of
    lingering with the video open.
    """
    parent = multiprocessing.parent_process()
    try:
        frames = reopen()
    except Exception as error:  # noqa: BLE001 - whatever it was, the tracker must hear of it
        _send(results, ("failed", None, None, _sendable(error)), parent)
        sys.exit(1)  # not 0, which says that every request was read (see `_stop`)
    request = _next_request(requests, parent)
    while request is not None:
        job, order, floor, arena, arena_area, min_area = request
        request = None
        for frame in order:
            if not requests.empty():
                break  # a newer job (or stop) came: this one was abandoned
            try:
                outlines, error = find_outlines(frames.read_grey(frame), floor, arena, arena_area, min_area), None
            except Exception as raised:  # noqa: BLE001 - sent on, and raised where the frame is asked for
                outlines, error = None, _sendable(raised)
            _send(results, (job, frame, outlines, error), parent)
        request = _next_request(requests, parent)
    frames.close()
    # Everything it sent is through the pipe now; ending here skips unloading numpy, OpenCV and FFmpeg
    # module by module (40 ms, which the tracking process would wait for at the end of every run).
    results.close()
    results.join_thread()
    os._exit(0)


def _next_request(requests, parent):
    """The next job (or None, stop), waiting as long as the tracking process lives."""
    while True:
        try:
            return requests.get(timeout=POLL_SECONDS)
        except queue.Empty:
            _end_if_orphaned(parent)


def _send(results, item, parent) -> None:
    """Put ``item`` on the results queue, waiting for room as long as the tracking process lives."""
    while True:
        try:
            return results.put(item, timeout=POLL_SECONDS)
        except queue.Full:
            _end_if_orphaned(parent)


def _end_if_orphaned(parent) -> None:
    if parent is not None and not parent.is_alive():
        os._exit(3)  # no one is left to tell; the queues' threads would only wait on dead pipes


def _sendable(error: Exception) -> Exception:
    """``error`` if it survives pickling (this package's errors do), else a RuntimeError saying what it was."""
    if isinstance(error, UserInputError):
        return error
    return RuntimeError(f"The contrast backend's blob finder failed: {type(error).__name__}: {error}")


def _stop(process, requests, results) -> None:
    """Ask the worker to stop; take whatever it still sends, so that it is never stuck sending it."""
    if process.is_alive():
        requests.put(None)
    deadline = time.monotonic() + SETTLE_SECONDS
    while process.is_alive() and time.monotonic() < deadline:
        try:
            while True:
                results.get_nowait()
        except queue.Empty:
            pass
        process.join(timeout=0.05)  # returns as soon as it ends: a run's last 50 ms are not spent waiting
    if process.is_alive():
        process.terminate()
    process.join()
    if process.exitcode == 0:
        # It read every request, the stop included: the thread that sent them ends now. Left to
        # end on its own, it could still be dropping the queue's semaphores while this process exits,
        # and Python then warns of "leaked semaphore objects" (seen in 2 of 8 runs of the command).
        requests.close()
        requests.join_thread()
    else:
        # A request the process never read (it failed to start, or was killed) would otherwise hold
        # this process at exit for ever: its queue waits to finish writing into a pipe no one reads.
        requests.cancel_join_thread()
