"""Faces as PNG bytes, rendered on one worker thread behind a bounded queue and an LRU cache.

The web server's event loop never runs the generator: requests hand a `FaceKey` to
`FaceRenderer.submit`, which answers from the cache, joins an identical request already in
flight, or queues the job. When the queue is full it raises `OverloadedError` at once, so a burst
of requests costs a 503 each instead of unbounded memory and latency.
"""

from __future__ import annotations

import hashlib
import io
import queue
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass

import torch
from PIL import Image

from waifugan.networks.generator import Generator
from waifugan.networks.sampling import seeds_to_z, to_uint8


class OverloadedError(Exception):
    """The render queue is full; the client should retry later."""


@dataclass(frozen=True)
class FaceKey:
    """Everything that determines a face's bytes (with the model)."""

    seed: int
    psi: float
    size: int  # output side in px


@dataclass(frozen=True)
class Face:
    """A rendered face: PNG bytes and their strong ETag."""

    png: bytes
    etag: str


_Job = tuple[FaceKey, "Future[Face]"]


class FaceRenderer:
    """Render faces for keys on a background thread; thread-safe `submit`.

    Args:
        G: the generator (eval mode).
        queue_size: jobs that may wait for the worker; more → `OverloadedError`.
        max_batch: jobs the worker renders in one generator call (every call has this many
            rows, so 1 is quickest for a lone request and larger is faster under load).
        cache_size: rendered faces kept (LRU); 0 disables the cache.
        noise_mode: "const" makes a seed always give the same face.
        truncation_cutoff: truncate only the first N of G's ws (None: all), as `G.mapping`.
    """

    def __init__(
        self,
        G: Generator,
        queue_size: int = 16,
        max_batch: int = 1,
        cache_size: int = 512,
        noise_mode: str = "const",
        truncation_cutoff: int | None = None,
    ) -> None:
        self.G = G
        self.truncation_cutoff = truncation_cutoff
        self.max_batch = max(1, max_batch)
        self.cache_size = cache_size
        self.noise_mode = noise_mode
        self._queue: queue.Queue[_Job | None] = queue.Queue(maxsize=max(1, queue_size))
        self._cache: OrderedDict[FaceKey, Face] = OrderedDict()
        self._inflight: dict[FaceKey, Future[Face]] = {}
        self._lock = threading.Lock()
        self.rendered = 0  # faces rendered since start (cache misses)
        self._thread = threading.Thread(target=self._work, name="waifugan-render", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        """Jobs waiting for the worker."""
        return self._queue.qsize()

    @property
    def queue_size(self) -> int:
        """Capacity of the wait queue."""
        return self._queue.maxsize

    def cached(self, key: FaceKey) -> Face | None:
        """The face if it is in the cache (marks it recently used)."""
        with self._lock:
            face = self._cache.get(key)
            if face is not None:
                self._cache.move_to_end(key)
            return face

    def submit(self, key: FaceKey) -> Future[Face]:
        """A future for the face; raises `OverloadedError` when the queue is full."""
        with self._lock:
            face = self._cache.get(key)
            if face is not None:
                self._cache.move_to_end(key)
                done: Future[Face] = Future()
                done.set_result(face)
                return done
            if key in self._inflight:  # a burst for the same face renders it once
                return self._inflight[key]
            future: Future[Face] = Future()
            try:
                self._queue.put_nowait((key, future))
            except queue.Full:
                raise OverloadedError(f"{self._queue.maxsize} faces already waiting") from None
            self._inflight[key] = future
            return future

    def close(self) -> None:
        """Stop the worker after the jobs already queued."""
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            jobs = [job]
            while len(jobs) < self.max_batch:  # take what else is waiting, without blocking
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # re-post the stop signal after this batch
                    break
                jobs.append(more)
            self._finish(jobs)

    def _finish(self, jobs: list[_Job]) -> None:
        keys = [key for key, _ in jobs]
        try:
            faces = self.render(keys)
        except Exception as error:  # noqa: BLE001 - handed to the waiting requests
            faces = None
            failure: BaseException = error
        with self._lock:
            # Counted before any waiter is woken: a client that got its face reads a count
            # that includes it (the event loop answers while this thread still holds the lock).
            self.rendered += len(jobs)
            for i, (key, future) in enumerate(jobs):
                self._inflight.pop(key, None)
                if faces is None:
                    future.set_exception(failure)
                    continue
                future.set_result(faces[i])
                if self.cache_size > 0:
                    self._cache[key] = faces[i]
                    while len(self._cache) > self.cache_size:
                        self._cache.popitem(last=False)

    @torch.no_grad()
    def render(self, keys: Sequence[FaceKey]) -> list[Face]:
        """PNG faces for keys, in one mapping and one synthesis call.

        CPU kernels round differently for different batch sizes, so a face rendered in a
        batch of 3 can differ in the last bit from the same face alone. Batches are therefore
        always padded to `max_batch` rows, and G.mapping applies ψ per row (an elementwise
        lerp): a face's bytes never depend on what it was batched with.
        """
        G = self.G
        pad = self.max_batch - len(keys)
        seeds = [key.seed for key in keys] + [keys[-1].seed] * pad
        psis = [key.psi for key in keys] + [keys[-1].psi] * pad
        psi = torch.tensor(psis, dtype=torch.float32, device=G.device).view(-1, 1, 1)
        z = seeds_to_z(seeds, G.z_dim).to(G.device)
        ws = G.mapping(z, psi=psi, truncation_cutoff=self.truncation_cutoff)
        images = to_uint8(G.synthesis(ws, noise_mode=self.noise_mode))  # [B, H, W, 3]
        return [face_png(image, key.size) for image, key in zip(images, keys, strict=False)]


def face_png(image: object, size: int) -> Face:
    """[H, W, 3] uint8 → PNG at size x size (Lanczos when resized) with a content ETag."""
    pil = Image.fromarray(image)  # type: ignore[arg-type]
    if pil.width != size:
        pil = pil.resize((size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    pil.save(buffer, format="PNG", compress_level=6)
    png = buffer.getvalue()
    return Face(png, '"' + hashlib.sha256(png).hexdigest()[:32] + '"')
