#!/usr/bin/env python3
"""Render the digest in headless Chromium at phone and desktop widths, to look at it as a reader would.

    python tools/render_digest_png.py [OUT_DIR] [--db PATH] [--width W ...]

Builds the demo world (``litwatch.demo_world.build_demo``: recorded and demo records
stored through the crawl's own parsers and writers, plus a week's events) in a temporary
folder, previews the digest into OUT_DIR (default ``./digest-preview``) as .html/.txt/.eml,
and captures the whole HTML part, however long, at each width (default 320, 390 and
1280 px) as ``digest-<W>.png`` (``digest-<W>-2.png``... when taller than one image can
be).  It prints each width's measured page width: wider than the screen means the reader
scrolls sideways.  With ``--db PATH`` it previews a copy of that database instead.  Needs
Debian's ``chromium``.

Chromium's headless window has a minimum width, so each width is rendered inside an
iframe of exactly that width (``srcdoc``: same origin, so a script can measure it).
"""

from __future__ import annotations

import datetime as dt
import html as html_lib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WIDTHS = (320, 390, 1280)
# Taller screenshots than this are cut into pages (GPU texture limits of a headless window).
MAX_SHOT_HEIGHT = 12_000
# A window narrower than this is widened by Chromium anyway; the iframe keeps the width.
MIN_WINDOW = 500
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--hide-scrollbars", "--disable-quic",
    "--force-device-scale-factor=1",
]
_MEASURE_JS = """
<script>
const f = document.getElementById('digest');
f.addEventListener('load', () => {
  const d = f.contentDocument.documentElement;
  let right = 0;
  for (const e of f.contentDocument.querySelectorAll('body *')) {
    const r = e.getBoundingClientRect();
    if (r.width > 0) right = Math.max(right, r.right);
  }
  const out = {scrollWidth: d.scrollWidth, scrollHeight: d.scrollHeight, maxRight: Math.ceil(right),
               clientWidth: d.clientWidth};
  document.getElementById('result').textContent = JSON.stringify(out);
});
</script>
"""


def find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def wrapper(html: str, width: int, height: int = 800, shift: int = 0, measure: bool = False) -> str:
    """A page holding the digest in an iframe ``width`` px wide (moved up by ``shift`` px)."""
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'></head>"
        "<body style='margin:0;padding:0;background:#888;overflow:hidden;'>"
        f"<div style='width:{width}px;height:{height}px;overflow:hidden;'>"
        f"<iframe id='digest' scrolling='no' style='display:block;border:0;width:{width}px;height:{height + shift}px;"
        f"margin-top:-{shift}px;' srcdoc=\"{html_lib.escape(html, quote=True)}\"></iframe></div>"
        "<pre id='result'></pre>" + (_MEASURE_JS if measure else "") + "</body></html>"
    )


def _run(chromium: str, args: list[str], tmp: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp / 'chromium'}", *args],
        capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": str(tmp)}, check=True,
    )


def measure(chromium: str, html: str, width: int, tmp: str | Path) -> dict:
    """{scrollWidth, scrollHeight, maxRight, clientWidth} of the digest shown ``width`` px wide."""
    tmp = Path(tmp)
    page = tmp / f"measure-{width}.html"
    page.write_text(wrapper(html, width, measure=True), encoding="utf-8")
    proc = _run(chromium, ["--virtual-time-budget=5000", f"--window-size={max(width, MIN_WINDOW)},800", "--dump-dom",
                           page.as_uri()], tmp)
    found = re.search(r"<pre id=\"result\">(.*?)</pre>", proc.stdout, re.S)
    if not found or not found.group(1).strip():
        raise RuntimeError(f"chromium did not measure the page at {width} px")
    return json.loads(html_lib.unescape(found.group(1)))


def shoot(chromium: str, html: str, width: int, out: Path, tmp: str | Path) -> list[Path]:
    """The whole digest at ``width`` px as PNG(s): one image, or pages when it is very tall."""
    tmp = Path(tmp)
    height = measure(chromium, html, width, tmp)["scrollHeight"]
    pngs = []
    for i, top in enumerate(range(0, height, MAX_SHOT_HEIGHT)):
        part = min(MAX_SHOT_HEIGHT, height - top)
        page = tmp / f"shot-{width}-{i}.html"
        page.write_text(wrapper(html, width, part, shift=top), encoding="utf-8")
        png = out / (f"digest-{width}.png" if i == 0 else f"digest-{width}-{i + 1}.png")
        _run(chromium, ["--virtual-time-budget=5000", f"--window-size={max(width, MIN_WINDOW)},{part}",
                        f"--screenshot={png}", page.as_uri()], tmp)
        pngs.append(png)
    return pngs


def main(argv: list[str]) -> int:
    import argparse

    from litwatch.config import load_settings, load_watchlist
    from litwatch.db import open_db
    from litwatch.demo_world import build_demo
    from litwatch.digest.pipeline import run_digest
    from litwatch.fakes import RECORDINGS

    parser = argparse.ArgumentParser(prog="render_digest_png.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir", nargs="?", default="digest-preview", help="where the .html/.txt/.eml and PNGs go")
    parser.add_argument("--db", type=Path, help="preview a copy of this database instead of the demo")
    parser.add_argument("--width", type=int, action="append", help="screen width in px (repeatable; default 320, 390, 1280)")
    args = parser.parse_args(argv[1:])
    out = Path(args.out_dir).resolve()
    now = dt.datetime(2026, 11, 16, 12, 0, tzinfo=dt.timezone.utc)
    with tempfile.TemporaryDirectory(prefix="litwatch-demo-") as tmp:
        if args.db:
            shutil.copy(args.db, Path(tmp) / "demo.db")  # a preview writes a ledger row: keep the original as it is
            now = dt.datetime.now(dt.timezone.utc)
        db = open_db(Path(tmp) / "demo.db")
        if not args.db:
            build_demo(db, RECORDINGS, now)
        settings = load_settings({"LITWATCH_DB": str(Path(tmp) / "demo.db")})
        outcome = run_digest(db, settings, load_watchlist(ROOT / "seeds" / "watchlist.toml"), out_dir=out, clock=lambda: now)
        print(outcome.subject)
        for path in outcome.preview_paths.values():
            print(path)
        chromium = find_chromium()
        if not chromium:
            print("no chromium found for the PNGs (apt-get install chromium)", file=sys.stderr)
            return 1
        for width in args.width or WIDTHS:
            size = measure(chromium, outcome.html, width, tmp)
            scrolls = "SCROLLS SIDEWAYS" if max(size["scrollWidth"], size["maxRight"]) > width else "no horizontal scroll"
            print(f"{width} px: page {size['scrollWidth']} px wide, {size['scrollHeight']} px tall: {scrolls}")
            for png in shoot(chromium, outcome.html, width, out, tmp):
                print(png)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
