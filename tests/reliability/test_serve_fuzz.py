"""The face server under hostile and heavy traffic, over real HTTP (uvicorn on localhost).

- A bounded Hypothesis fuzz (derandomized) of query strings, paths and headers (long,
  malformed percent escapes, unicode, NUL, traversal) through a normal client: every answer
  is 2xx/3xx or a 4xx with a JSON {"error"} body, never a 5xx or a traceback.
- Raw requests a client library would refuse to send (NUL, control bytes, invalid UTF-8,
  huge header lines, broken request lines) on a socket: uvicorn refuses what HTTP itself
  forbids (a plain-text 400/431 before the app), the app answers the rest with 4xx JSON;
  the server keeps serving.
- A burst of concurrent misses while the renderer is held: 503 JSON with Retry-After, and
  /healthz keeps answering quickly throughout.
- 10,000 requests (misses, hits, errors, health): resident memory before and after.
"""

from __future__ import annotations

import asyncio
import http.client
import socket
import threading
import time
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reliability.helpers import figure, rss_mb
from tests.serve.serve_helpers import make_tiny_G, running_server
from waifugan.serve.config import ServeConfig

ROUTES = ["/", "/api/face", "/api/random", "/api/card", "/healthz", "/static/app.js", "/x"]
FUZZ = settings(
    derandomize=True, database=None, deadline=None, max_examples=400,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)  # fmt: skip

_hostile_text = st.one_of(
    st.text(max_size=40),  # any unicode, NUL included
    st.sampled_from(
        [
            "%",
            "%zz",
            "%ff%fe",
            "%00",
            "..%2f..%2fetc%2fpasswd",
            "-1",
            "1e999",
            "nan",
            "4294967296",
            "0x10",
            " 7",
            "7 ",
            "１２",
            "9" * 5000,
        ]
    ),  # fmt: skip
    st.text(alphabet="0123456789.-+e", max_size=12),
)


@pytest.fixture(scope="module")
def server():
    with running_server(make_tiny_G(), ServeConfig(cache_size=64)) as (url, app):
        yield url, app


def _assert_clean(answer: httpx.Response) -> None:
    assert answer.status_code < 500, (answer.request.url, answer.status_code, answer.text[:200])
    assert "Traceback" not in answer.text
    if answer.status_code >= 400:
        assert answer.headers["content-type"] == "application/json", answer.request.url
        assert answer.json()["error"]


@pytest.mark.slow
def test_fuzzed_queries_paths_and_headers_get_json_4xx_never_5xx(server):
    url, _ = server
    seen: dict[int, int] = {}
    with httpx.Client(base_url=url, timeout=20) as client:

        @settings(FUZZ)
        @given(
            route=st.sampled_from(ROUTES),
            extra_path=st.one_of(st.just(""), _hostile_text),
            query=st.lists(
                st.tuples(st.sampled_from(["seed", "psi", "size", "q", ""]), _hostile_text),
                max_size=4,
            ),  # fmt: skip
            header=st.one_of(
                st.none(),
                st.tuples(
                    st.sampled_from(["If-None-Match", "Accept", "Range", "Cookie", "X-A"]),
                    st.text(
                        alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=4000
                    ),
                ),  # fmt: skip
            ),
        )
        def check(route, extra_path, query, header) -> None:
            # percent-encoded by hand ("%" kept, so malformed escapes arrive as they are)
            path = route.rstrip("/") + "/" + quote(extra_path, safe="/%") if extra_path else route
            headers = {header[0]: header[1].encode("latin-1")} if header else {}
            answer = client.get(path, params=query, headers=headers)
            _assert_clean(answer)
            seen[answer.status_code] = seen.get(answer.status_code, 0) + 1

        check()
    assert sum(seen.values()) >= 360 and any(code >= 400 for code in seen)
    figure("serve-fuzz", requests=sum(seen.values()), statuses=dict(sorted(seen.items())))


RAW = [
    b"GET /api/face?seed=1\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/face?seed=%00 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/face?seed=\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /\xc3\x28/%ff HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /static/../../../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /static/%2e%2e/%2e%2e/serve/app.py HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 200_000 + b"\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Nul: a\x00b\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Bad\r\n\r\n",
    b"GET " + b"/a" * 50_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GARBAGE\r\n\r\n",
    b"GET /api/card?seed=1 HTTP/9.9\r\nHost: x\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(64)),  # a TLS hello
    b"POST /api/face HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\nabc",
]


def _raw(url: str, request: bytes) -> bytes:
    """Send bytes as they are; the answer (b"" when the server closed the connection)."""
    host, port = url.removeprefix("http://").split(":")
    chunks = []
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        try:
            sock.sendall(request)
            sock.shutdown(socket.SHUT_WR)
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except OSError:  # reset or not connected: refused mid-request (e.g. a huge header)
            pass
    return b"".join(chunks)


@pytest.mark.parametrize("request_bytes", RAW, ids=range(len(RAW)))
def test_raw_hostile_requests_are_refused_and_the_server_stays_up(server, request_bytes):
    url, _ = server
    answer = _raw(url, request_bytes)
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else None
    assert status is None or 200 <= status < 500, answer[:300]  # None: connection closed
    assert b"Traceback" not in answer and b"root:" not in answer
    if status is not None and status >= 400 and b"application/json" in answer:
        assert b'"error"' in answer
    with httpx.Client(base_url=url, timeout=20) as client:
        assert client.get("/healthz").status_code == 200


def test_a_burst_of_misses_gets_503_while_healthz_answers(server):
    url, app = server
    renderer = app.state.renderer
    release = threading.Event()
    real_render = renderer.render

    def held_render(keys):  # type: ignore[no-untyped-def]
        release.wait(timeout=30)  # the worker is stuck: every miss queues or is refused
        return real_render(keys)

    async def burst_and_probe() -> tuple[list[int], list[float]]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            misses = [client.get("/api/face", params={"seed": 10_000 + i}) for i in range(60)]
            burst = asyncio.gather(*misses)
            health_s = []
            for _ in range(10):
                started = time.perf_counter()
                assert (await client.get("/healthz")).status_code == 200
                health_s.append(time.perf_counter() - started)
                await asyncio.sleep(0.05)
            release.set()
            answers = await burst
            busy = next(a for a in answers if a.status_code == 503)
            assert busy.json()["error"].startswith("busy") and busy.headers["retry-after"]
            return [a.status_code for a in answers], health_s

    renderer.render = held_render
    try:
        codes, health_s = asyncio.run(burst_and_probe())
    finally:
        release.set()
        renderer.render = real_render
    assert set(codes) <= {200, 503} and codes.count(503) >= 40, codes
    assert max(health_s) < 1.0, health_s
    figure("serve-burst", misses=len(codes), served=codes.count(200), refused_503=codes.count(503),
           healthz_max_ms=round(max(health_s) * 1000, 1))  # fmt: skip


@pytest.mark.slow
def test_memory_stays_bounded_over_10k_requests(server):
    url, app = server
    # 1 in 10 a face never asked for (rendered), the rest cache hits, cards, bad input,
    # unknown paths, pages, redirects and health checks
    mix = ["/api/face?seed={i}", "/api/face?seed={j}", "/api/face?seed=-{i}",
           "/api/card?seed={j}", "/healthz", "/nope/{i}", "/?seed={i}", "/api/random",
           "/api/face?seed={j}&psi=0.5", "/healthz?x={i}"]  # fmt: skip

    host, port = url.removeprefix("http://").split(":")

    def run(count: int, offset: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=30)  # lighter than httpx
        for n in range(offset, offset + count):
            path = mix[n % len(mix)].format(i=n, j=n % 50)  # i: misses, j: cache hits
            conn.request("GET", path)
            answer = conn.getresponse()
            answer.read()
            assert answer.status in (200, 307, 400, 404), (path, answer.status)
        conn.close()

    run(1000, 0)  # warm-up: caches fill, allocator pools settle
    before = rss_mb()
    started = time.perf_counter()
    run(10_000, 1000)
    seconds = time.perf_counter() - started
    after = rss_mb()
    figure("serve-rss", requests=10_000, rss_before_mb=round(before, 1),
           rss_after_mb=round(after, 1), seconds=round(seconds, 1),
           rendered=app.state.renderer.rendered)  # fmt: skip
    assert after - before < 40, (before, after)
