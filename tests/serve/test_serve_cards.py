"""/api/card over real HTTP: the face's card (name, tags, story), deterministic, consistent
with its tags, bounded input; and `waifugan serve` picking up the tagger beside a model."""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image
from serve_helpers import running_server, serve_command
from tests.cards.helpers import tiny_tagger

from waifugan.cards.card import CardWriter
from waifugan.cards.lexicon import contradictions
from waifugan.networks.generator import Generator
from waifugan.networks.model_file import save_model
from waifugan.networks.tagger import save_tagger
from waifugan.serve.config import ServeConfig


def _writer() -> CardWriter:
    return CardWriter(tiny_tagger(16))


def test_card_is_deterministic_and_matches_the_face(tiny_G: Generator) -> None:
    writer = _writer()
    # card cache off: equal answers must come from deterministic cards, not from the cache
    with (
        running_server(tiny_G, ServeConfig(cache_size=0), cards=writer, tagger_name="t") as (
            url,
            _,
        ),
        httpx.Client(base_url=url, timeout=20) as client,
    ):
        first = client.get("/api/card", params={"seed": 42, "psi": 0.5})
        again = client.get("/api/card", params={"seed": "42", "psi": "0.50"})
        assert first.status_code == again.status_code == 200
        assert first.headers["content-type"] == "application/json"
        card = first.json()
        assert card == again.json()
        assert set(card) == {"seed", "psi", "name", "tags", "story", "tagger"}
        assert (card["seed"], card["psi"], card["tagger"]) == (42, 0.5, "t")
        # the tags are the tagger's view of exactly the PNG /api/face serves
        face = client.get("/api/face", params={"seed": 42, "psi": 0.5})
        pixels = np.asarray(Image.open(io.BytesIO(face.content)).convert("RGB"))[None]
        expected = writer.tags(pixels)[0]
        assert [(t["tag"], t["confidence"]) for t in card["tags"]] == [
            (tag, round(conf, 3)) for tag, conf in expected
        ]
        names = [t["tag"] for t in card["tags"]]
        assert contradictions(card["story"], names) == []
        # different seeds: visibly different cards; another ψ: same name
        others = [client.get(f"/api/card?seed={s}&psi=0.5").json() for s in range(5)]
        assert len({c["story"] for c in others}) == 5
        assert client.get("/api/card?seed=42&psi=1").json()["name"] == card["name"]
        assert client.get("/healthz").json()["tagger"] == "t"


def test_card_without_a_tagger_has_no_tags(tiny_G: Generator) -> None:
    with (
        running_server(tiny_G, ServeConfig()) as (url, _),
        httpx.Client(base_url=url, timeout=20) as client,
    ):
        card = client.get("/api/card?seed=3").json()
        assert card["tags"] == [] and card["tagger"] is None and card["psi"] == 0.7
        assert card["story"].startswith(card["name"])


@pytest.mark.parametrize(
    "query",
    [
        "",
        "seed=",
        "seed=-1",
        "seed=1.5",
        "seed=abc",
        "seed=4294967296",
        "seed=99999999999999999999999",
        "seed=%00",
        "seed=1&psi=nan",
        "seed=1&psi=-inf",
        "seed=1&psi=2.5",
        "seed=1&psi=1e400",
        "seed=1&psi=" + "9" * 5000,
        "seed=<script>&psi=0.7",
    ],
)
def test_hostile_card_queries_are_400_json(tiny_G: Generator, query: str) -> None:
    with (
        running_server(tiny_G, ServeConfig(), cards=_writer()) as (url, _),
        httpx.Client(base_url=url, timeout=20) as client,
    ):
        answer = client.get(f"/api/card?{query}")
        assert answer.status_code == 400
        assert answer.headers["content-type"] == "application/json"
        assert answer.json()["error"] and "Traceback" not in answer.text


def test_serve_command_uses_the_tagger_beside_the_model(tiny_G: Generator, tmp_path: Path) -> None:
    model = save_model(tiny_G, tmp_path / "tiny.safetensors")
    save_tagger(tiny_tagger(16), tmp_path / "tiny.tagger.safetensors")
    with serve_command(str(model), "--device", "cpu") as served:
        assert served.health.json()["tagger"] == "tiny.tagger.safetensors"
        card = httpx.get(served.base + "/api/card?seed=3&psi=0.7", timeout=20).json()
        assert card["tagger"] == "tiny.tagger.safetensors" and card["name"]
    assert "tiny.tagger.safetensors" in served.output


def test_serve_command_refuses_a_bad_tagger(tiny_G: Generator, tmp_path: Path) -> None:
    model = save_model(tiny_G, tmp_path / "tiny.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"junk")
    result = subprocess.run(
        [sys.executable, "-m", "waifugan", "serve", str(model), "--tagger", str(bad)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "bad.safetensors" in result.stderr and "Traceback" not in result.stderr


def test_cards_beyond_the_bound_get_503_then_recover(tiny_G: Generator) -> None:
    cfg = ServeConfig(queue_size=2, cache_size=0)
    with running_server(tiny_G, cfg, cards=_writer()) as (url, app):
        renderer = app.state.renderer
        release = threading.Event()
        real_render = renderer.render

        def slow_render(keys):  # type: ignore[no-untyped-def]
            release.wait(timeout=20)  # hold the face worker so cards wait for their faces
            return real_render(keys)

        renderer.render = slow_render
        timer = threading.Timer(2.0, release.set)
        timer.start()
        try:
            answers = asyncio.run(_burst(url, range(200, 208)))
        finally:
            release.set()
            timer.cancel()
        codes = [a.status_code if isinstance(a, httpx.Response) else repr(a) for a in answers]
        assert codes.count(503) >= 5 and codes.count(200) >= 1 and set(codes) <= {200, 503}
        busy = next(a for a in answers if isinstance(a, httpx.Response) and a.status_code == 503)
        assert busy.json()["error"].startswith("busy") and busy.headers["retry-after"] == "1"
        renderer.render = real_render
        assert httpx.get(url + "/api/card?seed=5", timeout=20).status_code == 200


async def _burst(url: str, seeds: range) -> list[httpx.Response | BaseException]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        return await asyncio.gather(
            *(client.get("/api/card", params={"seed": s}) for s in seeds),
            return_exceptions=True,
        )
