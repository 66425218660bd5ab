"""Property-based fuzzing of prepare's decode stage with mutated PNG, JPEG, WebP and GIF bytes.

Hypothesis (derandomized: the same cases every run) takes small valid files of each format
and mutates them: bit flips, truncations, chunk/segment edits (PNG chunks get a correct CRC
so the edit reaches the decoder), splices of random bytes, and huge declared sizes (PNG
IHDR, JPEG SOF, GIF screen and frame, WebP VP8/VP8X canvas). Every input must be kept
(8-bit RGB of its declared size) or refused with a reason (DecodeError), within a per-file
time limit (a Hypothesis deadline, and an alarm for a hang) and without allocating more than
an address-space limit allows; the whole per-image worker must never report an internal error.
"""

from __future__ import annotations

import io
import resource
import signal
import struct
import time
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from tests.reliability.helpers import figure
from waifugan.prepare.config import PrepareConfig
from waifugan.prepare.decode import DecodeError, decode
from waifugan.prepare.process import Worker
from waifugan.prepare.sources import Item

MAX_PIXELS = 2**24  # 16.7 Mpx: declared sizes up to here are decoded, bigger ones refused
TIME_LIMIT_S = 2.0  # per file; a 128 px face decodes in about a millisecond
MEMORY_HEADROOM = 1536 * 2**20  # address space a decode may add (16.7 Mpx RGBA is 64 MiB)
DECODE_CASES, WORKER_CASES = 1500, 300


def _picture(width: int = 40, height: int = 32) -> Image.Image:
    rng = np.random.default_rng(15)
    yy, xx = np.mgrid[0:height, 0:width]
    rgb = np.stack([xx * 6, yy * 7, (xx + yy) * 3], axis=-1) + rng.integers(
        0, 30, (height, width, 3)
    )
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **options)
    return buf.getvalue()


def _seeds() -> dict[str, bytes]:
    rgb = _picture()
    rgba = rgb.copy()
    rgba.putalpha(Image.fromarray(np.full((32, 40), 200, np.uint8)))
    frames = [rgb.quantize(64), rgb.rotate(90).quantize(64)]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:], duration=50)
    return {
        "png-rgb": _encode(rgb, "PNG"),
        "png-rgba": _encode(rgba, "PNG"),
        "png-palette": _encode(rgb.quantize(32), "PNG", transparency=0),
        "jpeg": _encode(rgb, "JPEG", quality=90),
        "jpeg-progressive": _encode(rgb, "JPEG", quality=80, progressive=True),
        "webp": _encode(rgb, "WEBP", quality=80),
        "webp-alpha": _encode(rgba, "WEBP", lossless=True),
        "gif": gif.getvalue(),
    }


SEEDS = _seeds()


def _png_chunks(data: bytes) -> list[tuple[int, int]]:
    """(offset, data length) of each chunk of a well-formed PNG."""
    chunks, pos = [], 8
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        chunks.append((pos, length))
        pos += 12 + length
    return chunks


def _fix_png_crc(data: bytearray, pos: int, length: int) -> None:
    crc = zlib.crc32(bytes(data[pos + 4 : pos + 8 + length]))
    data[pos + 8 + length : pos + 12 + length] = struct.pack(">I", crc)


@st.composite
def _chunk_edit(draw, fmt: str, data: bytearray) -> str:
    """Edit one structural unit: a PNG chunk (CRC recomputed), a JPEG segment, or any span."""
    if fmt.startswith("png"):
        pos, length = draw(st.sampled_from(_png_chunks(bytes(data))))
        what = draw(st.sampled_from(["length", "type", "data"]))
        if what == "length":
            data[pos : pos + 4] = struct.pack(">I", draw(st.integers(0, 2**32 - 1)))
        elif what == "type":
            data[pos + 4 : pos + 8] = draw(st.binary(min_size=4, max_size=4))
        elif length:
            at = pos + 8 + draw(st.integers(0, length - 1))
            data[at] = draw(st.integers(0, 255))
            _fix_png_crc(data, pos, length)
        return f"png-{what}"
    if fmt.startswith("jpeg"):
        markers = [i for i in range(2, len(data) - 3) if data[i] == 0xFF and data[i + 1] >= 0xC0]
        at = draw(st.sampled_from(markers))
        data[at + 2 : at + 4] = struct.pack(">H", draw(st.integers(0, 65535)))
        return "jpeg-segment-length"
    start = draw(st.integers(0, len(data) - 1))
    data[start : start + draw(st.integers(0, 64))] = draw(st.binary(max_size=64))
    return "splice"


def _huge(draw, fmt: str, data: bytearray) -> None:
    """Declare a big image in the header (the pixel data stays small)."""
    if fmt.startswith("png"):
        width, height = draw(st.integers(1, 2**31 - 1)), draw(st.integers(1, 2**31 - 1))
        data[16:24] = struct.pack(">II", width, height)
        _fix_png_crc(data, 8, 13)
    elif fmt.startswith("jpeg"):
        sof = max(data.find(b"\xff\xc0"), data.find(b"\xff\xc2"))
        data[sof + 5 : sof + 9] = struct.pack(">HH", *draw(st.tuples(*[st.integers(1, 65535)] * 2)))
    elif fmt == "gif":
        data[6:10] = struct.pack("<HH", *draw(st.tuples(*[st.integers(1, 65535)] * 2)))
        frame = data.find(b"\x2c", 13)
        data[frame + 5 : frame + 9] = struct.pack(
            "<HH", *draw(st.tuples(*[st.integers(1, 65535)] * 2))
        )
    elif b"VP8X" in data:
        at = data.find(b"VP8X") + 12  # canvas width - 1, height - 1: 24 bits each
        data[at : at + 6] = draw(st.binary(min_size=6, max_size=6))
    else:
        at = data.find(b"\x9d\x01\x2a") + 3  # VP8 key frame: 14-bit width and height
        data[at : at + 4] = struct.pack("<HH", *draw(st.tuples(*[st.integers(1, 16383)] * 2)))


@st.composite
def mutated_files(draw) -> tuple[str, str, bytes]:
    """(seed format, mutation kind, bytes)."""
    fmt = draw(st.sampled_from(sorted(SEEDS)))
    data = bytearray(SEEDS[fmt])
    kind = draw(st.sampled_from(["flip", "truncate", "chunk", "huge", "splice"]))
    if kind == "flip":
        for at in draw(st.lists(st.integers(0, len(data) * 8 - 1), min_size=1, max_size=8)):
            data[at // 8] ^= 1 << (at % 8)
    elif kind == "truncate":
        del data[draw(st.integers(0, len(data) - 1)) :]
    elif kind == "chunk":
        kind = draw(_chunk_edit(fmt, data))
    elif kind == "huge":
        _huge(draw, fmt, data)
    else:
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(st.binary(min_size=1, max_size=256))
    return fmt, kind, bytes(data)


class _TimeLimitError(Exception):
    pass


@pytest.fixture
def bounded():
    """An address-space limit and a per-call alarm around the fuzzed code; restored after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    vm_bytes = int(Path("/proc/self/statm").read_text().split()[0]) * resource.getpagesize()
    resource.setrlimit(resource.RLIMIT_AS, (vm_bytes + MEMORY_HEADROOM, hard))

    def alarm(*_):
        raise _TimeLimitError(f"took more than {TIME_LIMIT_S} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _limited(call):
    signal.setitimer(signal.ITIMER_REAL, TIME_LIMIT_S * 2)  # the alarm only catches hangs
    try:
        return call()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


FUZZ = settings(
    derandomize=True, database=None, deadline=TIME_LIMIT_S * 1000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)  # fmt: skip


def test_the_seed_files_decode(bounded):
    for fmt, data in SEEDS.items():
        assert decode(data, MAX_PIXELS).rgb.shape == (32, 40, 3), fmt


@pytest.mark.slow
def test_decode_keeps_or_refuses_every_mutated_file(bounded):
    outcomes: Counter[str] = Counter()
    reasons: Counter[str] = Counter()

    @settings(FUZZ, max_examples=DECODE_CASES)
    @given(mutated_files())
    def check(case: tuple[str, str, bytes]) -> None:
        fmt, kind, data = case
        started = time.perf_counter()
        try:
            decoded = _limited(lambda: decode(data, MAX_PIXELS, draft_size=64))
        except DecodeError as error:
            assert str(error), "a refusal without a reason"
            outcomes["refused"] += 1
            reasons[str(error).split(":")[0].split(" (")[0]] += 1
        else:
            rgb = decoded.rgb
            assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
            assert rgb.shape[0] * rgb.shape[1] <= MAX_PIXELS
            outcomes["kept"] += 1
        assert time.perf_counter() - started < TIME_LIMIT_S
        outcomes[f"{fmt}/{kind}"] += 1

    check()
    cases = outcomes["kept"] + outcomes["refused"]
    assert cases >= DECODE_CASES * 0.9, outcomes  # Hypothesis ran (nearly) all of them
    assert outcomes["refused"] > 0 and outcomes["kept"] > 0
    figure("decode-fuzz", cases=cases, kept=outcomes["kept"], refused=outcomes["refused"],
           reasons=dict(reasons.most_common()))  # fmt: skip


@pytest.mark.slow
def test_the_prepare_worker_never_fails_internally_on_a_mutated_file(bounded, tmp_path):
    worker = Worker(PrepareConfig(sources=(str(tmp_path),), output=str(tmp_path / "o.zip"),
                                  detect=False, resolution=32, upscale="lanczos",
                                  max_pixels=MAX_PIXELS, min_size=8, progress=False))  # fmt: skip
    count = Counter[str]()

    @settings(FUZZ, max_examples=WORKER_CASES)
    @given(mutated_files())
    def check(case: tuple[str, str, bytes]) -> None:
        path = tmp_path / "input"
        path.write_bytes(case[2])
        result = _limited(lambda: worker.process(Item(key=str(path), path=str(path))))
        stages = [reject["stage"] for reject in result.rejects]
        assert "internal" not in stages, result.rejects
        assert result.samples or result.rejects  # kept, or refused with a reason
        count["kept" if result.samples else "refused"] += 1

    check()
    figure("worker-fuzz", cases=sum(count.values()), **count)


def test_a_gif_cut_anywhere_is_kept_or_refused(bounded):
    # Pillow's GIF reader raised IndexError / struct.error on some cuts (found by the fuzz)
    gif = SEEDS["gif"]
    refused = 0
    for end in range(len(gif)):
        try:
            decode(gif[:end], MAX_PIXELS)
        except DecodeError:
            refused += 1
    assert refused > len(gif) // 2
