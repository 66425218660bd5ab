"""The card on the page in headless Chromium: it appears under the face and changes with it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from serve_helpers import running_server
from test_serve_browser import CHROMIUM, CHROMIUM_ARGS, FACES_LOADED, record_problems
from tests.cards.helpers import tiny_tagger

from waifugan.cards.card import CardWriter
from waifugan.networks.generator import Generator
from waifugan.serve.config import ServeConfig

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).is_file(),
    reason="Debian's chromium is not installed (apt-get install chromium)",
)

CARD_SHOWN = """(seed) => {
  const card = document.querySelector('#card');
  return !card.hidden && card.dataset.seed === String(seed)
    && document.querySelector('#card-story').textContent.length > 20;
}"""


def test_card_appears_and_changes_with_the_face(tiny_G: Generator) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    writer = CardWriter(tiny_tagger(16))
    with (
        running_server(tiny_G, ServeConfig(interval_s=2), cards=writer) as (url, _),
        sync_api.sync_playwright() as pw,
    ):
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=60_000)
        try:
            page = browser.new_page()
            problems = record_problems(page)
            # a permalink shows its face's card, the same as the API's
            page.goto(url + "/?seed=42&psi=0.50", timeout=30_000)
            page.wait_for_function(FACES_LOADED, timeout=15_000)
            page.wait_for_function(CARD_SHOWN, arg=42, timeout=15_000)
            expected = httpx.get(url + "/api/card?seed=42&psi=0.50", timeout=20).json()
            assert page.text_content("#card-name") == expected["name"]
            assert page.text_content("#card-story") == expected["story"]
            shown_tags = page.locator("#card-tags li").all_text_contents()
            assert len(shown_tags) == len(expected["tags"])
            for item, tag in zip(shown_tags, expected["tags"], strict=True):
                assert item.startswith(tag["tag"].replace("_", " "))
            # the rotating page: the card follows each new face
            page.goto(url + "/", timeout=30_000)
            page.wait_for_function(FACES_LOADED, timeout=15_000)
            first_seed = page.text_content("#seed")
            page.wait_for_function(CARD_SHOWN, arg=int(first_seed or -1), timeout=15_000)
            first_story = page.text_content("#card-story")
            page.wait_for_function(
                f"document.querySelector('#seed').textContent !== '{first_seed}'",
                timeout=10_000,
            )
            second_seed = int(page.text_content("#seed") or -1)
            page.wait_for_function(CARD_SHOWN, arg=second_seed, timeout=15_000)
            assert page.text_content("#card-story") != first_story
            # "Another one" brings another card
            page.click("#another")
            page.wait_for_function(
                f"document.querySelector('#seed').textContent !== '{second_seed}'",
                timeout=10_000,
            )
            page.wait_for_function(
                CARD_SHOWN, arg=int(page.text_content("#seed") or -1), timeout=15_000
            )
        finally:
            browser.close()
    assert problems == []
