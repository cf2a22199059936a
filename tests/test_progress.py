"""Progress: one throttled line for the stack of active loops, bars only on a terminal, silence at verbosity 0."""
from __future__ import annotations

import re
import sys
import time

import pytest
from conftest import tiny_net, tiny_resnet
from conftest import tiny_synthetic as synthetic
from tqdm import tqdm

import dynamic_graphs.progress as progress_module
from dynamic_graphs import modularity_curve, settings
from dynamic_graphs.progress import format_duration, progress
from dynamic_graphs.training import train


class Clock:
    """A stand-in for ``time.monotonic`` that moves only when told; it starts well after any loop that
    ran before (on the real clock or an earlier test's), so every test starts after a pause."""

    latest = 0.0

    def __init__(self) -> None:
        self.now = max(time.monotonic(), Clock.latest) + 10_000.0

    def __call__(self) -> float:
        Clock.latest = max(Clock.latest, self.now)
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(progress_module, "monotonic", fake)
    monkeypatch.setattr(settings, "verbosity", 1)
    monkeypatch.setattr(settings, "progress_interval", 5.0)
    return fake


def printed(capsys) -> list[str]:
    return capsys.readouterr().out.splitlines()


def test_a_loop_prints_once_per_interval_and_a_short_one_not_at_all(clock, capsys):
    for _ in progress(range(4), desc="short"):  # ends within the interval
        clock.advance(1)
    assert printed(capsys) == []
    clock.advance(60)  # a pause: what follows is new work
    for _ in progress(range(12), desc="long"):
        clock.advance(1)
    assert printed(capsys) == ["long 6/12 — 0:05 elapsed, ~0:07 left", "long 11/12 — 0:10 elapsed, ~0:02 left"]


def test_nested_loops_share_one_throttle_and_one_line_shows_the_stack(clock, capsys):
    for _ in progress(range(3), desc="curve net · repeat"):
        for _ in progress(range(10), desc="layer"):
            clock.advance(1)
    lines = printed(capsys)
    assert len(lines) == 5  # 30 s at one line per 5 s, whichever loop ticks (none after the last item)
    # the estimate is the outermost loop's, from its finished repeats only: none during the first
    assert lines[0] == "curve net · repeat 1/3 · layer 6/10 — 0:05 elapsed"
    assert lines[1] == "curve net · repeat 2/3 — 0:10 elapsed, ~0:20 left"  # the outer loop's tick
    assert lines[2] == "curve net · repeat 2/3 · layer 6/10 — 0:15 elapsed, ~0:15 left"  # 10 s a repeat


def test_a_loop_without_a_total_counts_and_the_outer_total_gives_the_estimate(clock, capsys):
    def items():
        yield from range(8)

    for _ in progress(range(2), desc="outer"):
        for _ in progress(items(), desc="batch"):
            clock.advance(1)
    assert printed(capsys)[0] == "outer 1/2 · batch 6 — 0:05 elapsed"


def test_a_counter_updates_closes_and_works_as_a_context_manager(clock, capsys):
    with progress(total=10, desc="pgd attack · examples kept") as counter:
        counter.update(3)
        clock.advance(6)
        counter.update(2)
    assert printed(capsys) == ["pgd attack · examples kept 5/10 — 0:06 elapsed, ~0:06 left"]
    counter.close()  # closing again is harmless
    for _ in progress(range(10), desc="next"):
        clock.advance(1)
    assert printed(capsys) == ["next 6/10 — 0:05 elapsed, ~0:05 left"]  # the counter left the stack


def test_an_item_running_over_the_mean_pace_counts_as_about_to_end(clock, capsys):
    with progress(total=3, desc="slow") as counter:
        clock.advance(2)
        counter.update(1)  # 2 s per unit so far
        clock.advance(10)
        counter.update(0)  # no unit, but a line is due
    assert printed(capsys) == ["slow 1/3 — 0:12 elapsed, ~0:02 left"]  # the last unit at the mean pace


def test_breaking_out_or_raising_leaves_the_stack_empty(clock, capsys):
    for index in progress(range(10), desc="broken"):
        if index == 2:
            break
    with pytest.raises(RuntimeError):
        for _ in progress(range(10), desc="failed"):
            raise RuntimeError("boom")
    with pytest.raises(RuntimeError):
        with progress(range(10), desc="held") as loop:
            for _ in loop:
                raise RuntimeError("boom")
    for _ in progress(range(10), desc="after"):
        clock.advance(1)
    assert printed(capsys) == ["after 6/10 — 0:05 elapsed, ~0:05 left"]


def test_verbosity_zero_prints_nothing(clock, capsys):
    settings.verbosity = 0
    for _ in progress(range(20), desc="quiet"):
        clock.advance(1)
    assert capsys.readouterr() == ("", "")


def test_bars_only_at_verbosity_two_on_a_terminal(clock, monkeypatch):
    assert not isinstance(progress(range(3), desc="lines"), tqdm)
    settings.verbosity = 2
    assert not isinstance(progress(range(3), desc="a log, not a terminal"), tqdm)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    bar = progress(range(3), desc="terminal")
    assert isinstance(bar, tqdm) and list(bar) == [0, 1, 2]
    settings.verbosity = 1
    assert not isinstance(progress(range(3), desc="lines"), tqdm)


def test_desc_must_name_the_loop():
    with pytest.raises(TypeError, match="desc must be a string"):
        progress(range(3), desc=None)


def test_durations_read_as_a_clock():
    assert [format_duration(s) for s in (0, 59.6, 61, 3725, -3)] == ["0:00", "1:00", "1:01", "1:02:05", "0:00"]


def test_a_curve_reports_its_repeats_and_layers(clock, capsys):
    settings.progress_interval = 0.0  # every tick prints
    modularity_curve(tiny_net(), synthetic("test", n=40), layers=["2", "4"], n=12, repeats=2, device="cpu")
    lines = printed(capsys)
    assert "curve Sequential · repeat 2/2 · layer 2/2 — " in "\n".join(lines)
    assert any(re.match(r"curve Sequential · repeat 1/2 · layer 1/2 · features · batch 1/1 — ", line)
               for line in lines), lines


def test_the_epoch_line_says_the_time_per_epoch_and_the_expected_finish(monkeypatch, capsys):
    monkeypatch.setattr(settings, "verbosity", 1)
    train(tiny_resnet(), synthetic("train", n=32), device="cpu", epochs=2, batch_size=16, lr=0.01, milestones=[],
          weight_decay=0.0)
    lines = [line for line in printed(capsys) if line.startswith("epoch")]
    assert len(lines) == 2
    assert re.search(r"s · 0:0\d per epoch, ~\d+ s left \(finish ~\d\d:\d\d\)$", lines[0]), lines[0]
    assert re.search(r"s · 0:0\d per epoch$", lines[1]), lines[1]


def test_a_loop_right_after_another_continues_its_clock_and_one_after_a_pause_starts_anew(clock, capsys):
    for _ in progress(range(4), desc="training"):
        clock.advance(1)
    for _ in progress(range(4), desc="evaluation"):  # 4 s of training, then at once 1 s of evaluation
        clock.advance(1)
    assert printed(capsys) == ["evaluation 2/4 — 0:01 elapsed, ~0:03 left"]
    clock.advance(60)  # a pause: the next loop is new work
    for _ in progress(range(4), desc="later"):
        clock.advance(1)
    assert printed(capsys) == []
