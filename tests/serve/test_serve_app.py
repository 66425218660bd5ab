"""The face server over real HTTP: determinism, caching headers, bounds, overload."""

from __future__ import annotations

import asyncio
import io
import threading

import httpx
import numpy as np
import pytest
from PIL import Image
from serve_helpers import running_server

from waifugan.errors import WaifuganError
from waifugan.networks.generator import Generator
from waifugan.serve.config import ServeConfig
from waifugan.serve.render import FaceKey, FaceRenderer


def _png(content: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(content)).convert("RGB"))


def test_face_is_deterministic_cached_and_matches_sample(tiny_G: Generator) -> None:
    # cache off: equal bytes must come from deterministic rendering, not from the cache
    with (
        running_server(tiny_G, ServeConfig(cache_size=0)) as (url, app),
        httpx.Client(base_url=url, timeout=20) as client,
    ):
        first = client.get("/api/face", params={"seed": 42, "psi": 0.5})
        again = client.get("/api/face", params={"seed": 42, "psi": "0.50"})
        other = client.get("/api/face", params={"seed": 43, "psi": 0.5})
        assert first.status_code == again.status_code == other.status_code == 200
        assert first.headers["content-type"] == "image/png"
        assert first.content == again.content and first.content != other.content
        assert first.headers["etag"] == again.headers["etag"] != other.headers["etag"]
        assert "max-age=" in first.headers["cache-control"]
        # the same pixels `waifugan generate` saves for that seed and psi
        assert np.array_equal(_png(first.content), tiny_G.sample([42], psi=0.5)[0])
        assert app.state.renderer.rendered == 3
        # a conditional request is answered 304 without a body
        cached = client.get(
            "/api/face",
            params={"seed": 42, "psi": 0.5},
            headers={"If-None-Match": first.headers["etag"]},
        )
        assert cached.status_code == 304 and cached.content == b""
        big = client.get("/api/face", params={"seed": 42, "psi": 0.5, "size": 64})
        assert big.status_code == 200 and _png(big.content).shape == (64, 64, 3)


def test_cache_answers_repeats_without_rendering(tiny_G: Generator) -> None:
    with (
        running_server(tiny_G, ServeConfig(cache_size=8)) as (url, app),
        httpx.Client(base_url=url, timeout=20) as client,
    ):
        bodies = {client.get("/api/face?seed=7").content for _ in range(3)}
        assert len(bodies) == 1 and app.state.renderer.rendered == 1


@pytest.mark.parametrize(
    "query",
    [
        "",  # seed required
        "seed=-1",
        "seed=abc",
        "seed=4294967296",  # 2**32
        "seed=99999999999999999999999",
        "seed=1&psi=nan",
        "seed=1&psi=inf",
        "seed=1&psi=2.5",
        "seed=1&psi=x",
        "seed=1&size=17",
        "seed=1&size=4096",
        "seed=1&size=-64",
    ],
)
def test_bad_input_is_400_json(tiny_G: Generator, query: str) -> None:
    with (
        running_server(tiny_G, ServeConfig()) as (url, _),
        httpx.Client(base_url=url, timeout=20) as client,
    ):
        answer = client.get(f"/api/face?{query}")
        assert answer.status_code == 400
        assert answer.headers["content-type"] == "application/json"
        assert answer.json()["error"]
        assert "Traceback" not in answer.text


def test_page_random_healthz_and_404(tiny_G: Generator) -> None:
    with (
        running_server(tiny_G, ServeConfig(interval_s=5)) as (url, _),
        httpx.Client(base_url=url, timeout=20) as client,
    ):
        page = client.get("/?seed=123&psi=0.3")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert 'src="/api/face?seed=123&amp;psi=0.30"' in page.text  # works without JS
        assert 'data-pinned="true"' in page.text and "http-equiv" not in page.text
        unpinned = client.get("/")
        assert 'data-pinned="false"' in unpinned.text
        assert 'http-equiv="refresh" content="5' in unpinned.text  # no-JS rotation
        assert client.get("/?seed=-5").status_code == 400
        for asset in ("/static/app.js", "/static/style.css"):
            assert client.get(asset).status_code == 200
        hop = client.get("/api/random", params={"psi": 0.6})
        assert hop.status_code == 307 and hop.headers["location"].startswith("/api/face?seed=")
        assert "psi=0.60" in hop.headers["location"]
        assert client.get(hop.headers["location"]).status_code == 200
        assert client.get("/api/random?psi=9").status_code == 400
        health = client.get("/healthz").json()
        assert health["status"] == "ok" and health["img_resolution"] == 16
        missing = client.get("/no/such/page")
        assert missing.status_code == 404 and missing.json()["error"]


async def _burst(url: str, seeds: range) -> list[httpx.Response | Exception]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        return await asyncio.gather(
            *(client.get("/api/face", params={"seed": s}) for s in seeds),
            return_exceptions=True,
        )


def test_burst_beyond_queue_gets_503_then_recovers(tiny_G: Generator) -> None:
    cfg = ServeConfig(queue_size=2, max_batch=1, cache_size=0)
    with running_server(tiny_G, cfg) as (url, app):
        renderer = app.state.renderer
        release = threading.Event()
        real_render = renderer.render

        def slow_render(keys):  # type: ignore[no-untyped-def]
            release.wait(timeout=20)  # hold the worker so the queue fills
            return real_render(keys)

        renderer.render = slow_render
        timer = threading.Timer(2.0, release.set)  # let the burst land, then release
        timer.start()
        try:
            answers = asyncio.run(_burst(url, range(100, 110)))
        finally:
            release.set()
            timer.cancel()
        codes = [a.status_code if isinstance(a, httpx.Response) else repr(a) for a in answers]
        # at most one job in the worker + 2 queued get through; the rest are refused at once
        assert codes.count(503) >= 7 and codes.count(200) >= 2, codes
        assert set(codes) <= {200, 503}, codes
        busy = next(a for a in answers if isinstance(a, httpx.Response) and a.status_code == 503)
        assert busy.json()["error"].startswith("busy") and busy.headers["retry-after"] == "1"
        renderer.render = real_render
        with httpx.Client(base_url=url, timeout=20) as client:  # still alive afterwards
            assert client.get("/healthz").status_code == 200
            assert client.get("/api/face?seed=5").status_code == 200


def test_config_bounds() -> None:
    with pytest.raises(WaifuganError, match="psi"):
        ServeConfig(psi=3.0)
    with pytest.raises(WaifuganError, match="interval"):
        ServeConfig(interval_s=0)
    with pytest.raises(WaifuganError, match="queue-size"):
        ServeConfig(queue_size=0)
    assert ServeConfig().host == "127.0.0.1"


def test_face_bytes_do_not_depend_on_batching(tiny_G: Generator) -> None:
    # every render call is padded to max_batch rows, so batch-mates cannot change a face
    renderer = FaceRenderer(tiny_G, max_batch=4, cache_size=0)
    try:
        keys = [FaceKey(seed, psi, 16) for seed, psi in ((1, 0.7), (2, 0.5), (3, 1.0))]
        together = renderer.render(keys)
        alone = [renderer.render([key])[0] for key in keys]
        assert [f.png for f in together] == [f.png for f in alone]
        assert len({f.etag for f in together}) == 3
    finally:
        renderer.close()
