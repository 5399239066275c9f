"""Synthetic training sets for the plate models, rendered on the fly by :mod:`models.plates.render`.

Rendering is the slow part on a CPU, so a set is rendered once per training run, in parallel worker
processes with their own seeds, kept in memory as uint8 arrays already prepared exactly as the runtime
prepares its inputs (:mod:`edge.plates.preprocess`), and optionally cached on disk under ``var/``
(never committed: it is rebuilt bit for bit from the seed).
"""

from __future__ import annotations

import multiprocessing as mp
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.plates.grammar import ALPHABET, LAYOUT_BY_NAME, LAYOUTS
from edge.plates.preprocess import (
    RECOGNISER_SIZE,
    classifier_input,
    province_input,
    recogniser_input,
    suffix_input,
)

LAYOUT_INDEX = {layout.name: i for i, layout in enumerate(LAYOUTS)}
CHAR_INDEX = {ch: i for i, ch in enumerate(ALPHABET)}
MAX_CHARS = 8


@dataclass
class CropSet:
    recogniser: np.ndarray  # N, 32, 96, 3 uint8 (BGR)
    classifier: np.ndarray  # N, 32, 64, 3 uint8
    labels: np.ndarray  # N, MAX_CHARS int64, 0-padded (0 is the CTC blank)
    lengths: np.ndarray  # N int64
    layouts: np.ndarray  # N int64 index into LAYOUTS
    texts: list[str]
    province: np.ndarray  # N, 40, 32, 3 uint8: the province classifier's input
    suffix: np.ndarray  # N, 40, 32, 3 uint8: the suffix classifier's input

    def __len__(self) -> int:
        return len(self.texts)


_worker: dict[str, Any] = {}  # the renderer of this worker process


def _render_chunk(
    args: tuple[int, int, str | None, float, float, bool],
) -> tuple[np.ndarray, np.ndarray, list[str], list[str], np.ndarray, np.ndarray]:
    seed, count, layout, mild_share, warp_share, extra_fonts = args
    if _worker.get("extra_fonts") != extra_fonts:
        import cv2

        from models.plates.render import PlateRenderer

        cv2.setNumThreads(1)  # the pool already uses every core

        _worker["renderer"] = PlateRenderer(extra_fonts=extra_fonts)
        _worker["extra_fonts"] = extra_fonts
    renderer = _worker["renderer"]
    rng = np.random.default_rng(seed)
    # A stream of its own decides which crops are mild, so a share of 0 renders the same set as before.
    mild = np.random.default_rng([seed, 1]).random(count) < mild_share
    warp = np.random.default_rng([seed, 2]).random(count) < warp_share  # likewise
    rec, cls, texts, layouts, province, suffix = [], [], [], [], [], []
    for index in range(count):
        crop, text, name = renderer.crop_sample(
            rng, layout=layout, mild=bool(mild[index]), warp=bool(warp[index])
        )
        rows = LAYOUT_BY_NAME[name].rows
        rec.append(recogniser_input(crop, rows))
        cls.append(classifier_input(crop))
        province.append(province_input(crop, rows))
        suffix.append(suffix_input(crop, rows))
        texts.append(text)
        layouts.append(name)
    return np.stack(rec), np.stack(cls), texts, layouts, np.stack(province), np.stack(suffix)


def render_crops(
    count: int,
    seed: int,
    workers: int = 2,
    layout: str | None = None,
    chunk: int = 500,
    mild_share: float = 0.0,
    warp_share: float = 0.0,
    extra_fonts: bool = False,
) -> CropSet:
    """``count`` augmented crops; the same ``seed`` gives the same set whatever ``workers`` is.

    ``mild_share`` of them (at random) are rendered with ``crop_sample(mild=True)``: legible crops;
    ``warp_share`` (drawn independently) with ``crop_sample(warp=True)``: Chinese characters warped;
    ``extra_fonts``: Chinese characters drawn from ``PlateRenderer(extra_fonts=True)``'s larger font set.
    """
    jobs = [
        (seed * 1_000_003 + i, min(chunk, count - start), layout, mild_share, warp_share, extra_fonts)
        for i, start in enumerate(range(0, count, chunk))
    ]
    if workers > 1:
        with mp.get_context("fork").Pool(workers) as pool:
            parts = pool.map(_render_chunk, jobs, chunksize=1)
    else:
        parts = [_render_chunk(job) for job in jobs]
    texts = [t for part in parts for t in part[2]]
    layouts = [name for part in parts for name in part[3]]
    labels = np.zeros((len(texts), MAX_CHARS), dtype=np.int64)
    for i, text in enumerate(texts):
        labels[i, : len(text)] = [CHAR_INDEX[ch] for ch in text]
    return CropSet(
        recogniser=np.concatenate([p[0] for p in parts]),
        classifier=np.concatenate([p[1] for p in parts]),
        labels=labels,
        lengths=np.array([len(t) for t in texts], dtype=np.int64),
        layouts=np.array([LAYOUT_INDEX[name] for name in layouts], dtype=np.int64),
        texts=texts,
        province=np.concatenate([p[4] for p in parts]),
        suffix=np.concatenate([p[5] for p in parts]),
    )


def cached_crops(
    path: Path,
    count: int,
    seed: int,
    workers: int = 2,
    mild_share: float = 0.0,
    warp_share: float = 0.0,
    extra_fonts: bool = False,
) -> CropSet:
    """:func:`render_crops`, kept in ``path`` (an .npz) for the next run with the same arguments."""
    if path.exists():
        data = np.load(path, allow_pickle=False)
        # Caches written before the province or suffix classifier lack its input (and the latter came after
        # the renderer took up the two-serial-letter rule): render those again.
        same_inputs = (
            tuple(data["recogniser"].shape[1:3]) == RECOGNISER_SIZE
            and "province" in data
            and "suffix" in data
        )
        same_mix = float(data["mild_share"]) if "mild_share" in data else 0.0
        same_warp = float(data["warp_share"]) if "warp_share" in data else 0.0
        same_fonts = bool(data["extra_fonts"]) if "extra_fonts" in data else False
        if (
            int(data["count"]) == count
            and int(data["seed"]) == seed
            and same_inputs
            and same_mix == mild_share
            and same_warp == warp_share
            and same_fonts == extra_fonts
        ):
            return CropSet(
                data["recogniser"],
                data["classifier"],
                data["labels"],
                data["lengths"],
                data["layouts"],
                [str(t) for t in data["texts"]],
                data["province"],
                data["suffix"],
            )
    crops = render_crops(
        count, seed, workers, mild_share=mild_share, warp_share=warp_share, extra_fonts=extra_fonts
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        path,
        count=count,
        seed=seed,
        mild_share=mild_share,
        warp_share=warp_share,
        extra_fonts=extra_fonts,
        recogniser=crops.recogniser,
        classifier=crops.classifier,
        labels=crops.labels,
        lengths=crops.lengths,
        layouts=crops.layouts,
        texts=np.array(crops.texts),
        province=crops.province,
        suffix=crops.suffix,
    )
    return crops
