"""Face server under load: requests/s and p50/p95 latency of /api/face at 64 px.

The server (`waifugan serve`, cpu64 network, random weights) runs in its own process on a
free localhost port; this script is the load generator: C concurrent keep-alive clients
send a bounded number of requests. Scenarios:
  /healthz        no generation: the HTTP stack's own cost (baseline)
  cache hits      the same few seeds, already rendered
  cache misses    every request a new seed, at concurrency 1 and C (the worker batches)
Usage: python benchmarks/bench_serve.py [--quick]
"""

from __future__ import annotations

import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import table  # noqa: E402
from waifugan.networks.generator import Generator, GeneratorConfig  # noqa: E402
from waifugan.networks.model_file import save_model  # noqa: E402
from waifugan.train.options import resolve_options  # noqa: E402

QUICK = "--quick" in sys.argv
CONCURRENCY = 8
REQUESTS = 64 if QUICK else 400  # per cached scenario
MISSES = 16 if QUICK else 96  # per miss scenario (each renders a face)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _model(tmp: Path) -> Path:
    torch.manual_seed(0)
    if QUICK:
        cfg = GeneratorConfig(img_resolution=64, z_dim=64, w_dim=64, map_depth=2, channel_max=32)
    else:
        cfg = resolve_options("cpu64", {"data": "-"}, 64).G_config()
    return save_model(Generator(cfg).eval(), tmp / "model.safetensors")


def _load(base: str, paths: list[str], concurrency: int) -> tuple[float, list[float], int]:
    """(requests/s, latencies in s, non-200 count) for GETs of paths by `concurrency` clients."""
    chunks = [paths[i::concurrency] for i in range(concurrency)]

    def client(chunk: list[str]) -> tuple[list[float], int]:
        latencies, errors = [], 0
        with httpx.Client(base_url=base, timeout=120) as http:
            for path in chunk:
                started = time.perf_counter()
                status = http.get(path).status_code
                latencies.append(time.perf_counter() - started)
                errors += status != 200
        return latencies, errors

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(client, chunks))
    elapsed = time.perf_counter() - started
    latencies = [t for lat, _ in results for t in lat]
    return len(paths) / elapsed, latencies, sum(err for _, err in results)


def _row(name: str, concurrency: int, result: tuple[float, list[float], int]) -> list[object]:
    rate, latencies, errors = result
    cuts = statistics.quantiles(latencies, n=20)
    p50_ms, p95_ms = statistics.median(latencies) * 1e3, cuts[18] * 1e3
    return [name, concurrency, len(latencies), f"{rate:.1f}", f"{p50_ms:.1f}", f"{p95_ms:.1f}",
            errors]  # fmt: skip


class _Server:
    """`waifugan serve MODEL` in a subprocess on a free localhost port."""

    def __init__(self, model: Path, *flags: str) -> None:
        port = _free_port()
        self.base = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, "-m", "waifugan", "serve", str(model), "--port", str(port),
               "--device", "cpu", "--queue-size", "256", *flags]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def __enter__(self) -> str:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(self.base + "/healthz", timeout=2)
                return self.base
            except httpx.TransportError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.proc.kill()
                    raise RuntimeError("server did not start") from None
                time.sleep(0.2)

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def _misses(first_seed: int) -> list[str]:
    return [f"/api/face?seed={first_seed + i}&psi=0.7" for i in range(MISSES)]


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp_dir:
        model = _model(Path(tmp_dir))
        with _Server(model) as base:  # defaults: --max-batch 1
            rows = [_row("/healthz (baseline)", CONCURRENCY,
                         _load(base, ["/healthz"] * REQUESTS, CONCURRENCY))]  # fmt: skip
            hits = [f"/api/face?seed={i % 8}&psi=0.7" for i in range(REQUESTS)]
            _load(base, hits[:8], 1)  # render the 8 faces once
            rows.append(_row("face, cache hits", CONCURRENCY, _load(base, hits, CONCURRENCY)))
            rows.append(_row("face, misses, max-batch 1", 1, _load(base, _misses(10_000), 1)))
            result = _load(base, _misses(20_000), CONCURRENCY)
            rows.append(_row("face, misses, max-batch 1", CONCURRENCY, result))
        with _Server(model, "--max-batch", str(CONCURRENCY)) as base:
            _load(base, _misses(30_000)[:CONCURRENCY], CONCURRENCY)  # warm-up
            result = _load(base, _misses(40_000), CONCURRENCY)
            rows.append(_row(f"face, misses, max-batch {CONCURRENCY}", CONCURRENCY, result))
    base_rate = float(rows[0][3])
    for row in rows:
        row.append(f"{float(row[3]) / base_rate:.2f}")
    headers = ["scenario", "clients", "requests", "req/s", "p50 ms", "p95 ms", "non-200",
               "req/s vs /healthz"]  # fmt: skip
    print(table(headers, rows))
    net = "narrow test net" if QUICK else "cpu64 net"
    print(f"\n64 px faces ({net}), server and load generator on one machine "
          f"(they share the cores), keep-alive clients")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
