"""The HTML report: one self-contained file (inline CSS and script, no network) from templates/.

Every string from a server is untrusted. Templates are autoescaped; the findings reach the page's
script as JSON inside `<script type="application/json">`, escaped so that no `<`, `>` or `&` appears
in it, and the script inserts them with textContent only. A Content-Security-Policy allows no network
access and no script but ours (by its sha256), so even a mistake cannot load or run anything else.

Templates: an installed package carries them as `shareaudit/templates/` (copied there at build time by
setup.py); a checkout or an editable install reads the repository's top-level `templates/`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from jinja2 import Environment, FunctionLoader, StrictUndefined
from markupsafe import Markup

from shareaudit.classify.table import default_table
from shareaudit.errors import ShareauditError
from shareaudit.model import Access, Content, Finding, HostResult, ScanResult, Severity, Share, VantagePoint
from shareaudit.render.estate import TrendPoint
from shareaudit.render.nfs import NfsView, absent_nfs, nfs_views
from shareaudit.render.output import write_atomically
from shareaudit.render.plan import top_view
from shareaudit.render.services import DicomView, FtpView, absent_notes, dicom_views, ftp_views
from shareaudit.render.terminal import access_marks
from shareaudit.render.vantage import ReachTable, reach_tables, vantage_line
from shareaudit.render.walks import WalkNote, walk_notes
from shareaudit.rules import PLATFORMS, SEVERITIES, detect_platform, severity_rank
from shareaudit.rules.facts import UNPRIVILEGED, host_label
from shareaudit.rules.platform import PLATFORM_NAMES

WORST = 10  # findings listed in the summary
# Options shown first, with a readable label; any other key is shown under its own name.
OPTION_LABELS: dict[str, str] = {
    "active_write_probe": "Active write probe (files created and deleted)",
    "crawl": "Shares walked for medical data",
    "sniff": "Content sniffing (first bytes of files read)",
    "show_names": "Patient-like names shown (--show-names)",
    "bounds": "Walk bounds",
    "include_shares": "Only these shares",
    "exclude_shares": "Never these shares",
    "protocols": "Doors looked at (--protocols)",
    "dicom": "DICOM ports, called AE titles tried first, studies counted at most",
    "ftp": "FTP ports (990: implicit FTPS)",
    "timeout": "Timeout (seconds)",
    "max_hosts": "Hosts scanned at once",
    "run_by": "Run by",
}
# The options an auditor must see at a glance, and whether "on" deserves attention.
_BADGES = (
    ("active_write_probe", "Active write probe", True),
    ("crawl", "Crawl", False),
    ("sniff", "Content sniffing", False),
    ("show_names", "Show names (--show-names)", True),
)
# What may never appear raw inside a <script> element: "</script>", "<!--". The line separators U+2028
# and U+2029 (line ends to old JavaScript parsers) cannot: ensure_ascii escapes every non-ASCII character.
_SCRIPT_ESCAPES = (
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("&", "\\u0026"),
)


class TemplatesMissing(ShareauditError):
    """Neither the installed package nor the checkout has the report templates."""


def template_root() -> Traversable:
    """Where the templates are: the installed package's copy, else the checkout's templates/."""
    packaged = resources.files("shareaudit") / "templates"
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[2] / "templates"
    if checkout.is_dir():
        return checkout
    raise TemplatesMissing("the HTML report templates are missing from this installation")


def environment(root: Traversable | None = None) -> Environment:
    """A jinja2 environment over the report templates, autoescaping everything."""
    base = root or template_root()

    def load(name: str) -> tuple[str, str, object] | None:
        parts = name.split("/")
        if name.startswith("/") or ".." in parts:
            return None
        item = base.joinpath(*parts)
        if not item.is_file():
            return None
        return item.read_text(encoding="utf-8"), str(item), lambda: True

    return Environment(
        loader=FunctionLoader(load),  # type: ignore[arg-type]  # jinja2's stub wants a narrower tuple
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=False,
        keep_trailing_newline=False,
    )


def script_json(data: object) -> Markup:
    """JSON that is safe inside a <script> element: no <, >, & and nothing but ASCII in it."""
    # ensure_ascii: a lone surrogate in a hostile name becomes \udXXX instead of failing to encode.
    text = json.dumps(data, ensure_ascii=True, separators=(",", ":"))
    for raw, escaped in _SCRIPT_ESCAPES:
        text = text.replace(raw, escaped)
    return Markup(text)  # safe by construction: nothing in it can end the element or open markup


def _trusted_asset(env: Environment, name: str, closing: str) -> Markup:
    """Our own CSS or script file, inlined verbatim (it must not contain its element's closing tag)."""
    assert env.loader is not None
    source = env.loader.get_source(env, name)[0]
    if closing in source.lower():
        raise TemplatesMissing(f"{name} contains {closing!r}")
    return Markup(source)


# --- the view the templates read --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SeverityCount:
    """One summary card."""

    name: str
    count: int


@dataclass(frozen=True, slots=True)
class Badge:
    """One option the auditor must see at a glance."""

    label: str
    state: str
    on: bool


@dataclass(frozen=True, slots=True)
class IdentityRow:
    """An identity of the scan (never its password: the result has none)."""

    label: str
    kind: str
    account: str


@dataclass(frozen=True, slots=True)
class Cell:
    """One square of the access matrix."""

    marks: str
    css: str
    title: str


@dataclass(frozen=True, slots=True)
class MatrixRow:
    """A share and its cells, one per identity."""

    share: Share
    cells: tuple[Cell, ...]


@dataclass(frozen=True, slots=True)
class HostView:
    """A host as its section shows it."""

    host: HostResult
    label: str
    platform: str | None
    counts: tuple[tuple[str, int], ...]
    labels: tuple[str, ...]
    rows: tuple[MatrixRow, ...]
    logon_notes: tuple[str, ...]
    claim_notes: tuple[str, ...] = ()  # rights the server claimed that are not reported, and why
    dicom: tuple[DicomView, ...] = ()  # DICOM ports that answered, beside the SMB matrix
    ftp: tuple[FtpView, ...] = ()  # FTP ports that answered
    absent: tuple[str, ...] = ()  # protocols looked for and not found (SMB absent, DICOM ports closed)
    nfs: tuple[NfsView, ...] = ()  # rpcbind and NFS ports that answered, with their exports
    reach: ReachTable | None = None  # a merged result: each door by the vantage points that scanned the host


def _claim_notes(host: HostResult) -> tuple[str, ...]:
    """One line per share and reason: which claimed rights of which identities are not reported."""
    notes = []
    for share in host.shares:
        by_reason: dict[str, tuple[set[str], list[str]]] = {}
        for label, access in share.access.items():
            for right, reason in access.why.items():
                rights, labels = by_reason.setdefault(reason, (set(), []))
                rights.add(right.replace("_", " "))
                if label not in labels:
                    labels.append(label)
        for reason, (rights, labels) in by_reason.items():
            notes.append(f"{share.name}: {', '.join(sorted(rights))} for {', '.join(labels)}: {reason}")
    return tuple(notes)


@dataclass(frozen=True, slots=True)
class TypeRow:
    """One medical file type on a share."""

    id: str
    label: str
    count: int
    bytes: int
    confidence: str
    extrapolated: int = 0  # of count: counted from a sample of like files, not read
    sample: int = 0  # files read as that sample


@dataclass(frozen=True, slots=True)
class InventoryItem:
    """A share with medical data, for the inventory section."""

    host: str
    share: Share
    content: Content
    types: tuple[TypeRow, ...]
    readers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Report:
    """Everything the templates show, computed once from the result and its findings."""

    tool: str
    schema: str
    started_at: str
    finished_at: str
    generated_at: str
    run_by: str
    hosts_total: int
    hosts_ok: int
    hosts_failed: int
    findings_total: int
    accepted: int  # findings marked as accepted risks (suppressed)
    accepted_risks: tuple[Finding, ...]  # shown in their own section, with reason, owner and expiry
    severities: tuple[SeverityCount, ...]
    badges: tuple[Badge, ...]
    identities: tuple[IdentityRow, ...]
    worst: tuple[Finding, ...]
    hosts: tuple[HostView, ...]
    inventory: tuple[InventoryItem, ...]
    walked: int
    walks: tuple[WalkNote, ...]  # walks that were slow or held back, and why
    options: tuple[tuple[str, str, object], ...]
    input_problems: tuple[str, ...]
    vantage_line: str | None = None  # a labelled run: where it ran from
    vantages: tuple[VantagePoint, ...] = ()  # the runs a merged result is made of


def _cell(access: Access | None, share: Share, label: str) -> Cell:
    marks = access_marks(access, share)
    if marks == "":
        css, title = "na", "not measured"
    elif marks == "-":
        css, title = "deny", f"{label}: refused ({access.status if access else ''})"
    elif marks in ("c", "·"):
        css, title = "conn", f"{label}: connects" + (", no rights on the root" if marks == "·" else "")
    else:
        css = "own" if any(m in marks for m in "PO") else "write" if any(m in marks for m in "WD") else "read"
        title = f"{label}: {marks}"
    if access is not None and access.why:
        # Rights the server claimed but cannot honour (or that are uncertain), with the reason.
        title += "".join(f"; {right.replace('_', ' ')}: {reason}" for right, reason in access.why.items())
    if label in UNPRIVILEGED and css in ("read", "write", "own"):
        css += " open"
    return Cell(marks, css, title)


def _logon_notes(host: HostResult) -> tuple[str, ...]:
    notes = []
    for attempt in host.logons:
        if not attempt.accepted:
            notes.append(f"{attempt.identity}: logon refused ({attempt.status})")
        elif attempt.route == "mapped_to_guest":
            notes.append(f"{attempt.identity}: unknown to the server, let in as guest")
    return tuple(notes)


def _host_view(host: HostResult, labels: tuple[str, ...], by_host: Mapping[str, Counter[str]]) -> HostView:
    label = host_label(host)
    counts = by_host.get(label, Counter())
    platform = detect_platform(host.posture)
    rows = tuple(
        MatrixRow(share, tuple(_cell(share.access.get(ident), share, ident) for ident in labels))
        for share in host.shares
    )
    return HostView(
        host=host,
        label=label,
        platform=PLATFORMS.get(platform, platform) if platform else None,
        counts=tuple((sev, counts[sev]) for sev in SEVERITIES if counts[sev]),
        labels=labels,
        rows=rows if any(share.access for share in host.shares) else (),
        logon_notes=_logon_notes(host),
        claim_notes=_claim_notes(host),
        dicom=dicom_views(host),
        ftp=ftp_views(host),
        absent=absent_notes(host) + absent_nfs(host),
        nfs=nfs_views(host),
    )


def _type_label(type_id: str) -> str:
    types = default_table().types
    return types[type_id].label if type_id in types else type_id


def _inventory(result: ScanResult) -> tuple[InventoryItem, ...]:
    items = []
    for host in result.hosts:
        for share in host.shares:
            content = share.content
            if content is None or not content.medical:
                continue
            types = tuple(
                TypeRow(
                    type_id,
                    _type_label(type_id),
                    count.count,
                    count.bytes,
                    count.confidence,
                    count.extrapolated,
                    count.sample,
                )
                for type_id, count in sorted(content.medical.items(), key=lambda kv: (-kv[1].count, kv[0]))
            )
            readers = tuple(
                label
                for label, access in share.access.items()
                if access.connect and (access.read or access.list)
            )
            items.append(InventoryItem(host_label(host), share, content, types, readers))
    return tuple(items)


def _options(options: Mapping[str, object]) -> tuple[tuple[str, str, object], ...]:
    known = [(key, label, options[key]) for key, label in OPTION_LABELS.items() if key in options]
    rest = [(key, key, value) for key, value in sorted(options.items()) if key not in OPTION_LABELS]
    return tuple(known + rest)


def _badges(options: Mapping[str, object]) -> tuple[Badge, ...]:
    badges = []
    for key, label, attention in _BADGES:
        value = options.get(key)
        state = "not recorded" if value is None else "ON" if value else "off"
        badges.append(Badge(label, state, bool(attention and value)))
    return tuple(badges)


def _counts_by_host(findings: Iterable[Finding]) -> dict[str, Counter[str]]:
    """Findings per severity, per host label: counted once, not once per host (a /16 has 65,536 hosts)."""
    counts: dict[str, Counter[str]] = {}
    for finding in findings:
        counts.setdefault(finding.host, Counter())[finding.severity] += 1
    return counts


def report_view(result: ScanResult, generated_at: str | None = None) -> Report:
    """The numbers, tables and lists the templates show."""
    findings = result.findings
    active = tuple(f for f in findings if f.suppressed is None)  # accepted risks are not counted
    by_severity = Counter(f.severity for f in active)
    labels = tuple(i.label for i in result.identities)
    failed = sum(1 for h in result.hosts if h.error)
    run_by = result.options.get("run_by")
    reach = {id(table.host): table for table in reach_tables(result)}
    by_host = _counts_by_host(active)
    return Report(
        tool=f"{result.tool.name} {result.tool.version}",
        schema=result.schema,
        started_at=result.started_at,
        finished_at=result.finished_at,
        generated_at=generated_at or datetime.now(UTC).isoformat(timespec="seconds"),
        run_by=run_by if isinstance(run_by, str) else "",
        hosts_total=len(result.hosts),
        hosts_ok=len(result.hosts) - failed,
        hosts_failed=failed,
        findings_total=len(findings),
        accepted=len(findings) - len(active),
        accepted_risks=tuple(f for f in findings if f.suppressed is not None),
        severities=tuple(SeverityCount(sev, by_severity[sev]) for sev in SEVERITIES),
        badges=_badges(result.options),
        identities=tuple(
            IdentityRow(i.label, i.kind, f"{i.domain}\\{i.username}" if i.domain else i.username)
            for i in result.identities
        ),
        worst=tuple(f for f in active if f.severity != Severity.INFO)[:WORST],
        hosts=tuple(
            replace(_host_view(host, labels, by_host), reach=reach.get(id(host))) for host in result.hosts
        ),
        inventory=_inventory(result),
        walked=sum(1 for h in result.hosts for s in h.shares if s.content is not None),
        walks=walk_notes(result),
        options=_options(result.options),
        input_problems=result.input_problems,
        vantage_line=vantage_line(result),
        vantages=result.vantages if result.vantage is None else (),
    )


# --- the data the findings browser reads ------------------------------------------------------------------
# Remediation steps differ between findings mostly by the share name, the host and its address. Each
# occurrence of those is replaced by a marker character, so that the steps of 10,000 findings fall back
# to a few hundred distinct texts; the script puts the finding's own values back. Lossless: a text or
# value that already contains a marker character is stored verbatim, behind MARK_VERBATIM.
MARK_SHARE, MARK_ADDRESS, MARK_HOST, MARK_VERBATIM = "\ue000", "\ue001", "\ue002", "\ue003"
_MARKS = (MARK_SHARE, MARK_ADDRESS, MARK_HOST, MARK_VERBATIM)


_ANY_MARK = re.compile("[" + "".join(_MARKS) + "]")


def templated(text: str, share: str | None, address: str | None, host: str | None) -> str:
    """The text with the finding's share, address and host replaced by markers (see restored)."""
    # One regular-expression scan per string: this runs for every step of every finding (65,536 findings
    # of a /16 make about a million calls).
    if _ANY_MARK.search(text) or any(value and _ANY_MARK.search(value) for value in (share, address, host)):
        return MARK_VERBATIM + text
    for mark, value in ((MARK_SHARE, share), (MARK_ADDRESS, address), (MARK_HOST, host)):
        if value:
            text = text.replace(value, mark)
    return text


def restored(text: str, share: str | None, address: str | None, host: str | None) -> str:
    """The inverse of templated (what templates/report.js does in the browser)."""
    if text.startswith(MARK_VERBATIM):
        return text[1:]
    values = {MARK_SHARE: share or "", MARK_ADDRESS: address or "", MARK_HOST: host or ""}
    return "".join(values.get(char, char) for char in text)


class _Strings:
    """Interned values: titles, texts and remediation sets repeat across findings, each is stored once."""

    def __init__(self) -> None:
        self.items: list[object] = []
        self._index: dict[str, int] = {}

    def ref(self, item: object) -> int:
        key = item if isinstance(item, str) else json.dumps(item, sort_keys=True)
        index = self._index.get(key)
        if index is None:
            index = self._index[key] = len(self.items)
            self.items.append(item)
        return index


def _finding_row(finding: Finding, address: str | None, texts: _Strings, remedies: _Strings) -> list[object]:
    # Positions are read by templates/report.js (ID, SEVERITY, RULE, ...): keep both in step.
    share, host = finding.share, finding.host
    remedy = {
        platform: [texts.ref(templated(step, share, address, host)) for step in steps]
        for platform, steps in finding.remediation.items()
    }
    return [
        finding.id,
        severity_rank(finding.severity) if finding.severity in SEVERITIES else len(SEVERITIES) - 1,
        finding.rule,
        host,
        share,
        finding.identity,
        finding.path,
        finding.evidence,
        finding.platform,
        texts.ref(finding.title),
        texts.ref(finding.why),
        remedies.ref(remedy),
        address,
        _suppression(finding),
        finding.new,
    ]


def _suppression(finding: Finding) -> str | None:
    accepted = finding.suppressed
    if accepted is None:
        return None
    return f"accepted risk until {accepted.expires} ({accepted.owner}): {accepted.reason}"


def browser_data(
    findings: Iterable[Finding], addresses: Mapping[str, str] | None = None
) -> dict[str, object]:
    """The findings as the page's script reads them: compact rows, shared texts and remediation sets."""
    texts, remedies = _Strings(), _Strings()
    rows = [_finding_row(f, (addresses or {}).get(f.host), texts, remedies) for f in findings]
    return {
        "severities": list(SEVERITIES),
        "platforms": PLATFORM_NAMES,  # the file servers' and the PACS products' (the dicom family)
        "strings": texts.items,
        "remedies": remedies.items,
        "findings": rows,
    }


def pieces(
    result: ScanResult, generated_at: str | None = None, trend: Sequence[TrendPoint] = ()
) -> Iterator[str]:
    """The report for a result (with its findings) as one HTML document, in the pieces jinja2 yields (a
    /16's page, 45 MB, is never held whole); `trend`: open actions of past runs."""
    env = environment()
    script = _trusted_asset(env, "report.js", "</script")
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    return env.get_template("report.html.j2").generate(
        report=report_view(result, generated_at),
        top=top_view(result, trend),
        style=_trusted_asset(env, "report.css", "</style") + _trusted_asset(env, "plan.css", "</style"),
        script=script,
        script_hash=f"sha256-{digest}",
        data_json=script_json(
            browser_data(result.findings, {host_label(h): h.address for h in result.hosts})
        ),
    )


def render(result: ScanResult, generated_at: str | None = None, trend: Sequence[TrendPoint] = ()) -> str:
    """The report for a result (with its findings) as one HTML document; `trend`: open actions of past runs."""
    return "".join(pieces(result, generated_at, trend))


def write(
    result: ScanResult, path: Path, generated_at: str | None = None, trend: Sequence[TrendPoint] = ()
) -> None:
    """Write the report atomically."""
    write_atomically(path, pieces(result, generated_at, trend))
