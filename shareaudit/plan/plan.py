"""The plan of one audit: what to scan, as whom, how far, where the results go (frozen, built by the CLI or a caller).

`shareaudit.audit.run.run(plan)` carries a plan out; nothing in a plan talks to a server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from shareaudit.collect.crawl import CrawlBounds
from shareaudit.collect.dicom.options import DicomOptions
from shareaudit.collect.ftp.options import FtpOptions
from shareaudit.collect.nfs.options import NfsOptions
from shareaudit.collect.sweep import SweepOptions
from shareaudit.plan.identities import Identity
from shareaudit.plan.targets import TargetList

if TYPE_CHECKING:
    from shareaudit.ad.settings import LdapSettings
    from shareaudit.audit.alerts import EmailTarget, WebhookTarget
    from shareaudit.audit.suppress import Rule
    from shareaudit.model import Directory, VantagePoint


@dataclass(frozen=True, slots=True)
class Bounds:
    """How far collection goes on each host."""

    timeout: float = 5.0
    max_hosts: int = 16
    max_shares: int = 4
    crawl: CrawlBounds | None = field(default_factory=CrawlBounds)  # None: measure access only
    include_shares: tuple[str, ...] = ()
    exclude_shares: tuple[str, ...] = ()
    active_write_probe: bool = False
    protocols: tuple[str, ...] = ("smb", "dicom", "ftp")  # which doors are looked at (--protocols)
    dicom: DicomOptions = field(default_factory=DicomOptions)
    ftp: FtpOptions = field(default_factory=FtpOptions)
    nfs: NfsOptions = field(default_factory=NfsOptions)
    sweep: SweepOptions | None = field(default_factory=SweepOptions)  # None: --no-sweep


@dataclass(frozen=True, slots=True)
class Outputs:
    """Where the run's results go; None: not written."""

    json: Path | None = None
    html: Path | None = None
    csv: Path | None = None
    inventory: Path | None = None  # medical files, streamed as found (JSON Lines)


@dataclass(frozen=True, slots=True)
class HistoryPlan:
    """Record the run under `name` in the SQLite history at `path`."""

    path: Path
    name: str


@dataclass(frozen=True, slots=True)
class AlertPlan:
    """Tell these receivers about new findings at or above `threshold`."""

    threshold: str
    webhook: WebhookTarget | None = None
    email: EmailTarget | None = None


@dataclass(frozen=True, slots=True)
class DirectoryPlan:
    """The directory already read (for targets and groups), and how to ask it for names after the scan."""

    directory: Directory
    ldap: LdapSettings


@dataclass(frozen=True, slots=True)
class Plan:
    """One audit, ready to run."""

    targets: TargetList
    identities: tuple[Identity, ...]
    data_dir: Path  # the redaction key lives here
    bounds: Bounds = field(default_factory=Bounds)
    outputs: Outputs = field(default_factory=Outputs)
    show_names: bool = False
    history: HistoryPlan | None = None
    suppressions: tuple[Rule, ...] = ()
    alerts: AlertPlan | None = None
    directory: DirectoryPlan | None = None
    run_by: str = ""
    labels: Mapping[str, object] = field(
        default_factory=dict
    )  # extra facts for result.options (device check)
    vantage: VantagePoint | None = None  # --vantage: where the scan runs from, and whether it is trusted
