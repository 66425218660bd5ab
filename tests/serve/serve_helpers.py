"""Test helpers: a tiny generator, a real uvicorn server on a free localhost port, and the
`waifugan serve` command as a subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import torch
import uvicorn
from fastapi import FastAPI

from waifugan.networks.generator import Generator, GeneratorConfig
from waifugan.serve.app import create_app
from waifugan.serve.config import ServeConfig

TINY = GeneratorConfig(
    img_resolution=16, z_dim=32, w_dim=32, map_depth=2, channel_base=512, channel_max=32
)


def make_tiny_G() -> Generator:
    """A randomly initialised 16 px generator (fixed seed), eval mode."""
    torch.manual_seed(0)
    G = Generator(TINY).eval().requires_grad_(False)
    with torch.no_grad():  # a non-zero noise strength so noise handling is exercised
        for name, param in G.named_parameters():
            if name.endswith("noise_strength"):
                param.fill_(0.1)
    return G


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_server(
    G: Generator, cfg: ServeConfig, **app_options: Any
) -> Iterator[tuple[str, FastAPI]]:
    """Serve create_app(G, cfg, **app_options) on 127.0.0.1:<free port>; yields (base URL,
    app)."""
    port = free_port()
    app = create_app(G, cfg, **app_options)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start within 20 s")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass
class ServeCommand:
    """A running `waifugan serve`: its base URL, the first /healthz answer and, once the
    process has been stopped, everything it printed."""

    base: str
    health: httpx.Response
    output: str = ""


@contextmanager
def serve_command(*args: str) -> Iterator[ServeCommand]:
    """Run `waifugan serve ARGS --port <free port>` in a subprocess, wait up to 60 s for
    /healthz to answer, yield it, then terminate it and keep its output."""
    port = free_port()
    cmd = [sys.executable, "-m", "waifugan", "serve", *args, "--port", str(port)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    served = None
    try:
        deadline = time.monotonic() + 60
        while served is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                served = ServeCommand(base, httpx.get(base + "/healthz", timeout=2))
            except httpx.TransportError:
                time.sleep(0.2)
        if served is None:
            proc.terminate()
            output = proc.communicate(timeout=20)[0].decode(errors="replace")
            raise AssertionError(f"`waifugan serve` did not come up:\n{output}")
        yield served
    finally:
        if proc.returncode is None:  # not yet collected above
            proc.terminate()
            output = proc.communicate(timeout=20)[0].decode(errors="replace")
            if served is not None:
                served.output = output
