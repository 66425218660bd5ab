"""The This-Waifu-Does-Not-Exist web app: a page, a face API, and a health check.

Routes:
    /                       the page (optionally pinned to a face: /?seed=N&psi=X)
    /api/face?seed&psi&size a face as PNG; same query → same bytes (ETag, Cache-Control)
    /api/random?psi&size    307 redirect to /api/face with a random seed
    /api/card?seed&psi      the face's character card as JSON (name, tags, story)
    /healthz                JSON status
    /static/...             the page's CSS and JavaScript

Every query value is bounded; bad input gets 400 with a JSON `{"error": ...}`.
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from http import HTTPStatus
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from waifugan.cards.card import CardWriter
from waifugan.networks.generator import Generator
from waifugan.serve.cards import CardService
from waifugan.serve.config import (
    FACE_MAX_AGE_S,
    OUTPUT_SIZES,
    PSI_DECIMALS,
    PSI_MAX,
    PSI_MIN,
    SEED_MAX,
    ServeConfig,
)
from waifugan.serve.render import FaceKey, FaceRenderer, OverloadedError

STATIC_DIR = Path(__file__).resolve().parent / "static"


class BadRequestError(ValueError):
    """A query value out of bounds; becomes a 400 JSON answer."""


class JSONErrors:
    """ASGI wrapper turning an app's plain-text error answers into the `{"error": ...}` JSON
    of every other route: StaticFiles answers a malformed or unsatisfiable Range header
    itself (400 / 416 text/plain), past the exception handlers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start: Message | None = None
        body = b""

        async def send_json_errors(message: Message) -> None:
            nonlocal start, body
            if message["type"] == "http.response.start" and message["status"] >= 400:
                start = message  # held until the body is known
            elif start is not None and message["type"] == "http.response.body":
                body += message.get("body", b"")
                if not message.get("more_body", False):
                    text = body.decode("utf-8", "replace").strip()
                    text = text or HTTPStatus(start["status"]).phrase.lower()
                    payload = json.dumps({"error": text}).encode()
                    kept = [(k, v) for k, v in start["headers"]
                            if k.lower() not in (b"content-type", b"content-length")]  # fmt: skip
                    headers = [*kept, (b"content-type", b"application/json"),
                               (b"content-length", str(len(payload)).encode())]  # fmt: skip
                    await send({**start, "headers": headers})
                    await send({"type": "http.response.body", "body": payload})
            else:
                await send(message)

        await self.app(scope, receive, send_json_errors)


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=dict(headers or {}))


def parse_seed(text: str | None) -> int | None:
    """A seed from a query value, None when absent."""
    if text is None or text == "":
        return None
    if not text.isdigit() or len(text) > 10 or int(text) > SEED_MAX:
        raise BadRequestError(f"seed must be an integer in 0..{SEED_MAX}, got {text[:40]!r}")
    return int(text)


def parse_psi(text: str | None, default: float) -> float:
    """ψ from a query value (finite, in bounds), rounded to PSI_DECIMALS."""
    if text is None or text == "":
        return round(default, PSI_DECIMALS)
    try:
        psi = float(text)
    except ValueError:
        raise BadRequestError(f"psi must be a number, got {text[:40]!r}") from None
    if not PSI_MIN <= psi <= PSI_MAX:  # also rejects nan and inf
        raise BadRequestError(f"psi must be in [{PSI_MIN}, {PSI_MAX}], got {text[:40]!r}")
    return round(psi, PSI_DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0


def allowed_sizes(img_resolution: int) -> tuple[int, ...]:
    """Output sizes a client may ask for."""
    return tuple(sorted({img_resolution, *OUTPUT_SIZES}))


def parse_size(text: str | None, img_resolution: int) -> int:
    """Output size from a query value; the model's resolution when absent."""
    if text is None or text == "":
        return img_resolution
    sizes = allowed_sizes(img_resolution)
    if not text.isdigit() or int(text) not in sizes:
        raise BadRequestError(
            f"size must be one of {', '.join(map(str, sizes))}, got {text[:40]!r}"
        )
    return int(text)


def render_page(seed: int, psi: float, pinned: bool, cfg: ServeConfig) -> str:
    """index.html with the face, ψ and settings filled in (works without JavaScript)."""
    template = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    values = {
        "SEED": str(seed),
        "PSI": f"{psi:.2f}",
        "PSI_MAX": str(PSI_MAX),
        "SEED_MAX": str(SEED_MAX),
        "INTERVAL_S": f"{cfg.interval_s:g}",
        "PINNED": "true" if pinned else "false",
        # without JavaScript, a page that is not pinned reloads itself for the next face
        "NOSCRIPT_REFRESH": ""
        if pinned
        else f'<meta http-equiv="refresh" content="{cfg.interval_s:g}; url=/?psi={psi:.2f}">',
    }
    for name, value in values.items():
        escaped = value if name == "NOSCRIPT_REFRESH" else html.escape(value)
        template = template.replace("{{" + name + "}}", escaped)
    return template


def create_app(
    G: Generator,
    cfg: ServeConfig | None = None,
    cards: CardWriter | None = None,
    tagger_name: str | None = None,
) -> FastAPI:
    """The ASGI app serving faces of G (its renderer is `app.state.renderer`) and their
    cards from `cards` (default: names and stories without tags; `app.state.cards`)."""
    cfg = cfg or ServeConfig()
    renderer = FaceRenderer(
        G, cfg.queue_size, cfg.max_batch, cfg.cache_size, truncation_cutoff=cfg.truncation_cutoff
    )
    card_service = CardService(
        cards or CardWriter(), renderer, G.img_resolution, cfg.queue_size, cfg.cache_size,
        tagger_name,
    )  # fmt: skip

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        renderer.close()

    app = FastAPI(title="waifugan", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.renderer = renderer
    app.state.config = cfg
    app.state.cards = card_service
    _add_error_handlers(app)
    _add_face_routes(app, renderer, cfg, G.img_resolution)
    _add_card_and_health_routes(app, card_service, renderer, cfg, G.img_resolution)
    app.mount("/static", JSONErrors(StaticFiles(directory=STATIC_DIR)), name="static")
    return app


def _required_seed(text: str | None, route: str) -> int:
    seed = parse_seed(text)
    if seed is None:
        raise BadRequestError(f"seed is required, e.g. {route}?seed=42")
    return seed


def _busy(error: OverloadedError) -> JSONResponse:
    return _error(503, f"busy: {error}; retry shortly", {"Retry-After": "1"})


def _add_error_handlers(app: FastAPI) -> None:
    """Every error as JSON `{"error": ...}`: 400 for bad input, 500 without a traceback."""

    @app.exception_handler(BadRequestError)
    async def bad_request(_: Request, error: BadRequestError) -> JSONResponse:
        return _error(400, str(error))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        return _error(error.status_code, str(error.detail))

    @app.exception_handler(Exception)
    async def server_error(_: Request, error: Exception) -> JSONResponse:
        return _error(500, f"internal error ({type(error).__name__}); see the server log")


def _add_face_routes(app: FastAPI, renderer: FaceRenderer, cfg: ServeConfig, res: int) -> None:
    """/ (the page), /api/face and /api/random."""

    @app.get("/", response_class=HTMLResponse)
    async def page(request: Request) -> HTMLResponse:
        query = request.query_params
        seed = parse_seed(query.get("seed"))
        psi = parse_psi(query.get("psi"), cfg.psi)
        pinned = seed is not None
        body = render_page(secrets.randbelow(2**31) if seed is None else seed, psi, pinned, cfg)
        return HTMLResponse(body, headers={"Cache-Control": "no-store"})

    @app.get("/api/face")
    async def face(request: Request) -> Response:
        query = request.query_params
        seed = _required_seed(query.get("seed"), "/api/face")
        key = FaceKey(
            seed, parse_psi(query.get("psi"), cfg.psi), parse_size(query.get("size"), res)
        )
        try:
            rendered = await asyncio.wrap_future(renderer.submit(key))
        except OverloadedError as error:
            return _busy(error)
        headers = {
            "ETag": rendered.etag,
            "Cache-Control": f"public, max-age={FACE_MAX_AGE_S}",
            "X-Seed": str(key.seed),
            "X-Psi": f"{key.psi:.2f}",
        }
        if request.headers.get("if-none-match") == rendered.etag:
            return Response(status_code=304, headers=headers)
        return Response(rendered.png, media_type="image/png", headers=headers)

    @app.get("/api/random")
    async def random_face(request: Request) -> RedirectResponse:
        query = request.query_params
        psi = parse_psi(query.get("psi"), cfg.psi)
        size = parse_size(query.get("size"), res)
        seed = secrets.randbelow(SEED_MAX + 1)
        url = f"/api/face?seed={seed}&psi={psi:.2f}" + (f"&size={size}" if size != res else "")
        return RedirectResponse(url, status_code=307, headers={"Cache-Control": "no-store"})


def _add_card_and_health_routes(
    app: FastAPI, card_service: CardService, renderer: FaceRenderer, cfg: ServeConfig, res: int
) -> None:
    """/api/card and /healthz."""

    @app.get("/api/card")
    async def card(request: Request) -> JSONResponse:
        query = request.query_params
        seed = _required_seed(query.get("seed"), "/api/card")
        psi = parse_psi(query.get("psi"), cfg.psi)
        try:
            found = await card_service.card(seed, psi)
        except OverloadedError as error:
            return _busy(error)
        body = {**found.to_json(), "tagger": card_service.tagger_name}
        return JSONResponse(body, headers={"Cache-Control": f"public, max-age={FACE_MAX_AGE_S}"})

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        return JSONResponse(
            {
                "status": "ok",
                "img_resolution": res,
                "queue": renderer.pending,
                "queue_size": renderer.queue_size,
                "rendered": renderer.rendered,
                "tagger": card_service.tagger_name,
            },
            headers={"Cache-Control": "no-store"},
        )


def serve(
    model: str | os.PathLike[str],
    cfg: ServeConfig | None = None,
    tagger: str | None = None,
    story_model: str | None = None,
) -> None:
    """Load the model (and its tagger: `tagger`, else the one beside the model, else none)
    and run the app under uvicorn until interrupted."""
    cfg = cfg or ServeConfig()
    import uvicorn

    from waifugan import load
    from waifugan.cards.tag import card_writer
    from waifugan.devices import resolve_device

    G = load(model, device=resolve_device(cfg.device))
    writer, tagger_path = card_writer(str(model), tagger, story_model, cfg.device)
    print(f"cards: tags from {tagger_path or 'no tagger (pass --tagger)'}", flush=True)
    app = create_app(G, cfg, writer, tagger_path.name if tagger_path else None)
    uvicorn.run(app, host=cfg.host, port=cfg.port, log_level="info")
