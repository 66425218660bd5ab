"""Character cards for the page: the face comes from the FaceRenderer (its cache and its
bounded queue), the tags and story from a CardWriter on a worker thread, behind an LRU cache
and a bound on cards in progress (more → `OverloadedError`, a 503 like busy faces).
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections import OrderedDict

import numpy as np
from PIL import Image

from waifugan.cards.card import Card, CardWriter
from waifugan.serve.render import FaceKey, FaceRenderer, OverloadedError


class CardService:
    """Cards by (seed, ψ) for a renderer's faces; safe to call from the event loop."""

    def __init__(
        self,
        writer: CardWriter,
        renderer: FaceRenderer,
        img_resolution: int,
        max_pending: int = 16,
        cache_size: int = 512,
        tagger_name: str | None = None,
    ) -> None:
        self.writer = writer
        self.renderer = renderer
        self.img_resolution = img_resolution
        self.max_pending = max_pending
        self.cache_size = cache_size
        self.tagger_name = tagger_name  # shown in /healthz and the card JSON
        self._cache: OrderedDict[tuple[int, float], Card] = OrderedDict()
        self._lock = threading.Lock()  # the cache and the pending count (held briefly)
        self._tagger_lock = threading.Lock()  # one tagger call at a time, off the event loop
        self._pending = 0

    async def card(self, seed: int, psi: float) -> Card:
        """The card of the face at (seed, ψ); raises OverloadedError when too many wait."""
        key = (seed, psi)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
            if self._pending >= self.max_pending:
                raise OverloadedError(f"{self._pending} cards already being written")
            self._pending += 1
        try:
            face = await asyncio.wrap_future(
                self.renderer.submit(FaceKey(seed, psi, self.img_resolution))
            )
            card = await asyncio.to_thread(self._write, seed, psi, face.png)
        finally:
            with self._lock:
                self._pending -= 1
        with self._lock:
            if self.cache_size > 0:
                self._cache[key] = card
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return card

    def _write(self, seed: int, psi: float, png: bytes) -> Card:
        # the PNG is lossless: these are exactly the pixels G drew and the page shows
        image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))[None]
        with self._tagger_lock:
            tags = self.writer.tags(image)[0]
        return self.writer.card(seed, psi, tags)
