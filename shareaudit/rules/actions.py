"""The fix plan: the findings grouped by root cause into actions, ordered by what they protect.

An administrator does not fix rows: they change a setting, and eight rows go away. Each action is one
root cause from rules/actions.toml (guest fallback on a host, one share's setting, a broad group's ACE,
a device account's reach, a DICOM port that answers anyone), with the active findings it closes.

How an action closes a finding:
- directly: the finding's rule is one of the kind's `rules` and it lies in the action's scope (the same
  host, share, account or port);
- through the doors it shuts: a finding of a rule listed under [doors] lasts only while some identity
  still gets in (guest reads public; anyone but the audit account reads the share holding medical data).
  Each such finding has *supports*: sets of doors that together keep it open. It is closed when every
  support has a door shut, by this action or by one planned before it (`Action.after` names those).
Doors: ("session", label) an identity logs on at all; ("share", share, label) it reaches a share;
("ipc",) the null session opens IPC$.

Per host the plan is greedy: the candidate that protects the most (medical data exposed to anonymous, guest
or a device account first, the widest door first, then the most medical files, then the worst findings,
then the most) is taken, its findings are removed from what is left, and so on. Every active finding that is
not informational belongs to exactly one action; what no root cause covers becomes an action of its own.
The hosts' sequences are merged by the same priority, each host's order kept (an action may rely on an
earlier one of its host). Pure: facts and findings in, actions out.
"""

from __future__ import annotations

import heapq
import shlex
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel

from shareaudit.errors import InputError
from shareaudit.model import (
    UNPRIVILEGED,
    Action,
    Finding,
    IdentityInfo,
    Role,
    ScanResult,
    Service,
    Severity,
    Share,
)
from shareaudit.plan.files import STRICT, load_toml
from shareaudit.rules.catalog import fill
from shareaudit.rules.engine import fingerprint, sort_key
from shareaudit.rules.facts import (
    AUDIT,
    HostFacts,
    host_label,
    identity_class,
    is_scan_drop,
    medical_files,
    medical_summary,
    plural,
    rights_text,
)
from shareaudit.rules.platform import detect_platform
from shareaudit.rules.registry import REGISTRY, SEVERITIES, severity_rank

Door = tuple[str, ...]
_class = cache(identity_class)  # asked for every identity of every share: once per label
FINDING_KIND = "finding"  # an action for one finding no root cause covers
_WIDTH = {Role.ANONYMOUS: 0, Role.GUEST: 1, Role.SERVICE: 2}
_TIER_MEDICAL, _TIER_INTRUSION, _TIER_REST = 0, 1, 2
_INTRUSION_KIND = "investigate-intrusion"


class ActionCatalogError(InputError, ValueError):
    """rules/actions.toml is malformed."""


# --- the catalog (rules/actions.toml) -----------------------------------------------------------------------
Scope = Literal["host", "share", "identity", "port"]
Dependence = Literal["row", "readers", "reach", "listing", "writers"]
Verify = Literal["share", "host", "device", "dicom", "port", "crawl", "full"]


def _known_rules(rules: list[str]) -> list[str]:
    unknown = [rule for rule in rules if rule not in REGISTRY]
    if unknown:
        raise ValueError(f"unknown rule {', '.join(unknown)}")
    return rules


def _classes(names: list[str]) -> list[str]:
    allowed = {Role.ANONYMOUS.value, Role.GUEST.value, Role.SERVICE.value}
    unknown = [name for name in names if name not in allowed]
    if unknown:
        raise ValueError(f"must be among anonymous, guest, service (not {', '.join(unknown)})")
    return names


_Rules = Annotated[list[str], AfterValidator(_known_rules)]


class KindEntry(BaseModel):
    """One [kinds.<id>] table: a root cause and how it closes findings."""

    model_config = STRICT

    scope: Scope
    title: str
    cause: str
    rules: _Rules = []
    lead: _Rules
    share_doors: Annotated[list[str], AfterValidator(_classes)] = []
    confine: bool = False
    sessions: Literal["fallback", "guest-account"] | None = None
    ipc: bool = False
    only: Literal["medical"] | None = None
    merge: bool = False
    verify: Verify
    side_effects: list[str] = []
    afterwards: str | None = None


class ActionCatalog(BaseModel):
    """rules/actions.toml."""

    model_config = STRICT

    doors: dict[str, Dependence]
    kinds: dict[str, KindEntry]


@dataclass(frozen=True, slots=True)
class Kind:
    """A root cause, as the planner uses it."""

    id: str
    order: int  # its position in the file: the last tie-break
    entry: KindEntry


def load_catalog(
    source: str | bytes, name: str = "actions.toml"
) -> tuple[dict[str, Dependence], tuple[Kind, ...]]:
    """Parse the catalog text: the rules' door dependences and the kinds in file order."""
    catalog = load_toml(
        source, ActionCatalog, "the fix plan's root causes", name=name, error=ActionCatalogError
    )
    unknown = [rule for rule in catalog.doors if rule not in REGISTRY]
    if unknown:
        raise ActionCatalogError(f"{name}: doors: unknown rule {', '.join(unknown)}")
    kinds = tuple(Kind(kind_id, n, entry) for n, (kind_id, entry) in enumerate(catalog.kinds.items()))
    return dict(catalog.doors), kinds


@cache
def catalog() -> tuple[dict[str, Dependence], tuple[Kind, ...]]:
    """The shipped catalog, loaded once."""
    source = (resources.files("shareaudit.rules") / "actions.toml").read_text(encoding="utf-8")
    return load_catalog(source)


# --- candidates --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Candidate:
    """A root cause at one place of one host: the doors it shuts and the findings it closes by itself."""

    kind: Kind
    share: Share | None = None
    identity: str | None = None  # the service account it confines
    service: Service | None = None
    doors: frozenset[Door] = frozenset()
    direct: frozenset[str] = frozenset()  # finding ids

    @property
    def place(self) -> tuple[str, str, str]:
        """What makes it unique on its host (also its fingerprint's input)."""
        port = f"{self.service.protocol}/{self.service.port}" if self.service else ""
        return (self.share.name if self.share else "", self.identity or "", port)


@dataclass
class _Chosen:
    candidate: Candidate
    closes: list[Finding]
    after: list[int] = field(default_factory=list)  # positions in the host's sequence


class HostPlanner:
    """One host's facts, its active findings and the candidates that could close them."""

    def __init__(self, facts: HostFacts, findings: Sequence[Finding]) -> None:
        self.facts = facts
        self.label = host_label(facts.host)
        self.findings = list(findings)
        self.shares = {share.name: share for share in facts.host.shares}
        self.disk = facts.disk_shares()
        self.scan_drops = {share.name for share in self.disk if is_scan_drop(share)}
        self._reaches: dict[str, tuple[tuple[Share, ...], tuple[Share, ...]]] = {}
        dependence, kinds = catalog()
        self.kinds = kinds
        self.supports: dict[str, list[frozenset[Door]]] = {}
        for finding in self.findings:
            how = dependence.get(finding.rule)
            supports = self._supports(how, finding) if how else []
            if supports:
                self.supports[finding.id] = supports
        # door -> findings whose supports hold it: what shutting a door may close
        self.by_door: dict[Door, set[str]] = {}
        for finding_id, supports in self.supports.items():
            for support in supports:
                for door in support:
                    self.by_door.setdefault(door, set()).add(finding_id)

    # --- facts ------------------------------------------------------------------------------------------
    def _drops_and_beyond(self, label: str) -> tuple[tuple[Share, ...], tuple[Share, ...]]:
        known = self._reaches.get(label)
        if known is None:
            facts = self.facts
            drops = tuple(s for s in self.disk if s.name in self.scan_drops and facts.can_write(s, label))
            beyond = tuple(
                s
                for s in self.disk
                if s not in drops and (facts.can_read(s, label) or facts.can_write(s, label))
            )
            known = self._reaches[label] = (drops, beyond)
        return known

    def beyond(self, label: str) -> tuple[Share, ...]:
        """The shares a service account reaches beyond its scan drop folders (as service-account-overreach)."""
        return self._drops_and_beyond(label)[1]

    def drops(self, label: str) -> tuple[Share, ...]:
        """The scan drop folders a service account writes."""
        return self._drops_and_beyond(label)[0]

    def guest_labels(self) -> tuple[str, ...]:
        return tuple(label for label in self.facts.labels if _class(label) == Role.GUEST)

    def _reach(self, label: str, share: Share) -> frozenset[Door]:
        return frozenset({("session", label), ("share", share.name, label)})

    def _supports(self, how: Dependence, finding: Finding) -> list[frozenset[Door]]:
        facts, share = self.facts, self.shares.get(finding.share or "")
        if how == "row":
            if share is None or finding.identity not in facts.labels:
                return []
            return [self._reach(finding.identity, share)]
        if how == "readers":
            if share is None:
                return []
            readers = facts.readers(share, Role.ANONYMOUS, Role.GUEST, Role.SERVICE)
            return [self._reach(label, share) for label in readers]
        if how == "writers":
            if share is None:
                return []
            writers = [lbl for lbl in facts.labels if lbl in UNPRIVILEGED and facts.can_write(share, lbl)]
            return [self._reach(label, share) for label in writers]
        if how == "reach":
            if finding.identity not in facts.labels:
                return []
            return [self._reach(finding.identity, s) for s in self.beyond(finding.identity)]
        # listing: the null session's IPC$, and any guest session, can list shares and accounts.
        posture = facts.posture
        if posture is None:
            return []
        supports: list[frozenset[Door]] = [frozenset({("ipc",)})] if posture.null_session else []
        guest_in = posture.guest_account or posture.guest_fallback
        supports += [frozenset({("session", label)}) for label in self.guest_labels() if guest_in]
        return supports

    # --- candidates -------------------------------------------------------------------------------------
    def _direct(
        self,
        kind: Kind,
        share: str | None = None,
        identity: str | None = None,
        ids: AbstractSet[str] | None = None,
    ) -> frozenset[str]:
        """The findings of the kind's rules in a scope: the host, or one share, identity or set of ids."""
        rules = set(kind.entry.rules)
        return frozenset(
            f.id
            for f in self.findings
            if f.rule in rules
            and (share is None or f.share == share)
            and (identity is None or f.identity == identity)
            and (ids is None or f.id in ids)
        )

    def _session_doors(self, kind: Kind) -> frozenset[Door]:
        posture = self.facts.posture
        if posture is None:
            return frozenset()
        host = self.facts.host
        doors: set[Door] = set()
        if kind.entry.sessions == "fallback" and posture.guest_fallback:
            for label in self.guest_labels():
                routes = {a.route for s in host.shares for lbl, a in s.access.items() if lbl == label}
                logon = next((lg for lg in host.logons if lg.identity == label), None)
                if (
                    posture.guest_is_fallback
                    or "guest_fallback" in routes
                    or (logon and logon.route == "guest_fallback")
                ):
                    doors.add(("session", label))
            # Identities whose account the server does not know were let in as guest by the same door.
            doors |= {("session", lg.identity) for lg in host.logons if lg.route == "mapped_to_guest"}
        elif kind.entry.sessions == "guest-account" and posture.guest_account_of_its_own:
            doors |= {("session", label) for label in self.guest_labels()}
        return frozenset(doors)

    def candidates(self) -> list[Candidate]:
        """Every root cause that could apply here (those that close nothing are dropped later)."""
        facts, found = self.facts, []
        for kind in self.kinds:
            entry = kind.entry
            if entry.scope == "host":
                doors = self._session_doors(kind) | ({("ipc",)} if entry.ipc else frozenset())
                if entry.sessions and not doors:
                    continue
                found.append(Candidate(kind, doors=frozenset(doors), direct=self._direct(kind)))
            elif entry.scope == "share":
                for share in facts.host.shares:
                    if share.excluded or (entry.only == "medical" and not medical_files(share.content)):
                        continue
                    classes = set(entry.share_doors)
                    doors = frozenset(
                        ("share", share.name, label) for label in facts.labels if _class(label) in classes
                    )
                    direct = self._direct(kind, share=share.name)
                    found.append(Candidate(kind, share=share, doors=doors, direct=direct))
            elif entry.scope == "identity":
                for label in facts.service_accounts:
                    doors = (
                        frozenset(("share", s.name, label) for s in self.beyond(label))
                        if entry.confine
                        else frozenset()
                    )
                    direct = self._direct(kind, identity=label)
                    found.append(Candidate(kind, identity=label, doors=doors, direct=direct))
            else:  # port
                for service in facts.host.services:
                    if not service.reachable or service.protocol == "smb":
                        continue
                    key = f"{service.protocol}/{service.port}"
                    ids = {fingerprint(rule, self.label, None, key, None) for rule in entry.rules}
                    # FTP's findings name the port as their share (ftp:21), NFS's each export of the port.
                    behind = {f"ftp:{service.port}"} if service.ftp is not None else set()
                    behind |= {export.path for export in (service.nfs.exports if service.nfs else ())}
                    ids |= {f.id for f in self.findings if f.share in behind}
                    found.append(Candidate(kind, service=service, direct=self._direct(kind, ids=ids)))
        return found

    # --- closing ----------------------------------------------------------------------------------------
    def closed_by(self, candidate: Candidate, shut: frozenset[Door], left: set[str]) -> set[str]:
        """The findings still left that the candidate closes, with the doors already shut before it."""
        closes = set(candidate.direct & left)
        if candidate.doors:
            doors = shut | candidate.doors
            maybe = set().union(*(self.by_door.get(door, set()) for door in candidate.doors)) & left
            closes |= {fid for fid in maybe if all(support & doors for support in self.supports[fid])}
        return closes

    def plan(self) -> list[_Chosen]:
        """The host's actions in the order to do them (greedy on priority)."""
        by_id = {f.id: f for f in self.findings}
        left = set(by_id)
        candidates = self.candidates()
        reachable: set[Door] = set().union(*(c.doors for c in candidates)) if candidates else set()
        covered = set().union(*(c.direct for c in candidates)) if candidates else set()
        for fid, supports in self.supports.items():
            if all(support & reachable for support in supports):
                covered.add(fid)
        single = _single_kind()
        candidates += [
            Candidate(single, direct=frozenset({f.id})) for f in self.findings if f.id not in covered
        ]
        chosen: list[_Chosen] = []
        shut: frozenset[Door] = frozenset()
        shut_by: list[frozenset[Door]] = []
        # Scores are kept between rounds: a candidate is scored again only when the last pick took some of
        # its findings, or shut a door that one of its door-closed findings depends on.
        pending = dict(enumerate(candidates))
        scores: dict[int, tuple[tuple[object, ...], set[str]]] = {}
        stale = set(pending)
        holders: dict[Door, set[int]] = {}  # door -> pending candidates that shut it
        for seq, candidate in pending.items():
            for door in candidate.doors:
                holders.setdefault(door, set()).add(seq)
        while left and pending:
            for seq in stale:
                closes = self.closed_by(pending[seq], shut, left)
                if closes:
                    scores[seq] = (self.priority(pending[seq], [by_id[fid] for fid in closes]), closes)
                else:
                    scores.pop(seq, None)
            if not scores:
                break
            seq = min(scores, key=lambda n: (scores[n][0], n))
            candidate, (_, closes) = pending.pop(seq), scores.pop(seq)
            picked = sorted((by_id[fid] for fid in closes), key=sort_key)
            chosen.append(_Chosen(candidate, picked, self._relied_on(candidate, picked, shut_by)))
            left -= closes
            shut = shut | candidate.doors
            shut_by.append(candidate.doors)
            for door in candidate.doors:
                holders.get(door, set()).discard(seq)
            # Rescored: candidates that lost findings to this pick, and those that shut a door of a finding
            # whose supports this pick's doors touched (they may now close it).
            touched = set().union(*(self.by_door.get(door, set()) for door in candidate.doors)) & left
            stale = {n for n, (_, theirs) in scores.items() if theirs & closes}
            for fid in touched:
                for support in self.supports[fid]:
                    for door in support:
                        stale |= holders.get(door, set())
        for fid in sorted(left, key=lambda fid: sort_key(by_id[fid])):  # closed by no combination found
            chosen.append(_Chosen(Candidate(single, direct=frozenset({fid})), [by_id[fid]]))
        return chosen

    def _relied_on(
        self, candidate: Candidate, picked: list[Finding], shut_by: list[frozenset[Door]]
    ) -> list[int]:
        """Earlier actions whose shut doors this one's door-closed findings need."""
        relied: set[int] = set()
        for finding in picked:
            if finding.id in candidate.direct:
                continue
            for support in self.supports.get(finding.id, []):
                if support & candidate.doors:
                    continue
                relied |= {n for n, doors in enumerate(shut_by) if support & doors}
        return sorted(relied)

    # --- what it protects ------------------------------------------------------------------------------
    def medical(self, candidate: Candidate, closes: Iterable[Finding]) -> tuple[int, int | None, list[str]]:
        """Medical files (and studies) it protects, the widest door to them it closes, and what they are."""
        total, widest, parts = 0, None, []
        for finding in closes:
            if finding.rule == "medical-data-exposed":
                share = self.shares.get(finding.share or "")
                if share is None or share.content is None:
                    continue
                count = medical_files(share.content)
                total += count
                parts.append(
                    f"{share.name}: {plural(count, 'medical file')} ({medical_summary(share.content)})"
                )
                width = _WIDTH.get(_class(finding.identity or ""), 2)
            elif finding.rule in ("dicom-open-query", "dicom-open-retrieve") and candidate.service:
                dicom = candidate.service.dicom
                query = dicom.query if dicom else None
                if query is None or query.outcome != "answered" or not query.studies:
                    continue
                if any(p.startswith(f"DICOM port {candidate.service.port}") for p in parts):
                    continue
                total += query.studies
                studies = f"{'at least ' if query.truncated else ''}{query.studies} stud{'y' if query.studies == 1 else 'ies'}"
                parts.append(f"DICOM port {candidate.service.port}: {studies} to any AE title")
                width = _WIDTH[Role.ANONYMOUS]
            elif finding.rule == "ftp-anonymous-read" and candidate.service and candidate.service.ftp:
                walked = [t.content for t in candidate.service.ftp.trees if t.identity == "anonymous"]
                count = sum(medical_files(c) for c in walked)
                if not count or any(p.startswith(f"FTP port {candidate.service.port}") for p in parts):
                    continue
                total += count
                kinds = ", ".join(medical_summary(c) for c in walked if c is not None and c.medical)
                parts.append(f"FTP port {candidate.service.port}: {plural(count, 'medical file')} ({kinds})")
                width = _WIDTH[Role.ANONYMOUS]
            elif finding.rule == "nfs-medical-open" and candidate.service and candidate.service.nfs:
                export = next((e for e in candidate.service.nfs.exports if e.path == finding.share), None)
                if export is None or not medical_files(export.content) or export.content is None:
                    continue
                if any(p.startswith(f"NFS {export.path}:") for p in parts):
                    continue
                count = medical_files(export.content)
                total += count
                parts.append(
                    f"NFS {export.path}: {plural(count, 'medical file')} ({medical_summary(export.content)})"
                )
                width = _WIDTH[Role.ANONYMOUS]  # AUTH_SYS: any machine claims nobody's uid
            else:
                continue
            widest = width if widest is None else min(widest, width)
        return total, widest, parts

    def priority(self, candidate: Candidate, closes: list[Finding]) -> tuple[object, ...]:
        """Smaller is first: medical data (widest door, most files), intrusion, then by the findings."""
        total, widest, _ = self.medical(candidate, closes)
        if total:
            tier = _TIER_MEDICAL
        elif candidate.kind.id == _INTRUSION_KIND:
            tier = _TIER_INTRUSION
        else:
            tier = _TIER_REST
        counts = Counter(f.severity for f in closes)
        return (
            tier,
            widest if widest is not None else len(_WIDTH),
            -total,
            *(-counts[severity] for severity in SEVERITIES),
            -len(closes),
            candidate.kind.order,
            candidate.place,
        )


@cache
def _single_kind() -> Kind:
    """The kind of an action for one finding no root cause covers."""
    entry = KindEntry(scope="host", title="{{title}}", cause="A finding of its own.", lead=[], verify="full")
    return Kind(FINDING_KIND, 10_000, entry)


# --- building the actions ----------------------------------------------------------------------------------
def _merged_steps(findings: Sequence[Finding]) -> dict[str, list[str]]:
    """Platform -> the findings' steps one after the other, each line once."""
    steps: dict[str, list[str]] = {}
    for finding in findings:
        for platform, lines in finding.remediation.items():
            kept = steps.setdefault(platform, [])
            kept.extend(line for line in lines if line not in kept)
    return steps


def _lead(kind: Kind, closes: Sequence[Finding]) -> list[Finding]:
    """The findings whose remediation the action shows."""
    firsts = []
    for rule in kind.entry.lead:
        first = next((f for f in closes if f.rule == rule), None)
        if first is not None:
            firsts.append(first)
            if not kind.entry.merge:
                break
    return firsts or [closes[0]]


def _rights(planner: HostPlanner, share: Share, label: str) -> str:
    return rights_text(planner.facts.access(share, label))


def _who_uses(planner: HostPlanner, share: Share, classes: Iterable[Role]) -> list[tuple[str, str]]:
    wanted = set(classes)
    facts = planner.facts
    return [
        (label, _rights(planner, share, label))
        for label in facts.labels
        if _class(label) in wanted and (facts.can_read(share, label) or facts.can_write(share, label))
    ]


def _share_effects(planner: HostPlanner, candidate: Candidate) -> list[str]:
    share, facts = candidate.share, planner.facts
    effects: list[str] = []
    if share is None:
        return effects
    shut = set(candidate.kind.entry.share_doors)
    losing = _who_uses(planner, share, (Role(c) for c in shut if c != Role.SERVICE.value))
    if losing:
        effects.append(
            f"Whoever uses {share.name} without an account loses it: "
            + "; ".join(f"{label} ({rights})" for label, rights in losing)
            + "."
        )
    devices = _who_uses(planner, share, (Role.SERVICE,))
    if devices and Role.SERVICE.value not in shut:
        writers = [label for label, _ in devices if facts.can_write(share, label)]
        names = ", ".join(label for label, _ in devices)
        effects.append(
            f"Device/service accounts that use {share.name} with their own account keep working: {names}"
            + (f" (writing: {', '.join(writers)})." if writers else ".")
        )
    elif devices:
        effects.append(
            f"Device/service accounts that use {share.name} now stop: "
            + ", ".join(f"{label} ({rights})" for label, rights in devices)
            + ". Give the ones that need it a group of their own on the share first."
        )
    guests_write = [
        label for label in facts.labels if label in UNPRIVILEGED and facts.can_write(share, label)
    ]
    if is_scan_drop(share) and guests_write:
        effects.append(
            f"{share.name} looks like a scan drop folder that {' and '.join(guests_write)} can write: a scanner "
            "set up to save there without an account stops until it has an account of its own."
        )
    return effects


def _guest_effects(planner: HostPlanner, candidate: Candidate) -> list[str]:
    facts, effects = planner.facts, []
    shut = {door[1] for door in candidate.doors if door[0] == "session"}
    for label in sorted(shut):
        used = [
            f"{share.name} ({_rights(planner, share, label)})"
            for share in facts.disk_shares()
            if facts.can_read(share, label) or facts.can_write(share, label)
        ]
        if _class(label) == Role.GUEST:
            if used:
                effects.append(
                    f"Whoever uses these shares without an account (as {label}) loses access: {', '.join(used)}."
                )
        else:
            effects.append(
                f"{label} ({facts.account(label)}) was let in as guest because the server does not know the "
                "account: it stops working until that account exists on the server."
            )
    for share in facts.disk_shares():
        if is_scan_drop(share) and any(facts.can_write(share, label) for label in shut):
            effects.append(
                f"{share.name} looks like a scan drop folder that guest can write: a scanner saving there as "
                "guest stops until it has an account of its own."
            )
    return effects


def _confine_effects(planner: HostPlanner, candidate: Candidate) -> list[str]:
    label = candidate.identity or ""
    drops = planner.drops(label)
    lost = [f"{share.name} ({_rights(planner, share, label)})" for share in planner.beyond(label)]
    effects = []
    if drops:
        effects.append(f"{label} keeps its drop folder: {', '.join(s.name for s in drops)}.")
    else:
        effects.append(
            f"No share {label} can write looks like a scan drop folder: find out where the device saves before "
            "you take anything away."
        )
    if lost:
        effects.append(f"{label} loses: {', '.join(lost)}. If the device needs one of them, it breaks there.")
    return effects


def _acl_effects(planner: HostPlanner, candidate: Candidate) -> list[str]:
    share, facts = candidate.share, planner.facts
    if share is None:
        return []
    writers = [label for label in facts.labels if label != AUDIT and facts.can_write(share, label)]
    if not writers:
        return []
    return [
        f"Measured writers of {share.name}: {', '.join(writers)}. Those that write through this entry lose write: "
        "give the ones that need it a specific group first."
    ]


def _signing_effects(planner: HostPlanner) -> list[str]:
    facts = planner.facts
    guests = [label for label in facts.labels if _class(label) == Role.GUEST]
    used = sorted({s.name for s in facts.disk_shares() for label in guests if facts.can_read(s, label)})
    if not used:
        return []
    return [
        f"Guest sessions are refused once signing is required: guest reads {plural(len(used), 'share')} here ({', '.join(used)})."
    ]


_WALK_ORDER = {Role.ANONYMOUS: 0, Role.GUEST: 1, Role.SERVICE: 2, Role.AUDIT: 3}


def rewalked(planner: HostPlanner, candidate: Candidate) -> list[str]:
    """Findings keyed by who walks a share that come back under another walker once the doors are shut.

    A share is walked by its least privileged reader (collect/plan.walker_for); shutting that reader out
    hands the walk to the next one, and a credentials-readable finding (keyed by the walker) is reported
    again, as read by it, until the files are gone.
    """
    notes = []
    shut = candidate.doors
    for share in planner.facts.disk_shares():
        content = share.content
        if content is None or not content.credentials:
            continue
        walker = content.crawled_as
        if ("session", walker) not in shut and ("share", share.name, walker) not in shut:
            continue
        readers = [
            label
            for label, access in share.access.items()
            if access.connect
            and access.read
            and access.list
            and ("session", label) not in shut
            and ("share", share.name, label) not in shut
        ]
        after = min(readers, key=lambda label: _WALK_ORDER[_class(label)]) if readers else None
        files = plural(len(content.credentials), "file")
        notes.append(
            f"The {files} holding credentials on {share.name} stay"
            + (f": they are reported again as read by {after}" if after else "")
            + " until their credentials are removed."
        )
    return notes


def side_effects(planner: HostPlanner, candidate: Candidate) -> tuple[str, ...]:
    """What may stop working: from the facts first, then the kind's own words."""
    kind = candidate.kind.id
    effects: list[str] = []
    if candidate.kind.entry.scope == "share" and candidate.kind.entry.share_doors:
        effects += _share_effects(planner, candidate)
    elif kind in ("guest-fallback-off", "guest-account-off"):
        effects += _guest_effects(planner, candidate)
    elif kind == "confine-device":
        effects += _confine_effects(planner, candidate)
    elif kind == "remove-broad-acl":
        effects += _acl_effects(planner, candidate)
    elif kind == "require-signing":
        effects += _signing_effects(planner)
    return tuple(effects + candidate.kind.entry.side_effects)


# --- how to check it worked ---------------------------------------------------------------------------------
def _account(info: IdentityInfo) -> str:
    return f"{info.domain}\\{info.username}" if info.domain else info.username


def _identity_args(result: ScanResult) -> list[str]:
    """The scan's identities as options: -u for the audit account, --identity for each service account."""
    args: list[str] = []
    labels = {i.label for i in result.identities}
    for info in result.identities:
        if info.label == AUDIT:
            args += ["-u", _account(info)]
        elif _class(info.label) == Role.SERVICE:
            args += ["--identity", f"{info.label}={_account(info)}"]
    if result.identities and Role.ANONYMOUS.value not in labels:
        args.append("--no-anonymous")
    if result.identities and Role.GUEST.value not in labels:
        args.append("--no-guest")
    return args


def verify_command(result: ScanResult, label: str, kind: Kind, candidate: Candidate) -> str:
    """The shareaudit command to run once the action is done (passwords come from the environment)."""
    how = kind.entry.verify
    infos = {info.label: info for info in result.identities}
    if how == "device" and candidate.identity:
        device = infos.get(candidate.identity)
        args = [
            "device",
            label,
            "--account",
            f"{candidate.identity}={_account(device) if device else candidate.identity}",
        ]
        if candidate.share is not None:  # its drop folder
            args += ["--drop-share", candidate.share.name]
        if AUDIT in infos:
            args += ["-u", _account(infos[AUDIT])]
    elif how == "dicom" and candidate.service:
        args = [
            "scan",
            label,
            "--protocols",
            "dicom",
            "--dicom-port",
            str(candidate.service.port),
            "--no-history",
        ]
    elif how == "port" and candidate.service:
        protocol = candidate.service.protocol
        args = ["scan", label, *_identity_args(result), "--protocols", protocol]
        args += [f"--{protocol}-port", str(candidate.service.port), "--no-history"]
    else:
        args = ["scan", label, *_identity_args(result)]
        if how in ("share", "crawl") and candidate.share is not None:
            args += ["--include-share", candidate.share.name, "--protocols", "smb"]
        elif how == "host":
            args += ["--protocols", "smb", "--no-crawl"]
        args.append("--no-history")
    return shlex.join(["shareaudit", *args])


# --- the plan ----------------------------------------------------------------------------------------------
def _title(kind: Kind, label: str, candidate: Candidate, closes: Sequence[Finding]) -> str:
    if kind.id == FINDING_KIND:
        finding = closes[0]
        where = "/".join(x for x in (finding.host, finding.share, finding.identity) if x)
        return f"{finding.title} ({where})"
    values = {"host": label}
    if candidate.share is not None:
        values["share"] = candidate.share.name
    if candidate.identity:
        values["identity"] = candidate.identity
    principals = dict.fromkeys(f.identity for f in closes if f.rule in kind.entry.rules and f.identity)
    values["principal"] = ", ".join(principals)
    if candidate.service is not None:
        values["port"] = str(candidate.service.port)
    return fill(kind.entry.title, values)


def _action(
    result: ScanResult, planner: HostPlanner | None, label: str, chosen: _Chosen, ids: Sequence[str]
) -> Action:
    candidate, closes = chosen.candidate, chosen.closes
    kind = candidate.kind
    if kind.id == "confine-device" and planner is not None and candidate.identity:
        drops = planner.drops(candidate.identity)
        candidate = replace(candidate, share=drops[0] if drops else None)
    lead = _lead(kind, closes) if kind.id != FINDING_KIND else [closes[0]]
    total, widest, parts = planner.medical(chosen.candidate, closes) if planner else (0, None, [])
    worst = min((f.severity for f in closes), key=severity_rank)
    place = chosen.candidate.place
    return Action(
        id=fingerprint(
            f"action:{kind.id}",
            label,
            place[0] or None,
            place[1] or (closes[0].id if kind.id == FINDING_KIND else None),
            place[2] or None,
        ),
        kind=kind.id,
        rank=0,
        title=_title(kind, label, chosen.candidate, closes),
        cause=kind.entry.cause if kind.id != FINDING_KIND else closes[0].why,
        host=label,
        severity=Severity(worst),
        findings=tuple(f.id for f in closes),
        share=chosen.candidate.share.name if chosen.candidate.share else None,
        identity=chosen.candidate.identity,
        port=chosen.candidate.service.port if chosen.candidate.service else None,
        protects="; ".join(parts) or None,
        medical=total,
        widest=[Role.ANONYMOUS.value, Role.GUEST.value, Role.SERVICE.value][widest]
        if widest is not None
        else None,
        steps=_merged_steps(lead),
        platform=lead[0].platform,
        side_effects=side_effects(planner, candidate) if planner and kind.id != FINDING_KIND else (),
        verify=verify_command(result, label, kind, candidate)
        if kind.id != FINDING_KIND
        else _finding_verify(result, closes[0], planner),
        after=tuple(ids[n] for n in chosen.after),
        afterwards=" ".join(
            [
                *([kind.entry.afterwards] if kind.entry.afterwards else []),
                *(rewalked(planner, candidate) if planner else []),
            ]
        )
        or None,
    )


def _finding_verify(result: ScanResult, finding: Finding, planner: HostPlanner | None) -> str:
    if planner is None:  # a target that is no scanned host: an interrupted run's, or a skipped entry
        if finding.host.startswith("("):  # "(target list)": the entry is to be fixed, not scanned
            return ""
        return shlex.join(["shareaudit", "scan", finding.host, *_identity_args(result), "--no-history"])
    share = planner.shares.get(finding.share or "") if finding.share else None
    kind = _single_kind()
    entry = kind.entry.model_copy(update={"verify": "share" if share else "full"})
    return verify_command(
        result, planner.label, Kind(kind.id, kind.order, entry), Candidate(kind, share=share)
    )


def active(findings: Iterable[Finding]) -> list[Finding]:
    """The findings the plan is about: not accepted risks, not informational."""
    return [f for f in findings if f.suppressed is None and f.severity != Severity.INFO]


def plan(result: ScanResult) -> tuple[Action, ...]:
    """The fix plan of a result (its findings already evaluated, accepted risks marked)."""
    findings = active(result.findings)
    labels = tuple(i.label for i in result.identities)
    accounts = {i.label: _account(i) for i in result.identities}
    by_host: dict[str, list[Finding]] = {}
    for finding in findings:
        by_host.setdefault(finding.host, []).append(finding)
    sequences: list[list[Action]] = []
    keys: list[list[tuple[object, ...]]] = []
    seen: set[str] = set()
    for host in result.hosts:
        label = host_label(host)
        if label in seen or label not in by_host:
            continue
        seen.add(label)
        planner = HostPlanner(
            HostFacts(host, labels, accounts, detect_platform(host.posture)), by_host[label]
        )
        chosen = planner.plan()
        ids: list[str] = []
        actions: list[Action] = []
        for item in chosen:
            action = _action(result, planner, label, item, ids)
            ids.append(action.id)
            actions.append(action)
        sequences.append(actions)
        keys.append([planner.priority(item.candidate, item.closes) for item in chosen])
    # Findings about targets that are not scanned hosts (a skipped entry, an interrupted run): one action each.
    for label, rest in by_host.items():
        if label in seen:
            continue
        for finding in rest:
            item = _Chosen(Candidate(_single_kind(), direct=frozenset({finding.id})), [finding])
            sequences.append([_action(result, None, label, item, [])])
            counts = Counter({finding.severity: 1})
            keys.append(
                [(_TIER_REST, len(_WIDTH), 0, *(-counts[s] for s in SEVERITIES), -1, 10_000, ("", "", ""))]
            )
    return tuple(replace(action, rank=n) for n, action in enumerate(_merge(sequences, keys), start=1))


def _merge(sequences: list[list[Action]], keys: list[list[tuple[object, ...]]]) -> Iterator[Action]:
    """The hosts' sequences merged by priority, each host's own order kept."""
    heap = [(keys[n][0], sequences[n][0].host, n, 0) for n in range(len(sequences)) if sequences[n]]
    heapq.heapify(heap)
    while heap:
        _, _, n, i = heapq.heappop(heap)
        yield sequences[n][i]
        if i + 1 < len(sequences[n]):
            heapq.heappush(heap, (keys[n][i + 1], sequences[n][i + 1].host, n, i + 1))


def with_actions(result: ScanResult) -> ScanResult:
    """The result with its fix plan (from its findings and facts)."""
    return replace(result, actions=plan(result))


def owners(actions: Iterable[Action]) -> Mapping[str, Action]:
    """Finding id -> the action that closes it."""
    return {fid: action for action in actions for fid in action.findings}
