"""The audit config file (TOML): targets, identities by secret reference, bounds, outputs, history, alerts.

Validation is pydantic's, with unknown keys refused; every error names the key and its line in the file.
Secrets are never written in the file itself: only an environment variable name or a file path.
Relative paths are taken relative to the config file's directory.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator

from shareaudit.errors import InputError
from shareaudit.model import Severity
from shareaudit.plan.files import STRICT, LaxPath, read_toml
from shareaudit.plan.identities import (
    AUDIT_LABEL,
    RESERVED_LABELS,
    Identity,
    IdentityKind,
    Secret,
    SecretSource,
    split_account,
    validate_label,
)
from shareaudit.vantage import NAME_RULE as VANTAGE_NAME_RULE
from shareaudit.vantage import is_name as is_vantage_name

# Severity names as the user writes them (TOML strings), checked against the enum of the findings.
SeverityName = Annotated[Severity, Field(strict=False)]


class SecretRef(SecretSource):
    """Where a password is: an environment variable or a private file, never the password itself."""

    def secret(self, where: str) -> Secret:
        """Resolve the reference; InputError when it cannot be."""
        found = self.resolve(where)
        if found is None:
            raise InputError(f"{where}: give password_env or password_file")
        return found


class AuditAccount(SecretRef):
    """The audit account."""

    user: str


class IdentityEntry(SecretRef):
    """A service/device account to measure."""

    account: str


class ScanSection(BaseModel):
    """How to talk to hosts."""

    model_config = STRICT

    timeout: float = Field(5.0, gt=0, le=300)
    max_hosts: int = Field(16, ge=1, le=1024)
    anonymous: bool = True
    guest: bool = True
    active_write_probe: bool = False
    strict: bool = False
    protocols: list[Literal["smb", "dicom", "ftp", "nfs"]] = Field(
        ["smb", "dicom", "ftp", "nfs"], min_length=1
    )
    sweep: bool = True  # a connect sweep of every port first; deep scans only where something answered
    sweep_concurrency: int = Field(0, ge=0)  # connections in flight (0: as the open-file limit allows)
    vantage: str | None = None  # where the scanner runs (--vantage): a network segment's name

    @field_validator("vantage")
    @classmethod
    def _vantage_name(cls, name: str | None) -> str | None:
        if name is not None and not is_vantage_name(name):
            raise ValueError(f"not a vantage point name: {VANTAGE_NAME_RULE}")
        return name


class VantageSection(BaseModel):
    """A vantage point (network segment) a scanner runs from: `[vantage.guest-wifi] trusted = false`."""

    model_config = STRICT

    trusted: bool = True  # false: medical data or an open write door reachable from here is a finding


class DicomSection(BaseModel):
    """The DICOM door: ports beside the defaults, called AE titles the servers are known by, the count bound."""

    model_config = STRICT

    ports: list[Annotated[int, Field(ge=1, le=65535)]] = []  # added to 104, 11112 and 4242
    ae_titles: list[Annotated[str, Field(min_length=1, max_length=16)]] = Field([], max_length=16)
    max_studies: int = Field(10_000, ge=1)


class FtpSection(BaseModel):
    """The FTP door: ports beside the defaults (21, and 990 for implicit FTPS)."""

    model_config = STRICT

    ports: list[Annotated[int, Field(ge=1, le=65535)]] = []


class NfsSection(BaseModel):
    """The NFS door: ports beside 2049 and 111, and AUTH_SYS identities tried besides nobody."""

    model_config = STRICT

    ports: list[Annotated[int, Field(ge=1, le=65535)]] = []
    uids: dict[str, Annotated[str, Field(pattern=r"^[0-9]{1,10}(:[0-9]{1,10})?$")]] = Field({}, max_length=16)


class CrawlSection(BaseModel):
    """How to walk shares."""

    model_config = STRICT

    enabled: bool = True
    include_shares: list[str] = []
    exclude_shares: list[str] = []
    max_shares: int = Field(4, ge=1, le=64)
    max_depth: int = Field(12, ge=0, le=64)
    max_entries: int = Field(200_000, ge=1)
    max_dir_entries: int = Field(20_000, ge=1)
    time_budget: float = Field(300.0, ge=1)
    max_rate: float = Field(1000.0, ge=0)
    connections: int = Field(2, ge=1, le=8)
    sniff: bool = True
    max_sniff: int = Field(5_000, ge=0)
    sample: bool = True
    show_names: bool = False


class OutputSection(BaseModel):
    """Where results go, and when the exit code says 'findings'."""

    model_config = STRICT

    dir: LaxPath | None = None
    json_path: LaxPath | None = Field(None, alias="json")
    html: LaxPath | None = None
    csv: LaxPath | None = None
    inventory: LaxPath | None = None
    fail_on: SeverityName | None = None


class HistorySection(BaseModel):
    """The run history (SQLite) and accepted risks."""

    model_config = STRICT

    enabled: bool = True
    path: LaxPath | None = None
    name: str | None = None  # which runs count as "the same audit" for diffs; default: the config file name
    suppressions: LaxPath | None = None


class WebhookSection(BaseModel):
    """POST a JSON summary of new findings."""

    model_config = STRICT

    url: str
    ca_file: LaxPath | None = None
    verify_tls: bool = True

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not re.match(r"^https?://", url):
            raise ValueError("must start with http:// or https://")
        return url


class EmailSection(BaseModel):
    """Mail a summary of new findings through an SMTP server."""

    model_config = STRICT

    host: str
    port: int = Field(587, ge=1, le=65535)
    sender: str
    recipients: list[str] = Field(min_length=1)
    starttls: bool = True
    username: str | None = None
    password_env: str | None = None
    ca_file: LaxPath | None = None


class AlertsSection(BaseModel):
    """Notify when a run has new findings at or above the threshold."""

    model_config = STRICT

    threshold: SeverityName = Severity.HIGH
    webhook: WebhookSection | None = None
    email: EmailSection | None = None


class AuditConfig(BaseModel):
    """A whole config file."""

    model_config = STRICT

    targets: list[str] = []
    data_dir: LaxPath | None = None
    audit: AuditAccount | None = None
    identities: dict[str, IdentityEntry] = {}
    scan: ScanSection = ScanSection()
    crawl: CrawlSection = CrawlSection()
    dicom: DicomSection = DicomSection()
    ftp: FtpSection = FtpSection()
    nfs: NfsSection = NfsSection()
    output: OutputSection = OutputSection()
    history: HistorySection = HistorySection()
    alerts: AlertsSection = AlertsSection()
    vantage: dict[str, VantageSection] = {}


def load(path: Path) -> AuditConfig:
    """Read and validate a config file; InputError naming the file, line and key on any problem."""
    document = read_toml(path, "config")
    config = document.validate(AuditConfig)
    for label in config.identities:
        try:
            validate_label(label)
        except InputError as exc:
            raise document.problem(("identities", label), str(exc)) from None
        if label in RESERVED_LABELS:
            raise document.problem(("identities", label), "label is reserved")
    for name in config.vantage:
        if not is_vantage_name(name):
            raise document.problem(("vantage", name), f"not a vantage point name: {VANTAGE_NAME_RULE}")
    return _relative_to(config, path.parent)


def _relative_to(config: AuditConfig, base: Path) -> AuditConfig:
    """Resolve relative paths against the config file's directory."""

    def fix(value: Any) -> Any:
        if isinstance(value, Path):
            value = value.expanduser()
            return value if value.is_absolute() else base / value
        if isinstance(value, BaseModel):
            return value.model_copy(
                update={name: fix(getattr(value, name)) for name in type(value).model_fields}
            )
        if isinstance(value, dict):
            return {k: fix(v) for k, v in value.items()}
        return value

    fixed: AuditConfig = fix(config)
    targets = [f"@{fix(Path(t[1:]))}" if t.startswith("@") else t for t in fixed.targets]
    return fixed.model_copy(update={"targets": targets})


def identities(config: AuditConfig, path: Path) -> tuple[Identity | None, list[Identity]]:
    """The audit account and the service accounts, with their secrets resolved."""
    audit = None
    if config.audit is not None:
        domain, user = split_account(config.audit.user)
        audit = Identity(
            AUDIT_LABEL, IdentityKind.USER, user, domain, config.audit.secret(f"{path}: [audit]")
        )
    extra = []
    for label, entry in config.identities.items():
        domain, user = split_account(entry.account)
        secret = entry.secret(f"{path}: [identities.{label}]")
        extra.append(Identity(label, IdentityKind.USER, user, domain, secret))
    return audit, extra


def vantage_trust(config: AuditConfig | None) -> dict[str, bool]:
    """Vantage point name -> trusted, for the vantage points the config names."""
    return {name: section.trusted for name, section in config.vantage.items()} if config else {}


def scan_defaults(config: AuditConfig) -> dict[str, object]:
    """The config as defaults for `shareaudit scan`'s options (click's default_map): flags still win."""
    crawl, scan, output = config.crawl, config.scan, config.output
    defaults: dict[str, object] = {
        "targets": tuple(config.targets),
        "timeout": scan.timeout,
        "max_hosts": scan.max_hosts,
        "no_anonymous": not scan.anonymous,
        "no_guest": not scan.guest,
        "active_write_probe": scan.active_write_probe,
        "strict": scan.strict,
        "protocols": ",".join(scan.protocols),
        "no_sweep": not scan.sweep,
        "sweep_concurrency": scan.sweep_concurrency,
        "dicom_ports": tuple(config.dicom.ports),
        "dicom_ae_titles": tuple(config.dicom.ae_titles),
        "dicom_max_studies": config.dicom.max_studies,
        "ftp_ports": tuple(config.ftp.ports),
        "nfs_ports": tuple(config.nfs.ports),
        "nfs_uids": tuple(f"{label}={ids}" for label, ids in config.nfs.uids.items()),
        "include_share": tuple(crawl.include_shares),
        "exclude_share": tuple(crawl.exclude_shares),
        "no_crawl": not crawl.enabled,
        "max_shares": crawl.max_shares,
        "max_depth": crawl.max_depth,
        "max_entries": crawl.max_entries,
        "max_dir_entries": crawl.max_dir_entries,
        "time_budget": crawl.time_budget,
        "max_rate": crawl.max_rate,
        "walk_connections": crawl.connections,
        "no_sniff": not crawl.sniff,
        "max_sniff": crawl.max_sniff,
        "no_sample": not crawl.sample,
        "show_names": crawl.show_names,
        "json_path": output.json_path,
        "html_path": output.html,
        "csv_path": output.csv,
        "output_dir": output.dir,
        "inventory_path": output.inventory,
        "fail_on": output.fail_on,
        "data_dir": config.data_dir,
        "history_file": config.history.path,
        "no_history": not config.history.enabled,
        "audit_name": config.history.name,
        "suppressions_path": config.history.suppressions,
        "vantage": scan.vantage,
    }
    return {key: value for key, value in defaults.items() if value is not None}
