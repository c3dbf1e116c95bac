"""The HTML part in a real browser: no horizontal scrolling at 320, 390 and 1280 px.

Headless Chromium renders the demo digest (and one with long unbroken words) inside an
iframe of exactly each width (tools/render_digest_png.py) and reports the page's scroll
width and the right edge of every element.  Skipped where Chromium is not installed
(CI installs it: .ci/run).
"""

from __future__ import annotations

import importlib.util
import sys

import pytest
from conftest import FIXTURES, PROJECT_ROOT
from digest_support import NOW

from litwatch import demo_world as world
from litwatch.config import load_watchlist
from litwatch.digest.render import fit
from litwatch.digest.select import select_digest

_spec = importlib.util.spec_from_file_location("render_digest_png", PROJECT_ROOT / "tools" / "render_digest_png.py")
screens = importlib.util.module_from_spec(_spec)
sys.modules["render_digest_png"] = screens
_spec.loader.exec_module(screens)

CHROMIUM = screens.find_chromium()
pytestmark = pytest.mark.skipif(not CHROMIUM, reason="chromium not installed (apt-get install chromium)")


def _demo_html(db) -> str:
    world.build_demo(db, FIXTURES, NOW)
    # A hostile week too: unbroken long words and a long feed link must wrap, not widen the page.
    world.add_publication(db, "41000077", topics=("ketamine-depression",),
                          title="Ketamine" + "-andesketamine" * 12 + " pharmacokinetics",
                          abstract="Supplementary data at https://example.org/" + "x" * 200 + " were analysed.")
    content = select_digest(db, load_watchlist(PROJECT_ROOT / "seeds" / "watchlist.toml"), NOW)
    return fit(content, cap=25)[2]


@pytest.mark.parametrize("width", [320, 390, 1280])
def test_no_horizontal_scroll(db, tmp_path, width):
    html = _demo_html(db)
    size = screens.measure(CHROMIUM, html, width, tmp_path)
    assert size["scrollWidth"] <= width, size
    assert size["maxRight"] <= width, size
    assert size["scrollHeight"] > 1000  # the whole digest was laid out


def test_the_counts_wrap_on_a_phone(db, tmp_path):
    """The five count boxes take two rows at 320 px instead of pushing the page wider."""
    html = _demo_html(db)
    assert html.count('class="lw-box"') == 5 and "display:inline-block" in html
    assert screens.measure(CHROMIUM, html, 320, tmp_path)["scrollWidth"] <= 320


def test_dark_mode_is_declared():
    html = (PROJECT_ROOT / "digest" / "templates" / "digest.html").read_text(encoding="utf-8")
    assert '<meta name="color-scheme" content="light dark">' in html and "prefers-color-scheme: dark" in html
