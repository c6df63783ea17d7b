"""Coverage rules: targets that were not (fully) scanned, so a failed run never reads as a clean one."""

from __future__ import annotations

from collections.abc import Iterator

from shareaudit.model import ScanResult, Severity
from shareaudit.rules.facts import UNPRIVILEGED, HostFacts, medical_files, medical_summary
from shareaudit.rules.registry import Hit, host_rule, scan_rule
from shareaudit.vantage import kept_out

# options key the CLI sets when a scan is interrupted: the targets never reached.
UNSCANNED = "unscanned_targets"


@scan_rule("target-not-scanned")
def target_not_scanned(result: ScanResult) -> Iterator[Hit]:
    """A target failed to scan, was skipped as invalid, or was never reached (interrupted run)."""
    for host in result.hosts:
        if not host.error:
            continue
        kept = kept_out(result, host)
        if kept:  # nothing answered where nothing should: not a failed target
            yield Hit(
                Severity.INFO,
                f"Not reachable from the untrusted vantage point {', '.join(kept)} ({host.error_kind}: "
                f"{host.error}), as segmentation intends; scan it from a trusted vantage point to learn what it holds.",
                host=host,
            )
            continue
        # Nothing answered: everything about this host is unknown. Partial: some facts are missing.
        nothing = host.posture is None or not host.reachable
        what = "nothing was learned about it" if nothing else "what was gathered before the failure is kept"
        yield Hit(
            Severity.HIGH if nothing else Severity.MEDIUM,
            f"{host.error_kind or 'error'}: {host.error} ({what}).",
            host=host,
        )
    for problem in result.input_problems:
        yield Hit(
            Severity.MEDIUM,
            f"Skipped target entry: {problem}",
            host_label="(target list)",
            identity_key=problem,
        )
    unscanned = result.options.get(UNSCANNED)
    if isinstance(unscanned, list):
        for target in unscanned:
            yield Hit(
                Severity.HIGH,
                "The scan was interrupted before this target was scanned.",
                host_label=str(target),
            )


@host_rule("walk-incomplete")
def walk_incomplete(facts: HostFacts) -> Iterator[Hit]:
    """A share's walk failed part-way (the server went away, stopped answering): what was walked is kept."""
    for share in facts.disk_shares():
        content = share.content
        if content is None or not content.error:
            continue
        found = medical_files(content)
        open_to_anyone = any(facts.can_read(share, label) for label in UNPRIVILEGED)
        evidence = f"Walked as {content.crawled_as}: {content.error}."
        if found:
            evidence += (
                f" Medical data found before it stopped: {medical_summary(content)} (the rest is unknown)."
            )
        yield Hit(Severity.HIGH if found or open_to_anyone else Severity.MEDIUM, evidence, share=share)
