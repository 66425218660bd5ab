"""The page in headless Chromium: a face loads, rotates after the interval, 'Another one' works."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from serve_helpers import running_server

from waifugan.networks.generator import Generator
from waifugan.serve.config import ServeConfig

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).is_file(),
    reason="Debian's chromium is not installed (apt-get install chromium)",
)

FACES_LOADED = """() => {
  const shown = [...document.querySelectorAll('img.face[src]')];
  return shown.length > 0 && shown.every(img => img.complete && img.naturalWidth > 0);
}"""


def record_problems(page: Any) -> list[str]:
    """A list that collects the page's console errors, uncaught errors and HTTP errors."""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on(
        "response",
        lambda r: problems.append(f"{r.status}: {r.url}") if r.status >= 400 else None,
    )
    return problems


def test_page_in_headless_chromium(tiny_G: Generator, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    with (
        running_server(tiny_G, ServeConfig(interval_s=2)) as (url, _),
        sync_api.sync_playwright() as pw,
    ):
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=60_000)
        try:
            page = browser.new_page()
            problems = record_problems(page)
            page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
            page.goto(url + "/", timeout=30_000)
            page.wait_for_function(FACES_LOADED, timeout=15_000)
            first = page.text_content("#seed")
            started = time.monotonic()
            # the page swaps in a new face by itself after the 2 s interval
            page.wait_for_function(
                f"document.querySelector('#seed').textContent !== '{first}'", timeout=10_000
            )
            assert time.monotonic() - started > 1.0
            second = page.text_content("#seed")
            page.wait_for_function(FACES_LOADED, timeout=15_000)
            assert page.get_attribute("#png-link", "href") == f"/api/face?seed={second}&psi=0.70"
            page.click("#another")
            page.wait_for_function(
                f"document.querySelector('#seed').textContent !== '{second}'", timeout=10_000
            )
            page.wait_for_function(FACES_LOADED, timeout=15_000)
            page.screenshot(path=str(tmp_path / "page.png"))
            if os.environ.get("WAIFUGAN_KEEP_SCREENSHOT"):
                page.screenshot(path=os.environ["WAIFUGAN_KEEP_SCREENSHOT"])
            # the permalink shows its face and stays on it (no rotation while pinned)
            page.goto(url + "/?seed=42&psi=0.50", timeout=30_000)
            page.wait_for_function(FACES_LOADED, timeout=15_000)
            time.sleep(2.5)
            assert page.text_content("#seed") == "42"
            assert page.text_content("#psi-shown") == "0.50"
            # the psi slider re-renders the same seed at the new psi
            page.fill("#psi", "1")
            page.dispatch_event("#psi", "change")
            page.wait_for_function(
                "document.querySelector('#png-link').getAttribute('href')"
                " === '/api/face?seed=42&psi=1.00'",
                timeout=10_000,
            )
            page.wait_for_function(FACES_LOADED, timeout=15_000)
        finally:
            browser.close()
    assert (tmp_path / "page.png").stat().st_size > 1000
    assert problems == []
