"""The E-utilities rate as a sliding window (``crawler.rate_window``), on an injected clock.

The end-to-end check (two crawl processes one after the other, the fake refusing the
11th request in any second) is in test_pubmed_crawl.py; here the rule itself."""

from __future__ import annotations

import os

import pytest

from litwatch.crawler import eutils
from litwatch.crawler.rate_window import RateWindow, shared_path


class Clock:
    def __init__(self, t: float = 1000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def most_in_any(starts: list[float], span: float) -> int:
    return max(sum(1 for t in starts if s <= t < s + span) for s in starts)


def run_requests(windows: list[RateWindow], clock: Clock, n: int) -> list[float]:
    """Start ``n`` requests as fast as the windows allow, round robin over them."""
    starts = []
    i = 0
    while len(starts) < n:
        window = windows[i % len(windows)]
        if window.take():
            starts.append(clock.t)
            i += 1
        else:
            clock.t += window.wait()
    return starts


def test_a_burst_goes_at_once_and_the_next_waits_for_the_window():
    clock = Clock()
    window = RateWindow(10, 1.15, clock)
    starts = run_requests([window], clock, 25)
    assert starts[:10] == [1000.0] * 10  # the crawl's first chain of searches does not wait
    assert starts[10] == pytest.approx(1001.15) and starts[20] == pytest.approx(1002.30)
    assert most_in_any(starts, 1.15) == 10


def test_no_more_than_the_limit_in_any_window_whatever_the_pattern():
    clock = Clock()
    window = RateWindow(3, eutils.RATE_MARGIN, clock)
    starts = []
    for step in [0.0, 0.01, 0.4, 0.2, 0.9, 0.05, 0.05, 1.3, 0.0, 0.3] * 5:
        clock.t += step
        while not window.take():
            clock.t += window.wait()
        starts.append(clock.t)
    assert most_in_any(starts, eutils.RATE_MARGIN) <= 3
    # so arrivals up to 0.15 s apart from their starts' spacing stay <= 3 in any second
    jittered = [t + (0.15 if i % 2 else 0.0) for i, t in enumerate(starts)]
    assert most_in_any(sorted(jittered), 1.0) <= 3


def test_processes_sharing_the_file_share_one_budget(tmp_path):
    """Two crawls (here two windows on one file) together keep the rate, as NCBI counts
    per address: a second crawl started right after the first cannot start a fresh burst."""
    clock = Clock()
    path = str(tmp_path / "rate")
    first, second = RateWindow(10, 1.15, clock, path=path), RateWindow(10, 1.15, clock, path=path)
    starts = run_requests([first, second], clock, 30)
    assert most_in_any(starts, 1.15) == 10
    # without the file each would have allowed its own 10
    alone = [RateWindow(10, 1.15, clock), RateWindow(10, 1.15, clock)]
    assert most_in_any(run_requests(alone, clock, 30), 1.15) == 20


def test_a_damaged_file_or_times_from_before_a_reboot_do_not_stop_the_crawl(tmp_path):
    clock = Clock(5.0)  # CLOCK_MONOTONIC restarts at boot: a stored 900.0 is from before
    path = tmp_path / "rate"
    path.write_text("garbage 900.0 901.5 nan-ish\n")
    window = RateWindow(3, 1.15, clock, path=str(path))
    assert [window.take() for _ in range(4)] == [True, True, True, False]
    assert window.wait() == pytest.approx(1.15)


def test_the_shared_file_is_one_per_service_host():
    ncbi = shared_path("https://eutils.ncbi.nlm.nih.gov/entrez/eutils/")
    assert ncbi == shared_path("https://EUTILS.ncbi.nlm.nih.gov/other/")
    assert ncbi != shared_path("http://127.0.0.1:8123/entrez/eutils/")
    # the fakes of the tests, on any port, leave one file, not one per port
    assert shared_path("http://127.0.0.1:8123/") == shared_path("http://127.0.0.1:40111/")


def test_a_window_needs_a_limit_and_a_span():
    with pytest.raises(ValueError):
        RateWindow(0, 1.0)
    with pytest.raises(ValueError):
        RateWindow(3, 0)


def test_a_shared_file_that_cannot_be_used_leaves_the_window_to_this_process(tmp_path, caplog):
    """A read-only or missing temporary directory must not fail a crawl."""
    clock = Clock()
    window = RateWindow(3, 1.15, clock, path=str(tmp_path / "no-such-dir" / "rate"))
    assert [window.take() for _ in range(4)] == [True, True, True, False]
    assert window.wait() == pytest.approx(1.15)
    assert "counting this process's requests only" in caplog.text


def test_a_link_planted_in_place_of_the_file_is_not_followed(tmp_path, caplog):
    """The file lives in the shared temporary directory: a symbolic link someone put there
    must not make the crawl write its start times into the link's target."""
    target = tmp_path / "precious"
    target.write_text("keep me\n")
    link = tmp_path / "rate"
    link.symlink_to(target)
    clock = Clock()
    window = RateWindow(3, 1.15, clock, path=str(link))
    assert [window.take() for _ in range(4)] == [True, True, True, False]
    assert target.read_text() == "keep me\n"
    assert "counting this process's requests only" in caplog.text


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to give the file to another user")
def test_another_users_file_in_its_place_is_not_used(tmp_path, caplog):
    path = tmp_path / "rate"
    path.write_text("")
    os.chown(path, 65534, 65534)  # nobody's
    window = RateWindow(3, 1.15, Clock(), path=str(path))
    assert [window.take() for _ in range(4)] == [True, True, True, False]
    assert path.read_text() == "" and "not this user's own file" in caplog.text
