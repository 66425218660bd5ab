"""Writing the dataset: a resumable work folder (journal + sample blob) and, beside it, the
zip (images stored, NVlabs layout) or folder with dataset.json and manifest.jsonl, moved to
the output path atomically at the end.

While running, `<output>.partial/` holds:
  options.json   the options that shape the dataset (a resume with others is refused)
  samples.bin    encoded images, appended
  thumbs.bin     the dedup thumbnail of every kept image (fixed size), appended
  journal.jsonl  one line per input, in input order, written (in groups of up to 64 lines or
                 2 s of work) after its images are in samples.bin; a torn last line or
                 trailing blob bytes are dropped on resume
  dataset.zip.tmp (or dataset.tmp/) and manifest.jsonl.tmp
                 the dataset being assembled; rebuilt from the journal on resume
Only the final os.replace makes `<output>` appear, so a crash never leaves a dataset that
looks complete.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import zipfile
from collections.abc import Container, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson
from tqdm import tqdm

from waifugan.errors import WaifuganError

ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: reruns give byte-identical zips
DATASET_JSON = json.dumps({"labels": None}).encode()
JOURNAL_GROUP_LINES = 64  # journal lines written together: 3 syscalls per group, not per input
JOURNAL_GROUP_SECONDS = 2.0  # ...and at least this often, so a crash loses little work


def sample_name(index: int, ext: str) -> str:
    """NVlabs dataset_tool naming: 00000/img00000000.png, 1000 images per folder."""
    return f"{index // 1000:05d}/img{index:08d}.{ext}"


class WorkDir:
    """The `<output>.partial/` folder: journal of finished inputs and the sample blob."""

    def __init__(self, output: Path, fingerprint: str, discard_other: bool = False) -> None:
        """Open or create the work folder; with discard_other, an interrupted run with other
        options is deleted instead of refused (--overwrite)."""
        self.path = output.with_name(output.name + ".partial")
        options = self.path / "options.json"
        if discard_other and options.exists() and options.read_text() != fingerprint:
            shutil.rmtree(self.path)
        self.journal_path = self.path / "journal.jsonl"
        self.blob_path = self.path / "samples.bin"
        self.thumbs_path = self.path / "thumbs.bin"
        self.path.mkdir(parents=True, exist_ok=True)
        if options.exists():
            if options.read_text() != fingerprint:
                raise WaifuganError(
                    f"{self.path}: an interrupted run with different options is here; rerun "
                    "with the same options to resume it, or delete this folder (or pass "
                    "--overwrite) to start over"
                )
        else:  # atomically: a torn options.json would read as "different options" forever
            tmp = self.path / ".options.json.tmp"
            tmp.write_text(fingerprint)
            os.replace(tmp, options)
        self._journal: Any = None
        self._blob: BinaryIO | None = None
        self._thumbs: BinaryIO | None = None
        self._pending: list[bytes] = []  # journal lines whose images may still be buffered
        self._last_write = time.monotonic()

    def recover(self) -> list[dict[str, Any]]:
        """Records of the inputs finished by an earlier run; trims torn writes."""
        records: list[dict[str, Any]] = []
        good_bytes = 0
        if self.journal_path.exists():
            with open(self.journal_path, "rb") as f:
                for line in f:
                    if not line.endswith(b"\n"):
                        break  # torn last line of a crashed run
                    try:
                        records.append(orjson.loads(line))
                    except ValueError:
                        break
                    good_bytes += len(line)
            with open(self.journal_path, "r+b") as f:
                f.truncate(good_bytes)
        blob_end = max((s["offset"] + s["size"] for r in records for s in r["samples"]), default=0)
        with open(self.blob_path, "ab") as f:
            f.truncate(blob_end)
        return records

    def read_thumbs(self, count: int, size: int) -> list[bytes]:
        """The first `count` thumbnails of `size` bytes; later (unjournaled) ones are cut."""
        with open(self.thumbs_path, "a+b") as f:
            f.truncate(count * size)
            f.seek(0)
            data = f.read()
        if len(data) != count * size:
            raise WaifuganError(f"{self.thumbs_path}: shorter than its journal; delete {self.path}")
        return [data[i * size : (i + 1) * size] for i in range(count)]

    def open(self) -> None:
        """Open journal and blob for appending."""
        self._journal = open(self.journal_path, "ab")  # noqa: SIM115
        self._blob = open(self.blob_path, "ab")  # noqa: SIM115
        self._thumbs = open(self.thumbs_path, "ab")  # noqa: SIM115

    def append_blob(self, data: bytes) -> int:
        """Append encoded image bytes; returns their offset."""
        assert self._blob is not None
        offset = self._blob.tell()
        self._blob.write(data)
        return offset

    def append_thumb(self, data: bytes) -> None:
        """Append a kept image's dedup thumbnail."""
        assert self._thumbs is not None
        self._thumbs.write(data)

    def append_record(self, record: dict[str, Any]) -> None:
        """Journal one finished input (its lines reach the file after its samples do)."""
        self._pending.append(orjson.dumps(record) + b"\n")
        if (
            len(self._pending) >= JOURNAL_GROUP_LINES
            or time.monotonic() - self._last_write >= JOURNAL_GROUP_SECONDS
        ):
            self.write_journal()

    def write_journal(self) -> None:
        """Write the pending journal lines, after the samples and thumbnails they describe."""
        assert self._blob is not None and self._journal is not None and self._thumbs is not None
        self._blob.flush()
        self._thumbs.flush()
        self._journal.write(b"".join(self._pending))
        self._journal.flush()
        self._pending.clear()
        self._last_write = time.monotonic()

    def close(self) -> None:
        """Write what is pending, flush to disk and close."""
        if self._journal is not None:
            self.write_journal()
        for handle in (self._blob, self._thumbs, self._journal):
            if handle is not None:
                handle.flush()
                os.fsync(handle.fileno())
                handle.close()
        self._blob = self._thumbs = self._journal = None

    def records(self) -> Iterator[dict[str, Any]]:
        """Stream the journal's records."""
        with open(self.journal_path, "rb") as f:
            for line in f:
                yield orjson.loads(line)

    def remove(self) -> None:
        """Delete the work folder (after the dataset is in place): options and journal first,
        so a kill during the deletion never leaves a journal whose samples are gone."""
        for name in ("options.json", "journal.jsonl"):
            (self.path / name).unlink(missing_ok=True)
        shutil.rmtree(self.path, ignore_errors=True)

    @staticmethod
    def leftover(output: Path, fingerprint: str) -> Path | None:
        """The work folder a finished run with these options left behind when it was killed
        between moving its dataset into place and deleting the folder; else None."""
        path = output.with_name(output.name + ".partial")
        options = path / "options.json"
        if not options.is_file() or options.read_text() != fingerprint:
            return None
        if (path / "dataset.zip.tmp").exists() or (path / "dataset.tmp").exists():
            return None  # the dataset was not moved yet: not this case
        return path


def _zip_info(name: str, compress: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE_TIME)
    info.compress_type = compress
    info.external_attr = 0o644 << 16
    return info


def iter_samples(
    work: WorkDir, wanted: Container[int] | None = None
) -> Iterator[tuple[dict[str, Any], dict[str, Any], bytes]]:
    """(record, sample, encoded bytes) for every written sample in dataset order, or only for
    the sample numbers in `wanted`."""
    index = 0
    with open(work.blob_path, "rb") as blob:
        for record in work.records():
            for sample in record["samples"]:
                if wanted is None or index in wanted:
                    blob.seek(sample["offset"])
                    yield record, sample, blob.read(sample["size"])
                index += 1


def manifest_row(record: dict[str, Any], sample: dict[str, Any]) -> dict[str, Any]:
    """One manifest.jsonl line: where an output came from and what was done to it."""
    # offset is journal-only; pixel_sha256 is a dedup detail (phash and source_sha256 stay)
    row = {k: v for k, v in sample.items() if k not in ("offset", "pixel_sha256")}
    row["source"] = record["key"]
    row["source_sha256"] = record.get("file_sha256")
    row["source_size"] = [record["info"].get("width"), record["info"].get("height")]
    if record.get("meta"):
        row["danbooru_id"] = record["meta"].get("id")
    return row


def _remove(path: Path) -> None:
    """Delete a file or folder if it exists."""
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def _manifest_line(record: dict[str, Any], sample: dict[str, Any]) -> bytes:
    return orjson.dumps(manifest_row(record, sample), option=orjson.OPT_SORT_KEYS) + b"\n"


class DatasetWriter:
    """The final zip (images stored, NVlabs layout) or folder, assembled inside the work
    folder as images are decided, so the end of a run only adds the manifest and renames.

    It is always rebuilt from the journal when a run starts or resumes (`rebuild`), so what
    a crash left in it does not matter; only `finish` moves it to the output path."""

    def __init__(self, work: WorkDir, as_zip: bool) -> None:
        self.work = work
        self.path = work.path / ("dataset.zip.tmp" if as_zip else "dataset.tmp")
        self.manifest_path = work.path / "manifest.jsonl.tmp"
        self.count = 0
        _remove(self.path)
        self.manifest: BinaryIO | None = open(self.manifest_path, "wb")  # noqa: SIM115
        self.archive: zipfile.ZipFile | None = None
        if as_zip:
            self.archive = zipfile.ZipFile(self.path, "w", zipfile.ZIP_STORED)
            self.archive.writestr(_zip_info("dataset.json", zipfile.ZIP_STORED), DATASET_JSON)
        else:
            self.path.mkdir()
            (self.path / "dataset.json").write_bytes(DATASET_JSON)

    def rebuild(self, total: int, progress: bool = False) -> None:
        """Add the `total` images an interrupted run journaled (none on a fresh run)."""
        if total == 0:
            return
        samples = iter_samples(self.work)
        for record, sample, data in tqdm(samples, total=total, unit="img", desc="restore",
                                         disable=not progress):  # fmt: skip
            self.add(record, sample, data)

    def add(self, record: dict[str, Any], sample: dict[str, Any], data: bytes) -> None:
        """Write one output image and its manifest line."""
        assert self.manifest is not None
        if self.archive is not None:
            self.archive.writestr(_zip_info(sample["name"], zipfile.ZIP_STORED), data)
        else:
            target = self.path / sample["name"]
            target.parent.mkdir(exist_ok=True)
            target.write_bytes(data)
        self.manifest.write(_manifest_line(record, sample))
        self.count += 1

    def close(self) -> int:
        """Add the manifest and close: the dataset is complete, still in the work folder;
        returns the image count."""
        assert self.manifest is not None
        self.manifest.close()
        self.manifest = None
        if self.archive is not None:
            info = _zip_info("manifest.jsonl", zipfile.ZIP_DEFLATED)
            with open(self.manifest_path, "rb") as f, self.archive.open(info, "w") as dst:
                shutil.copyfileobj(f, dst)  # text: deflated, unlike the images
            self.archive.close()
            self.archive = None
        else:
            os.replace(self.manifest_path, self.path / "manifest.jsonl")
        return self.count

    def move_into_place(self, output: Path, overwrite: bool) -> None:
        """Move the closed dataset to `output` atomically: only now does `output` appear."""
        if overwrite:
            _remove(output)
        os.replace(self.path, output)

    def abort(self) -> None:
        """Close without finishing (the work folder keeps what a resume needs)."""
        for handle in (self.manifest, self.archive):
            if handle is not None:
                handle.close()
        self.manifest = self.archive = None
