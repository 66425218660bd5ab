import io
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from waifugan.data.dataset import ImageDataset
from waifugan.data.sampler import InfiniteSampler
from waifugan.errors import DatasetError


def _png(array: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array, mode).save(buf, format="PNG")
    return buf.getvalue()


def _rgb(size=(16, 16), value=100) -> np.ndarray:
    return np.full((*size, 3), value, np.uint8)


def test_nvlabs_dataset_tool_layout_is_read(tmp_path):
    path = tmp_path / "nv.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(3):
            zf.writestr(f"00000/img{i:08d}.png", _png(_rgb(value=10 * i)))
        zf.writestr("dataset.json", '{"labels": [["00000/img00000000.png", 0]]}')
    ds = ImageDataset(path)
    assert len(ds) == 3 and ds.resolution == 16 and ds.names[0] == "00000/img00000000.png"
    assert ds[2].shape == (3, 16, 16) and ds[2].dtype == np.uint8 and ds[2][0, 0, 0] == 20
    assert ds.labels == {"00000/img00000000.png": 0}


def test_folder_with_grayscale_and_rgba_is_converted(tmp_path):
    Image.fromarray(np.full((8, 8), 77, np.uint8), "L").save(tmp_path / "gray.png")
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 255  # red, fully transparent → white after compositing
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    ds = ImageDataset(tmp_path, mirror=True)
    assert len(ds) == 4
    assert (ds[0] == 77).all()  # gray.png sorts first
    assert (ds[1] == 255).all()


def test_mirror_appends_flipped_copies(tmp_path):
    image = np.zeros((8, 8, 3), np.uint8)
    image[:, 0] = 255
    Image.fromarray(image).save(tmp_path / "a.png")
    ds = ImageDataset(tmp_path, mirror=True)
    np.testing.assert_array_equal(ds[1], ds[0][:, :, ::-1])


@pytest.mark.parametrize(
    ("files", "bad", "message"),
    [
        ({"a.png": _rgb(), "b.png": _rgb((32, 32))}, "b.png", "differs"),
        ({"a.png": _rgb((16, 8))}, "a.png", "not square"),
        ({"a.png": _rgb((12, 12))}, "a.png", "power of two"),
        ({"a.png": _rgb(), "c.png": b"this is not an image"}, "c.png", "unreadable"),
    ],
)
def test_bad_datasets_name_the_file(tmp_path, files, bad, message):
    for name, content in files.items():
        data = content if isinstance(content, bytes) else _png(content)
        (tmp_path / name).write_bytes(data)
    with pytest.raises(DatasetError, match=f"{bad}.*{message}"):
        ImageDataset(tmp_path)


def test_truncated_pixel_data_names_the_file_when_read(tmp_path):
    rng = np.random.RandomState(0)
    data = _png((rng.rand(16, 16, 3) * 255).astype(np.uint8))
    (tmp_path / "cut.png").write_bytes(data[: len(data) - 200])
    ds = ImageDataset(tmp_path)  # the header is intact
    with pytest.raises(DatasetError, match="cut.png"):
        ds[0]


def test_missing_or_empty_sources(tmp_path):
    with pytest.raises(DatasetError, match="no such file"):
        ImageDataset(tmp_path / "nope.zip")
    with pytest.raises(DatasetError, match="contains no"):
        ImageDataset(tmp_path)


def test_dataloader_workers_read_the_zip(tmp_path):
    path = tmp_path / "d.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(8):
            zf.writestr(f"{i}.png", _png(_rgb(value=i)))
    loader = torch.utils.data.DataLoader(ImageDataset(path), batch_size=4, num_workers=2)
    batches = list(loader)
    assert [int(b[:, 0, 0, 0].sum()) for b in batches] == [0 + 1 + 2 + 3, 4 + 5 + 6 + 7]


def test_infinite_sampler_is_resumable_and_splits_ranks():
    full = InfiniteSampler(10, seed=3)
    stream = [i for _, i in zip(range(25), full, strict=False)]
    assert sorted(stream[:10]) == list(range(10))  # each epoch is a permutation
    resumed = [i for _, i in zip(range(12), InfiniteSampler(10, seed=3, start=13), strict=False)]
    assert resumed == stream[13:25]
    rank1 = InfiniteSampler(10, seed=3, rank=1, world_size=2)
    assert [i for _, i in zip(range(5), rank1, strict=False)] == stream[1:10:2]
