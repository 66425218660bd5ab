"""Rebuild src/waifugan/demo_data/adventurer-64.zip from ../shared/data/adventurer-train-128.zip.

The built-in demo data is a small raw source in the Danbooru form, so `make demo` can show the
main job — select faces by tag with `prepare --tags`, then fine-tune on them: 600 faces of the
adventurer set (DiceBear "adventurer" design by Lisa Wischofsky, CC BY 4.0), the first 400
tagged `glasses` and the first 200 without, downscaled to 64x64 with Lanczos, stored as
`ID.png` beside their `metadata.jsonl` records. Run: python tools/make_demo_data.py
"""

from __future__ import annotations

import io
import json
import sys
import zipfile
from pathlib import Path

from PIL import Image

WITH_TAG, WITHOUT_TAG, TAG, SIZE = 400, 200, "glasses", 64
STAMP = (2026, 1, 1, 0, 0, 0)  # fixed member dates: the zip is byte-identical on every rebuild


def main() -> int:
    repo = Path(__file__).resolve().parents[1]
    source = (
        Path(sys.argv[1])
        if len(sys.argv) > 1
        else repo.parent / "shared/data/adventurer-train-128.zip"
    )
    target = repo / "src/waifugan/demo_data/adventurer-64.zip"
    with zipfile.ZipFile(source) as src:
        records = [json.loads(line) for line in src.read("metadata.jsonl").splitlines()]
        tagged = [r for r in records if any(t["name"] == TAG for t in r["tags"])][:WITH_TAG]
        others = [r for r in records if all(t["name"] != TAG for t in r["tags"])][:WITHOUT_TAG]
        chosen = sorted(tagged + others, key=lambda r: r["id"])
        with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as dst:
            for record in chosen:
                name = f"{record['id']}.{record['file_ext']}"
                image = Image.open(io.BytesIO(src.read(name))).convert("RGB")
                buf = io.BytesIO()
                image.resize((SIZE, SIZE), Image.Resampling.LANCZOS).save(buf, format="PNG")
                dst.writestr(zipfile.ZipInfo(name, STAMP), buf.getvalue())
            lines = [json.dumps({**r, "image_width": SIZE, "image_height": SIZE}) for r in chosen]
            dst.writestr(zipfile.ZipInfo("metadata.jsonl", STAMP), "\n".join(lines) + "\n")
    print(f"wrote {target} ({target.stat().st_size / 1024:.0f} KiB, {len(chosen)} images)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
