"""Vantage points: where a scan ran from, and what each one reached. Pure reads of the model.

A scanner sees only what its network segment can reach, so a run is labelled with where it ran
(`scan --vantage office-vlan`, config `scan.vantage`), and `shareaudit merge` combines the runs of several
scanners into one result in which every host keeps the view of each vantage point that scanned it
(`HostResult.views`). The rules and the reports ask the same questions of a single labelled run and of a
merged result: `views` gives a single run's hosts a view of their own.

A door is a way into a host: the SMB service, each of its shares, and each other service (a DICOM, FTP
or NFS port) by protocol and port. Nothing here knows a protocol beyond SMB's shares: services are
doors by `(protocol, port)`, whatever their facts object.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from shareaudit.errors import InputError
from shareaudit.model import Access, HostResult, ScanResult, Service, VantagePoint, VantageView

# A vantage point name: what a VLAN or segment is called (office-vlan, guest-wifi, modality.vlan20).
_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62})")
# The vantage point of a run that was not labelled, when it is merged.
UNLABELLED = "unlabelled"


NAME_RULE = "use 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit (e.g. office-vlan)"


def is_name(name: str) -> bool:
    """A valid vantage point name."""
    return bool(_NAME.fullmatch(name))


def validate_name(name: str, where: str = "--vantage") -> str:
    """The name as given, or InputError in one line (the name printed escaped: it may be anything)."""
    if not is_name(name):
        raise InputError(f"{where}: {name!r} is not a vantage point name: {NAME_RULE}")
    return name


def trusted(result: ScanResult, name: str) -> bool:
    """Whether the result says vantage point `name` is trusted (unknown names are)."""
    return all(v.trusted for v in result.vantages if v.name == name)


def view_of(host: HostResult, vantage: str) -> VantageView:
    """A host of a single run as its vantage point saw it."""
    return VantageView(
        vantage=vantage,
        target=host.target,
        reachable=host.reachable,
        error=host.error,
        error_kind=host.error_kind,
        posture=host.posture,
        access={share.name: dict(share.access) for share in host.shares},
        services=host.services,
    )


def views(result: ScanResult, host: HostResult) -> tuple[VantageView, ...]:
    """The host as each vantage point saw it: a merged host's views, a labelled run's one view, or none."""
    if host.views:
        return host.views
    return (view_of(host, result.vantage),) if result.vantage else ()


def vantage_names(result: ScanResult) -> tuple[str, ...]:
    """The result's vantage point names, in the order they were given, each once."""
    names = [v.name for v in result.vantages]
    if result.vantage:
        names.append(result.vantage)
    return tuple(dict.fromkeys(names))


# --- doors ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Door:
    """One way into a host: SMB itself (`share` None, `protocol` smb), a share, or another service's port."""

    protocol: str
    port: int
    share: str | None = None

    @property
    def label(self) -> str:
        """'SMB 445', 'share scans', 'DICOM 11112'."""
        if self.share is not None:
            return f"share {self.share}"
        return f"{self.protocol.upper()} {self.port}"


def smb_asked(result: ScanResult) -> bool:
    """The result's runs looked at SMB (`options.protocols`; files from before other doors: always)."""
    protocols = result.options.get("protocols")
    return not isinstance(protocols, list) or "smb" in protocols


def doors(host: HostResult, smb: bool = True) -> tuple[Door, ...]:
    """The host's doors: SMB (when it answered or `smb` was asked), its shares but IPC$, the other services."""
    found: list[Door] = []
    if smb or host.posture is not None or any(s.protocol == "smb" for s in host.services):
        found.append(Door("smb", host.port))
    found += [Door("smb", host.port, s.name) for s in host.shares if s.type != "ipc"]
    found += [Door(s.protocol, s.port) for s in host.services if s.protocol != "smb"]
    return tuple(dict.fromkeys(found))


@dataclass(frozen=True, slots=True)
class Reach:
    """What one vantage point reached of one door."""

    answered: bool  # the door answered from there (a share: SMB answered and the share was listed)
    access: Mapping[str, Access]  # a share: identity label -> what it could do from there
    service: Service | None = None  # another protocol: the service as it answered from there
    error: str | None = None  # why it did not answer (or not everything was learned)


def smb_answered(view: VantageView) -> bool:
    """SMB answered from this vantage point."""
    return view.posture is not None or bool(view.access)


def reach(view: VantageView, door: Door) -> Reach:
    """What the view says about the door."""
    if door.share is not None:
        access = view.access.get(door.share)
        return Reach(access is not None, access or {}, error=None if smb_answered(view) else view.error)
    if door.protocol == "smb":
        absent = next((s for s in view.services if s.protocol == "smb"), None)
        error = absent.error if absent is not None else view.error
        return Reach(smb_answered(view), {}, error=None if smb_answered(view) else error)
    service = next((s for s in view.services if (s.protocol, s.port) == (door.protocol, door.port)), None)
    if service is None:
        return Reach(False, {}, error="not tried from there")
    return Reach(service.reachable, {}, service, service.error)


# How a host fails when nothing answers from where the scan ran (errors.FailureKind values): from an
# untrusted segment, that is what segmentation is for.
NO_ANSWER = frozenset({"refused", "timeout", "unreachable", "unresolved"})


def kept_out(result: ScanResult, host: HostResult) -> tuple[str, ...]:
    """The untrusted vantage points a failed host did not answer from, when only untrusted ones tried it.

    Such a host is not a failed target but segmentation doing its job (rules/coverage.py says so at info,
    the exit code does not count it). Empty when any trusted vantage point tried it or anything answered.
    """
    if not host.error or host.reachable:
        return ()
    seen = views(result, host)
    if not seen or any(
        trusted(result, v.vantage) or v.reachable or v.error_kind not in NO_ANSWER for v in seen
    ):
        return ()
    return tuple(v.vantage for v in seen)


def untrusted_views(result: ScanResult, host: HostResult) -> tuple[VantageView, ...]:
    """The views of the host from vantage points the result marks untrusted."""
    return tuple(view for view in views(result, host) if not trusted(result, view.vantage))


def vantage_point(name: str, trust: bool) -> VantagePoint:
    """A run's own vantage point, as it is recorded in its result."""
    return VantagePoint(validate_name(name), trust)
