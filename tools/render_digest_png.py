#!/usr/bin/env python3
"""Render a realistic digest to PNG with headless Chromium, to look at it as a reader would.

    python tools/render_digest_png.py [OUT_DIR] [--db PATH]

Builds a demo database (``digest.demo.build_demo``: recorded PubMed and ClinicalTrials.gov
records plus a week's events) in a temporary folder, previews the digest into OUT_DIR
(default ``./digest-preview``) as .html/.txt/.eml, and screenshots the HTML to
``digest.png`` (and ``digest-1.png``... in screen-sized pages).  With ``--db PATH`` it
previews a copy of that database (e.g. one filled by a crawl) instead.  Needs the Debian ``chromium`` package; not part of the test suite.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from litwatch.config import load_settings, load_watchlist  # noqa: E402
from litwatch.db import open_db  # noqa: E402
from litwatch.digest.demo import build_demo  # noqa: E402
from litwatch.digest.pipeline import run_digest  # noqa: E402
from litwatch.fakes import RECORDINGS  # noqa: E402

# Wide enough for the 680 px mail column plus margins; tall enough for the whole demo.
WINDOW = "1000,4600"
# Pages of a phone-to-laptop mail window, enough to cover the demo digest.
PAGE_WIDTH, PAGE_HEIGHT, PAGES = 760, 1000, 5
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--hide-scrollbars",
]


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="render_digest_png.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir", nargs="?", default="digest-preview", help="where the .html/.txt/.eml and PNGs go")
    parser.add_argument("--db", type=Path, help="preview a copy of this database instead of the demo")
    args = parser.parse_args(argv[1:])
    source_db = args.db
    out = Path(args.out_dir).resolve()
    now = dt.datetime(2026, 11, 16, 12, 0, tzinfo=dt.timezone.utc)
    with tempfile.TemporaryDirectory(prefix="litwatch-demo-") as tmp:
        if source_db:
            shutil.copy(source_db, Path(tmp) / "demo.db")  # a preview writes a ledger row: keep the original as it is
            now = dt.datetime.now(dt.timezone.utc)
        db = open_db(Path(tmp) / "demo.db")
        if not source_db:
            build_demo(db, RECORDINGS, now)
        settings = load_settings({"LITWATCH_DB": str(Path(tmp) / "demo.db")})
        outcome = run_digest(db, settings, load_watchlist(ROOT / "seeds" / "watchlist.toml"), out_dir=out, clock=lambda: now)
        html = next(p for p in outcome.preview_paths.values() if p.suffix == ".html")
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        if not chromium:
            print(f"preview written to {out}; no chromium found for the PNG", file=sys.stderr)
            return 1
        png = out / "digest.png"
        shoot(chromium, html, png, WINDOW, tmp)
        pages = [png]
        # The whole digest at once is too small to read in an image viewer: also shoot it
        # in screen-sized pages, by shifting the body up one page at a time.
        source = html.read_text(encoding="utf-8")
        for i in range(PAGES):
            page_html = out / f".page-{i + 1}.html"
            page_html.write_text(source.replace('<body style="margin:0;', f'<body style="margin:-{i * PAGE_HEIGHT}px 0 0 0;', 1), encoding="utf-8")
            pages.append(out / f"digest-{i + 1}.png")
            shoot(chromium, page_html, pages[-1], f"{PAGE_WIDTH},{PAGE_HEIGHT}", tmp)
            page_html.unlink()
    print(outcome.subject)
    for p in pages:
        print(p)
    return 0


def shoot(chromium: str, html: Path, png: Path, window: str, tmp: str) -> None:
    subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp}/chromium", f"--screenshot={png}", f"--window-size={window}",
         html.as_uri()],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120, env={**os.environ, "HOME": tmp},
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv))
