"""The one-page HTML of the device check, from the same templates as the report (installed or checkout)."""

from __future__ import annotations

from collections.abc import Sequence

from shareaudit.audit.device import Check
from shareaudit.model import ScanResult


def render_device_html(result: ScanResult, found: Sequence[Check], label: str, drop: str | None) -> str:
    """The checklist as HTML (autoescaped: every server string is untrusted)."""
    from shareaudit.render.html import environment  # jinja2: loaded when an HTML page is written

    return (
        environment()
        .get_template("device.html.j2")
        .render(result=result, checks=found, label=label, drop=drop, passed=all(c.passed for c in found))
    )
