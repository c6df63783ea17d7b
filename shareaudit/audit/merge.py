"""Runs from several vantage points combined into one result (`shareaudit merge`).

One scanner per network segment, one merged report. Each input is one run, labelled with where it ran
(`--vantage`; a run without a label is merged as `unlabelled`). How the merge decides:

- **Hosts** are the same host when they have the same address and port; a target that did not resolve
  from one vantage point joins the host of the same target entry that resolved elsewhere.
- **Nothing seen is thrown away**: every host keeps, per vantage point that scanned it, what answered from
  there and who could do what (`HostResult.views`: reachability, error, SMB posture, access per share and
  identity, every other service whole). Two vantage points that saw a host differently are both kept.
- **The host's own fields are the union** of the views, so the rules (re-run on the merged result) judge
  everything any vantage point reached: the host is reachable, and not a failed target, when any vantage
  point reached it; posture, logons and enumeration come from the first input in which SMB answered;
  shares are the union by name; an identity's access to a share is the widest any vantage point measured
  (more rights held wins, then the first input); a share's content is the walk that saw the most files;
  a service (`protocol`, `port`) is taken from the first input where it answered without error, then where
  it answered, then the first; SMB recorded as absent is dropped when SMB answered elsewhere. Services are
  merged as whole objects: a new protocol needs no code here.
- **The same vantage point twice** (two runs from one segment that both scanned a host): the later run
  (by `finished_at`) is kept for that host, and a warning says so.
- **Trust**: a vantage point is untrusted when the merge's config says so (`[vantage.NAME] trusted =
  false`), or, when the config does not name it, when any input recorded it as untrusted.
- Identities are the union by label (the first input's account when two inputs disagree, with a
  warning); skipped target entries are kept prefixed with their vantage point; the option flags an auditor
  must see (`active_write_probe`, `show_names`, `crawl`, `sniff`) are on when they were on in any input.

A merged result is not merged again (its views cannot be split back into runs): merge the scan files
it was made from.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from shareaudit import __version__, scanfile
from shareaudit.errors import FailureKind, InputError
from shareaudit.model import (
    RIGHTS,
    Access,
    Finding,
    HostResult,
    IdentityInfo,
    ScanResult,
    Service,
    Share,
    Tool,
    VantagePoint,
)
from shareaudit.rules import evaluate
from shareaudit.rules.coverage import UNSCANNED
from shareaudit.vantage import UNLABELLED, view_of

# Options whose being on in any input must show in the merged report.
_ANY_FLAGS = ("active_write_probe", "show_names", "crawl", "sniff")


@dataclass(frozen=True, slots=True)
class Source:
    """One run to merge: its result and the name it is shown by (its file name)."""

    name: str
    result: ScanResult

    @property
    def vantage(self) -> str:
        """The run's vantage point, `unlabelled` when it had none."""
        return self.result.vantage or UNLABELLED

    @classmethod
    def read(cls, path: Path) -> Source:
        """A scan file, with its findings reduced to what the merge keeps of them (id, accepted risk, new).

        The rules run again over the merged result; the texts of the old findings would only cost memory
        (their remediation is most of a scan file).
        """
        result = scanfile.read(path)
        light = tuple(
            Finding(f.id, f.rule, f.severity, f.title, f.host, suppressed=f.suppressed, new=f.new)
            for f in result.findings
            if f.suppressed is not None or f.new is not None
        )
        return cls(str(path), replace(result, findings=light))


@dataclass(frozen=True, slots=True)
class Merged:
    """The merged result (findings evaluated) and what the merge had to decide that the user should know."""

    result: ScanResult
    warnings: tuple[str, ...] = ()


@dataclass(slots=True)
class _Seen:
    """One input's host in a group: from which run and vantage point."""

    index: int
    source: Source
    host: HostResult


@dataclass(slots=True, eq=False)
class _Group:
    """The hosts of every input that are the same host."""

    address: str | None  # None while only unresolved targets are in it
    port: int
    seen: list[_Seen] = field(default_factory=list)


def is_merged(result: ScanResult) -> bool:
    """The result is itself a merge of several runs."""
    return any(host.views for host in result.hosts) or (result.vantage is None and bool(result.vantages))


def _address(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        return text.lower()


def _group(sources: Sequence[Source]) -> list[_Group]:
    """The hosts of all inputs, grouped by address and port (unresolved targets by their target entry)."""
    groups: list[_Group] = []
    by_address: dict[tuple[str, int], _Group] = {}
    by_target: dict[tuple[str, int], _Group] = {}
    for index, source in enumerate(sources):
        for host in source.result.hosts:
            unresolved = host.error_kind == FailureKind.UNRESOLVED.value
            target_key = (host.target.lower(), host.port)
            if unresolved:
                group = by_target.get(target_key)
            else:
                key = (_address(host.address), host.port)
                group = by_address.get(key)
                pending = by_target.get(target_key)
                if group is None and pending is not None and pending.address is None:
                    group = pending  # the same target resolved here: the group gets its address
                    group.address = key[0]
                if group is None:
                    group = _Group(key[0], host.port)
                    groups.append(group)
                by_address[key] = group
            if group is None:
                group = _Group(None, host.port)
                groups.append(group)
            if "/" not in host.target:  # a CIDR range names many hosts
                by_target.setdefault(target_key, group)
            group.seen.append(_Seen(index, source, host))
    return groups


def _latest_per_vantage(group: _Group, warnings: list[str]) -> list[_Seen]:
    """One host per vantage point: the later run when two runs from the same vantage point saw it."""
    kept: dict[str, _Seen] = {}
    for seen in group.seen:
        vantage = seen.source.vantage
        other = kept.get(vantage)
        if other is None:
            kept[vantage] = seen
            continue
        later, earlier = (
            (seen, other)
            if (seen.source.result.finished_at, seen.index) >= (other.source.result.finished_at, other.index)
            else (other, seen)
        )
        kept[vantage] = later
        warnings.append(
            f"{later.host.target}: seen from vantage point {vantage} in {earlier.source.name} and "
            f"{later.source.name}; the later run ({later.source.name}) is kept"
        )
    return sorted(kept.values(), key=lambda s: s.index)


def _width(access: Access) -> tuple[int, int, int, int]:
    """How much an access grants: connects, rights held for sure, rights held at all, lists."""
    held = [right for right in RIGHTS if getattr(access, right)]
    return (int(access.connect), sum(access.sure(r) for r in held), len(held), int(access.list))


def _widest(accesses: Sequence[Access]) -> Access:
    best = accesses[0]
    for access in accesses[1:]:
        if _width(access) > _width(best):
            best = access
    return best


def _share(copies: Sequence[Share]) -> Share:
    """One share from the copies the vantage points listed: the widest access per identity, the biggest walk."""
    base = copies[0]
    labels = list(dict.fromkeys(label for copy in copies for label in copy.access))
    access = {
        label: _widest([copy.access[label] for copy in copies if label in copy.access]) for label in labels
    }
    walks = [copy.content for copy in copies if copy.content is not None]
    content = base.content
    for walk in walks:
        if content is None or (walk.files_seen, walk.entries_seen) > (
            content.files_seen,
            content.entries_seen,
        ):
            content = walk
    with_share_sd = next((c for c in copies if c.share_sd is not None), base)
    with_root_sd = next((c for c in copies if c.root_sd is not None), base)
    return replace(
        base,
        access=access,
        content=content,
        path=base.path or next((c.path for c in copies if c.path), None),
        path_disclosed_to=_least_privileged([c.path_disclosed_to for c in copies if c.path_disclosed_to]),
        share_sd=with_share_sd.share_sd,
        share_sd_error=with_share_sd.share_sd_error,
        root_sd=with_root_sd.root_sd,
        root_sd_error=with_root_sd.root_sd_error,
        root_sd_read_as=with_root_sd.root_sd_read_as,
        excluded=all(copy.excluded for copy in copies),
    )


def _least_privileged(labels: Sequence[str]) -> str | None:
    """Anonymous before guest before the other identities (in the order given)."""
    for label in ("anonymous", "guest"):
        if label in labels:
            return label
    return labels[0] if labels else None


def _services(hosts: Sequence[HostResult], smb_answered: bool) -> tuple[Service, ...]:
    """The union of the services by (protocol, port), each from where it answered best."""
    found: dict[tuple[str, int], Service] = {}

    def rank(service: Service) -> int:
        return 0 if service.reachable and not service.error else 1 if service.reachable else 2

    for host in hosts:
        for service in host.services:
            if service.protocol == "smb" and smb_answered:
                continue  # SMB absent from here, present from elsewhere
            key = (service.protocol, service.port)
            if key not in found or rank(service) < rank(found[key]):
                found[key] = service
    return tuple(found.values())


def _host(group: _Group, seen: Sequence[_Seen]) -> HostResult:
    hosts = [s.host for s in seen]
    smb = [h for h in hosts if h.posture is not None]
    base = smb[0] if smb else hosts[0]
    reachable = [h for h in hosts if h.reachable and not h.error]
    # A host no vantage point scanned cleanly: the error of a partial scan says more than "unreachable".
    failed = next((h for h in hosts if h.reachable and h.error), None) or next(
        (h for h in hosts if h.error), hosts[0]
    )
    names: dict[str, list[Share]] = {}
    for host in hosts:
        for share in host.shares:
            names.setdefault(share.name, []).append(share)
    target = next((h.target for h in hosts if "/" not in h.target), hosts[0].target)
    return HostResult(
        target=target,
        address=group.address or hosts[0].address,
        port=group.port,
        reachable=any(h.reachable for h in hosts),
        error=None if reachable else failed.error,
        error_kind=None if reachable else failed.error_kind,
        posture=base.posture,
        shares=tuple(_share(copies) for copies in names.values()),
        enumeration=base.enumeration,
        logons=base.logons,
        elapsed_s=max(h.elapsed_s for h in hosts),
        exposures=next((h.exposures for h in hosts if h.exposures), ()),
        services=_services(hosts, bool(smb)),
        views=tuple(view_of(s.host, s.source.vantage) for s in seen),
    )


def _identities(sources: Sequence[Source], warnings: list[str]) -> tuple[IdentityInfo, ...]:
    found: dict[str, tuple[IdentityInfo, str]] = {}
    for source in sources:
        for identity in source.result.identities:
            known = found.get(identity.label)
            if known is None:
                found[identity.label] = (identity, source.name)
            elif known[0] != identity:
                warnings.append(
                    f"identity {identity.label} is {_account(known[0])} in {known[1]} and "
                    f"{_account(identity)} in {source.name}; the merged access matrix shows both as "
                    f"{identity.label}"
                )
    return tuple(identity for identity, _ in found.values())


def _account(identity: IdentityInfo) -> str:
    name = f"{identity.domain}\\{identity.username}" if identity.domain else identity.username
    return name or identity.kind


def _trust(sources: Sequence[Source], configured: Mapping[str, bool]) -> dict[str, bool]:
    trust: dict[str, bool] = {}
    for source in sources:
        name = source.vantage
        recorded = all(v.trusted for v in source.result.vantages if v.name == name)
        trust[name] = configured.get(name, trust.get(name, True) and recorded)
    return trust


def _options(sources: Sequence[Source], hosts: Sequence[HostResult], run_by: str) -> dict[str, object]:
    options = dict(sources[0].result.options)
    for flag in _ANY_FLAGS:
        values = [s.result.options.get(flag) for s in sources if flag in s.result.options]
        if values:
            options[flag] = any(bool(v) for v in values)
    targets = {h.target for h in hosts} | {v.target for h in hosts for v in h.views}
    unscanned = [
        target for s in sources for target in _list(s.result.options.get(UNSCANNED)) if target not in targets
    ]
    options.pop(UNSCANNED, None)
    if unscanned:
        options[UNSCANNED] = list(dict.fromkeys(unscanned))
    asked = [s.result.options.get("protocols") for s in sources]
    if all(isinstance(protocols, list) for protocols in asked):  # the doors any run looked at
        options["protocols"] = list(dict.fromkeys(p for protocols in asked for p in _list(protocols)))
    else:
        options.pop("protocols", None)  # a file from before --protocols: SMB was always looked at
    options["merged_from"] = [s.name for s in sources]
    options["run_by"] = run_by
    return options


def _list(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def merge(sources: Sequence[Source], configured: Mapping[str, bool], run_by: str) -> Merged:
    """The runs as one result, with findings evaluated; InputError when an input is itself merged."""
    if not sources:
        raise InputError("nothing to merge")
    for source in sources:
        if is_merged(source.result):
            names = ", ".join(v.name for v in source.result.vantages) or "several"
            raise InputError(
                f"{source.name} is already a merged result (vantage points {names}): "
                "merge the scan files it was made from"
            )
    warnings: list[str] = []
    trust = _trust(sources, configured)
    hosts = tuple(_host(group, _latest_per_vantage(group, warnings)) for group in _group(sources))
    started = [s.result.started_at for s in sources if s.result.started_at]
    finished = [s.result.finished_at for s in sources if s.result.finished_at]
    merged = ScanResult(
        tool=Tool("shareaudit", __version__),
        started_at=min(started, default=""),
        finished_at=max(finished, default="") if len(finished) == len(sources) else "",
        hosts=hosts,
        identities=_identities(sources, warnings),
        options=_options(sources, hosts, run_by),
        input_problems=tuple(
            f"{s.vantage}: {problem}" for s in sources for problem in s.result.input_problems
        ),
        directory=next((s.result.directory for s in sources if s.result.directory), None),
        vantage=None,
        vantages=tuple(
            VantagePoint(
                s.vantage,
                trust[s.vantage],
                source=s.name,
                started_at=s.result.started_at,
                finished_at=s.result.finished_at,
                run_by=_text(s.result.options.get("run_by")),
            )
            for s in sources
        ),
    )
    # Accepted risks and "new" marks recorded in the inputs stay as they were (matched by fingerprint).
    before = {f.id: f for s in reversed(sources) for f in s.result.findings}
    findings = tuple(
        replace(f, suppressed=before[f.id].suppressed, new=before[f.id].new) if f.id in before else f
        for f in evaluate(merged)
    )
    return Merged(replace(merged, findings=findings), tuple(warnings))


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
