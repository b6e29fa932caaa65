"""Training a YOLO detector on the video's own first frames, labelled by the tracker's masks.

As in SAM2-LongVideo, the first chunk's masks are the training data: a box around each animal's mask,
every frame letterboxed to the detector's image size. One class, "animal": identities are the tracker's
business, never the detector's.
"""

from __future__ import annotations

import logging
import queue
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from ...core.geometry import mask_box
from ...errors import UserInputError
from ...io.run_folder import DETECTOR_TRAINING_DIR
from ..events import DetectorTraining
from .detector import yolo_device

BASE_WEIGHTS = "yolo11n.pt"
BASE_CONFIG = "yolo11n.yaml"


class TrainingCancelled(Exception):
    pass


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, float, int, int]:
    """Scale ``image`` to fit ``size`` x ``size`` keeping its aspect, pad with grey; return the offsets."""
    height, width = image.shape[:2]
    scale = size / max(height, width)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
    pad_x, pad_y = (size - new_w) // 2, (size - new_h) // 2
    canvas = np.full((size, size, 3), 114, np.uint8)  # YOLO's own padding grey
    canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = resized
    return canvas, scale, pad_x, pad_y


def write_training_set(frames, labels_of, frame_indices, animals, folder: Path, size: int) -> Path:
    """Write a YOLO dataset (images, box labels, ``data.yaml``); every fifth frame is for validation.

    ``labels_of(t)`` gives the label image of frame ``t``. Returns the path of ``data.yaml``.
    """
    folder = Path(folder)
    if folder.exists():
        shutil.rmtree(folder)
    for split in ("train", "val"):
        (folder / "images" / split).mkdir(parents=True)
        (folder / "labels" / split).mkdir(parents=True)
    boxes_written = 0
    for i, t in enumerate(frame_indices):
        split = "val" if i % 5 == 4 else "train"
        image, scale, pad_x, pad_y = letterbox(frames.read(t), size)
        labels = labels_of(t)
        lines = []
        for animal in animals:
            box = mask_box(labels == animal)
            if box is None:
                continue
            x0, y0, x1, y1 = box * scale + np.array([pad_x, pad_y, pad_x, pad_y])
            lines.append(f"0 {(x0 + x1) / 2 / size:.6f} {(y0 + y1) / 2 / size:.6f} "
                         f"{(x1 - x0) / size:.6f} {(y1 - y0) / size:.6f}")
        boxes_written += len(lines)
        cv2.imwrite(str(folder / "images" / split / f"{t:07d}.png"), image[..., ::-1])
        (folder / "labels" / split / f"{t:07d}.txt").write_text("".join(line + "\n" for line in lines))
    if boxes_written == 0:
        raise UserInputError(
            "The first frames hold no tracked animal, so there is nothing to train the detector on; "
            "check the prompts, or pass a trained detector with --detector."
        )
    data = folder / "data.yaml"
    data.write_text(f"path: {folder.resolve()}\ntrain: images/train\nval: images/val\nnames:\n  0: animal\n")
    return data


def base_model(search: tuple[Path, ...] = ()) -> str:
    """``yolo11n.pt`` when a copy is on this machine (pretrained starts far better), else its yaml.

    Never a name ultralytics would try to download: that fails offline.
    """
    from ultralytics.utils import SETTINGS

    for folder in (*search, Path.cwd(), Path(SETTINGS.get("weights_dir", "weights"))):
        candidate = Path(folder) / BASE_WEIGHTS
        if candidate.is_file():
            return str(candidate)
    return BASE_CONFIG


def train_detector(
    data: Path, out: Path, *, epochs: int, patience: int, size: int, device, base: str | None = None
) -> Iterator[DetectorTraining]:
    """Train, yielding progress per epoch; on success ``out`` holds the best weights.

    Training runs in a thread so this generator can report (and be stopped) between epochs: closing it
    stops the training at the end of the current batch. The metrics ultralytics writes per epoch are
    copied beside ``out`` as ``<stem>_metrics.csv``.
    """
    from ultralytics import YOLO

    base = base or base_model()
    model = YOLO(base, task="detect")
    events: queue.Queue = queue.Queue()
    stop = threading.Event()
    project = Path(out).parent / DETECTOR_TRAINING_DIR

    def on_epoch_end(trainer):
        events.put(DetectorTraining(trainer.epoch + 1, trainer.epochs))

    def on_batch_end(trainer):
        if stop.is_set():
            raise TrainingCancelled()

    model.add_callback("on_train_epoch_end", on_epoch_end)
    model.add_callback("on_train_batch_end", on_batch_end)
    outcome: dict = {}

    def work():
        from ultralytics.utils import LOGGER

        # ultralytics prints every layer and batch; our progress events replace that
        level = LOGGER.level
        LOGGER.setLevel(logging.WARNING)
        try:
            model.train(
                data=str(data), epochs=epochs, patience=patience, imgsz=size, device=yolo_device(device),
                project=str(project), name="run", exist_ok=True, workers=0, plots=False, verbose=False,
                amp=False,  # the AMP check downloads a model
            )
        except BaseException as error:  # noqa: BLE001 - handed to the generator's thread
            outcome["error"] = error
        finally:
            LOGGER.setLevel(level)
            events.put(None)

    thread = threading.Thread(target=work, name="detector-training", daemon=True)
    thread.start()
    try:
        while (event := events.get()) is not None:
            yield event
    finally:
        stop.set()
        thread.join()
    if "error" in outcome:
        raise outcome["error"]
    weights = project / "run" / "weights"
    best = weights / "best.pt" if (weights / "best.pt").exists() else weights / "last.pt"
    shutil.copyfile(best, out)
    results = project / "run" / "results.csv"
    if results.exists():
        shutil.copyfile(results, Path(out).with_name(Path(out).stem + "_metrics.csv"))
