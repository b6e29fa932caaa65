"""COCO instance segmentation: every frame an image, every animal in it an annotation with its mask as RLE.

Masks are COCO's compressed RLE (``pycocotools.mask.encode``), so ``pycocotools.coco.COCO`` loads the
file and ``annToMask`` or ``mask.decode`` gives each mask back. One category, ``animal``; which animal
is each annotation's ``track_id`` (and ``animal``), as in video instance segmentation sets. Frames where
an animal is lost have no annotation for it. ``file_name`` is the frame's name in a folder of frames
extracted from the video (``frame_000000.png`` ...); ``frame`` and ``time_s`` say which frame it is.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

from .run_data import SOFTWARE, RunData

CATEGORY_ID = 1


def write_coco(run: RunData, folder: Path) -> list[Path]:
    path = folder / f"{run.name}_coco.json"
    store = run.labels()
    images, annotations = [], []
    for start in range(0, store.shape[0], store.block_length):
        block = np.asarray(store[start : start + store.block_length])
        for offset, labels in enumerate(block):
            frame = start + offset
            images.append(_image(run, frame))
            for i, animal in enumerate(run.animals):
                mask = np.asfortranarray(labels == animal, dtype=np.uint8)
                if not mask.any():
                    continue
                rle = mask_utils.encode(mask)
                annotations.append({
                    "id": len(annotations) + 1, "image_id": frame + 1, "category_id": CATEGORY_ID,
                    "segmentation": {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")},
                    "area": int(mask_utils.area(rle)), "bbox": [float(v) for v in mask_utils.toBbox(rle)],
                    "iscrowd": 0, "track_id": animal, "animal": animal, "score": _number(run.score[frame, i]),
                })
    document = {
        "info": {"description": f"{run.name}: animal masks tracked with {SOFTWARE}", "video": run.video_path},
        "images": images,
        "annotations": annotations,
        "categories": [{"id": CATEGORY_ID, "name": "animal", "supercategory": "animal"}],
        "tracks": [{"id": animal, "name": name, "category_id": CATEGORY_ID}
                   for animal, name in zip(run.animals, run.animal_names)],
    }
    path.write_text(json.dumps(document))
    return [path]


def _image(run: RunData, frame: int) -> dict:
    return {
        "id": frame + 1, "file_name": f"frame_{frame:06d}.png", "width": run.width, "height": run.height,
        "frame": frame, "time_s": None if run.times_s is None else float(run.times_s[frame]),
    }


def _number(value: float):
    return None if np.isnan(value) else float(value)
