"""Rebuild src/waifugan/demo_data/adventurer-32.zip from ../shared/data/adventurer-train-128.zip.

The demo dataset is the first 600 faces of the adventurer set (DiceBear "adventurer" design by
Lisa Wischofsky, CC BY 4.0) downscaled to 32x32 with a box filter and stored as PNGs in a zip
in the NVlabs dataset layout. Run: python tools/make_demo_data.py
"""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

from PIL import Image

COUNT, SIZE = 600, 32


def main() -> int:
    repo = Path(__file__).resolve().parents[1]
    source = (
        Path(sys.argv[1])
        if len(sys.argv) > 1
        else repo.parent / "shared/data/adventurer-train-128.zip"
    )
    target = repo / "src/waifugan/demo_data/adventurer-32.zip"
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as dst:
        names = sorted(n for n in src.namelist() if n.endswith(".png"))[:COUNT]
        for i, name in enumerate(names):
            image = Image.open(io.BytesIO(src.read(name))).convert("RGB")
            buf = io.BytesIO()
            image.resize((SIZE, SIZE), Image.Resampling.BOX).save(buf, format="PNG", optimize=True)
            info = zipfile.ZipInfo(f"00000/img{i:08d}.png", date_time=(2026, 1, 1, 0, 0, 0))
            dst.writestr(info, buf.getvalue())
        dst.writestr(zipfile.ZipInfo("dataset.json", (2026, 1, 1, 0, 0, 0)), '{"labels": null}')
    print(f"wrote {target} ({target.stat().st_size / 1024:.0f} KiB, {len(names)} images)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
