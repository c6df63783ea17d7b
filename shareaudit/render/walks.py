"""Why a share's walk took long, in words: one note per walk that was slow or held back, for the terminal
summary and the HTML report.

Facts only: the walk's time, entries and requests (`Content.walk`), the bounds it reached
(`Content.bounds_hit`, with the values in force from `options.bounds`) and how long it waited for the
request rate limit. A walk is noted when the rate limit held it back for a second or more, when a bound
stopped it, or when it took `SLOW_S` seconds or more whatever the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shareaudit.model import Content, ScanResult
from shareaudit.rules.facts import host_label

SLOW_S = 30.0  # a walk this long is noted even when nothing held it back
RATE_NOTED_S = 1.0  # waiting this long for the rate limit is worth saying

# What each bound means, with the option that moves it and the key of its value in options.bounds.
_BOUNDS = {
    "depth": ("folders deeper than {} levels were not walked", "--max-depth", "max_depth"),
    "entries": ("it stopped at {} entries", "--max-entries", "max_entries"),
    "dir_entries": ("a folder had more than {} entries", "--max-dir-entries", "max_dir_entries"),
    "time": ("its time budget of {} s ran out", "--time-budget", "time_budget"),
    "sniff": ("its budget of {} file reads was used up", "--max-sniff", "max_sniff"),
}


@dataclass(frozen=True, slots=True)
class WalkNote:
    """One share's walk that was slow or held back."""

    host: str
    share: str
    seconds: float
    entries: int
    listings: int | None  # None: a result written before walks counted their requests
    reads: int | None
    reasons: tuple[str, ...]  # what held it back, in words; empty when it was only slow

    @property
    def text(self) -> str:
        """'12.4 s, 21,831 entries, 1,832 listings + 2,167 reads; held back by ...'"""
        parts = [f"{self.seconds:.1f} s", f"{self.entries:,} entries"]
        if self.listings is not None and self.reads is not None:
            parts.append(f"{self.listings:,} listings + {self.reads:,} reads")
        held = "; ".join(self.reasons) if self.reasons else "no bound or rate limit held it back"
        return f"{', '.join(parts)}; {held}"


def _number(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value:,}" if isinstance(value, int | float) else "the set"


def reasons(content: Content, bounds: Mapping[str, object]) -> tuple[str, ...]:
    """What held one walk back: the rate limit's wait, then each bound it reached."""
    found = []
    walk = content.walk
    if walk is not None and walk.rate and walk.rate_waited_s >= RATE_NOTED_S:
        found.append(
            f"the rate limit (--max-rate {_number(walk.rate)}/s) held it back {walk.rate_waited_s:.1f} s"
        )
    for bound in content.bounds_hit:
        text, option, key = _BOUNDS.get(bound, (f"bound {bound} reached{{}}", "", ""))
        value = _number(bounds.get(key)) if key else ""
        found.append(f"{text.format(value)} ({option})" if option else text.format(value))
    return tuple(found)


def walk_notes(result: ScanResult) -> tuple[WalkNote, ...]:
    """The walks of this scan that were slow or held back, slowest first."""
    options_bounds = result.options.get("bounds")
    bounds: Mapping[str, object] = options_bounds if isinstance(options_bounds, Mapping) else {}
    notes = []
    for host in result.hosts:
        for share in host.shares:
            content = share.content
            if content is None:
                continue
            why = reasons(content, bounds)
            if why or content.elapsed_s >= SLOW_S:
                walk = content.walk
                notes.append(
                    WalkNote(
                        host_label(host),
                        share.name,
                        content.elapsed_s,
                        content.entries_seen,
                        walk.listings if walk else None,
                        walk.reads if walk else None,
                        why,
                    )
                )
    return tuple(sorted(notes, key=lambda note: -note.seconds))
