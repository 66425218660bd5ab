"""The tagger learns a dataset's own tags: toy faces here, real adventurer faces when
../shared is present; scores and reports are written, and the file round-trips."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from waifugan.cards.labels import choose_tags, image_ids, load_labelled
from waifugan.cards.train import (
    ADVENTURER_EXCLUDE,
    TaggerTrainOptions,
    score_tags,
    split_indices,
    train_tagger,
)
from waifugan.data.dataset import ImageDataset
from waifugan.errors import WaifuganError
from waifugan.networks.tagger import load_tagger


def test_labels_match_ids_and_choose_frequent_tags(toy_dataset: tuple[Path, Path]) -> None:
    data, meta = toy_dataset
    labelled = load_labelled(str(data), [str(meta)], resolution=16, min_count=5)
    assert labelled.images.shape == (48, 3, 16, 16) and labelled.images.dtype == np.uint8
    assert set(labelled.tags) == {"red_hair", "blonde_hair", "glasses"}  # "rare" is on 2
    assert labelled.unmatched == 0
    row = labelled.ids.index("1003")  # odd → blonde; multiple of 3 → glasses
    tags = {t for t, on in zip(labelled.tags, labelled.labels[row], strict=True) if on}
    assert tags == {"blonde_hair", "glasses"}
    # area-averaged to 16 px: the red hair band stays red
    red_row = labelled.ids.index("1000")
    assert labelled.images[red_row, 0, 0, 0] == 200 and labelled.images[red_row, 1, 0, 0] == 40


def test_manifest_danbooru_id_wins_over_the_file_stem(tmp_path: Path) -> None:
    from PIL import Image

    folder = tmp_path / "prepared"
    (folder / "00000").mkdir(parents=True)
    for i in range(3):
        Image.new("RGB", (8, 8)).save(folder / "00000" / f"img{i:08d}.png")
    rows = [
        {"name": "00000/img00000000.png", "danbooru_id": "77"},
        {"name": "00000/img00000001.png", "source": "raw.zip::art/555.jpg"},
    ]
    (folder / "manifest.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert image_ids(ImageDataset(folder)) == ["77", "555", "img00000002"]


def test_choose_tags_orders_filters_and_excludes() -> None:
    sets = [frozenset({"a", "eyes_variant01"})] * 5 + [frozenset({"b"})] * 3 + [frozenset({"c"})]
    assert choose_tags(sets, min_count=3) == ("a", "eyes_variant01", "b")
    assert choose_tags(sets, min_count=3, exclude=ADVENTURER_EXCLUDE) == ("a", "b")
    assert choose_tags(sets, min_count=1, max_tags=2) == ("a", "eyes_variant01")


def test_no_match_and_no_frequent_tag_are_refused(toy_dataset: tuple[Path, Path]) -> None:
    data, meta = toy_dataset
    other = meta.with_name("other.jsonl")
    other.write_text('{"id": "nope", "tags": [{"name": "x", "category": 0}]}\n')
    with pytest.raises(WaifuganError, match="no image matches a metadata record"):
        load_labelled(str(data), [str(other)], 16, 1)
    with pytest.raises(WaifuganError, match="min-count"):
        load_labelled(str(data), [str(meta)], 16, 1000)
    with pytest.raises(WaifuganError, match="holdout"):
        TaggerTrainOptions(data=str(data), holdout=1.5)


def test_scores_and_split() -> None:
    train, test = split_indices(10, 0.3, seed=0)
    assert len(test) == 3 and sorted([*train, *test]) == list(range(10))
    assert np.array_equal(split_indices(10, 0.3, seed=0)[1], test)  # seeded
    labels = np.array([[1], [1], [0], [0]], dtype=np.float32)
    probs = np.array([[0.9], [0.2], [0.6], [0.1]], dtype=np.float32)
    (score,) = score_tags(probs, labels, train_labels=np.ones((3, 1)), tags=("t",))
    assert (score.precision, score.recall, score.accuracy) == (0.5, 0.5, 0.5)
    assert score.baseline_accuracy == 0.5  # the training majority says "always t"


def test_train_on_toy_faces_saves_report_and_round_trips(
    toy_dataset: tuple[Path, Path], tmp_path: Path
) -> None:
    data, meta = toy_dataset
    opts = TaggerTrainOptions(
        data=str(data), metadata=(str(meta),), output=str(tmp_path / "toy.safetensors"),
        resolution=16, min_count=5, holdout=0.25, epochs=15, batch=8, channel_base=4,
        channel_max=8, device="cpu",
    )  # fmt: skip
    path, scores = train_tagger(opts)
    by_tag = {s.tag: s for s in scores}
    # hair colour is half the image's top third: even a tiny net learns it
    assert by_tag["red_hair"].accuracy > by_tag["red_hair"].baseline_accuracy
    report = (tmp_path / "toy-report.txt").read_text()
    assert "precision" in report and "red_hair" in report and "12 held-out" in report
    loaded = load_tagger(path)
    assert loaded.tagger.tags == tuple(s.tag for s in scores)
    assert loaded.extra["scores"] == [asdict(s) for s in scores]


@pytest.mark.slow
def test_tagger_beats_majority_baseline_on_adventurer_faces(
    shared_dir: Path, tmp_path: Path
) -> None:
    """400 real adventurer faces at 32 px, 12 epochs (about 10 s on one core)."""
    opts = TaggerTrainOptions(
        data=str(shared_dir / "data" / "adventurer-train-128.zip"),
        output=str(tmp_path / "adv.safetensors"), resolution=32, max_images=400, holdout=0.25,
        epochs=12, batch=32, min_count=40, exclude_tags=ADVENTURER_EXCLUDE, device="cpu",
    )  # fmt: skip
    _, scores = train_tagger(opts)
    n_train = 300
    frequent = [s for s in scores if s.train_count >= 0.2 * n_train]
    assert {"long_hair", "short_hair", "brown_hair"} <= {s.tag for s in frequent}
    for score in frequent:
        assert score.accuracy > score.baseline_accuracy, score
