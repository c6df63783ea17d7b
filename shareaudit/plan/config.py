"""The audit config file (TOML): targets, identities by secret reference, bounds, outputs, history, alerts.

Validation is pydantic's, with unknown keys refused; every error names the key and its line in the file.
Secrets are never written in the file itself: only an environment variable name or a file path.
Relative paths are taken relative to the config file's directory.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shareaudit.errors import InputError
from shareaudit.plan.identities import (
    AUDIT_LABEL,
    RESERVED_LABELS,
    Identity,
    IdentityKind,
    Secret,
    read_secret_file,
    secret_from_env,
    split_account,
    validate_label,
)

Severity = Literal["critical", "high", "medium", "low", "info"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretRef(_Strict):
    """Where a password is: an environment variable or a private file, never the password itself."""

    password_env: str | None = None
    password_file: Path | None = None

    def secret(self, where: str) -> Secret:
        """Resolve the reference; InputError when it cannot be."""
        if self.password_file is not None:
            return read_secret_file(self.password_file)
        if self.password_env:
            found = secret_from_env(self.password_env)
            if found is None:
                raise InputError(f"{where}: environment variable {self.password_env} is not set")
            return found
        raise InputError(f"{where}: give password_env or password_file")


class AuditAccount(SecretRef):
    """The audit account."""

    user: str


class IdentityEntry(SecretRef):
    """A service/device account to measure."""

    account: str


class ScanSection(_Strict):
    """How to talk to hosts."""

    timeout: float = Field(5.0, gt=0, le=300)
    max_hosts: int = Field(16, ge=1, le=1024)
    anonymous: bool = True
    guest: bool = True
    active_write_probe: bool = False
    strict: bool = False


class CrawlSection(_Strict):
    """How to walk shares."""

    enabled: bool = True
    include_shares: list[str] = []
    exclude_shares: list[str] = []
    max_shares: int = Field(4, ge=1, le=64)
    max_depth: int = Field(12, ge=0, le=64)
    max_entries: int = Field(200_000, ge=1)
    max_dir_entries: int = Field(20_000, ge=1)
    time_budget: float = Field(300.0, ge=1)
    max_rate: float = Field(1000.0, ge=0)
    sniff: bool = True
    max_sniff: int = Field(5_000, ge=0)
    show_names: bool = False


class OutputSection(_Strict):
    """Where results go, and when the exit code says 'findings'."""

    dir: Path | None = None
    json_path: Path | None = Field(None, alias="json")
    html: Path | None = None
    csv: Path | None = None
    inventory: Path | None = None
    fail_on: Severity | None = None


class HistorySection(_Strict):
    """The run history (SQLite) and accepted risks."""

    enabled: bool = True
    path: Path | None = None
    name: str | None = None  # which runs count as "the same audit" for diffs; default: the config file name
    suppressions: Path | None = None


class WebhookSection(_Strict):
    """POST a JSON summary of new findings."""

    url: str
    ca_file: Path | None = None
    verify_tls: bool = True

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not re.match(r"^https?://", url):
            raise ValueError("must start with http:// or https://")
        return url


class EmailSection(_Strict):
    """Mail a summary of new findings through an SMTP server."""

    host: str
    port: int = Field(587, ge=1, le=65535)
    sender: str
    recipients: list[str] = Field(min_length=1)
    starttls: bool = True
    username: str | None = None
    password_env: str | None = None
    ca_file: Path | None = None


class AlertsSection(_Strict):
    """Notify when a run has new findings at or above the threshold."""

    threshold: Severity = "high"
    webhook: WebhookSection | None = None
    email: EmailSection | None = None


class AuditConfig(_Strict):
    """A whole config file."""

    targets: list[str] = []
    data_dir: Path | None = None
    audit: AuditAccount | None = None
    identities: dict[str, IdentityEntry] = {}
    scan: ScanSection = ScanSection()
    crawl: CrawlSection = CrawlSection()
    output: OutputSection = OutputSection()
    history: HistorySection = HistorySection()
    alerts: AlertsSection = AlertsSection()


def _line_of(text: str, loc: tuple[int | str, ...]) -> int:
    """The line where the key at `loc` is written (or its table starts); 1 when it cannot be found."""
    keys = [str(part) for part in loc if isinstance(part, str)]
    table: list[str] = []
    fallback = 1
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        header = re.match(r"^\[\[?\s*([^\]]+?)\s*\]\]?$", line)
        if header:
            table = [part.strip().strip('"') for part in header.group(1).split(".")]
            if table == keys[: len(table)] and len(table) > 0:
                fallback = number
            continue
        assignment = re.match(r'^("?)([A-Za-z0-9_.-]+)\1\s*=', line)
        if (
            assignment
            and table + assignment.group(2).split(".")
            == keys[: len(table) + 1 + assignment.group(2).count(".")]
        ):
            if len(table) + 1 + assignment.group(2).count(".") == len(keys) or not keys[len(table) + 1 :]:
                return number
            fallback = number
    return fallback


def load(path: Path) -> AuditConfig:
    """Read and validate a config file; InputError naming the file, line and key on any problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read config {path}: {exc.strerror}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML: {exc}") from exc
    try:
        config = AuditConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        key = ".".join(str(part) for part in loc)
        message = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise InputError(f"{path}:{_line_of(text, loc)}: {key}: {message}{more}") from exc
    for label in config.identities:
        try:
            validate_label(label)
        except InputError as exc:
            raise InputError(f"{path}:{_line_of(text, ('identities', label))}: {exc}") from exc
        if label in RESERVED_LABELS:
            raise InputError(
                f"{path}:{_line_of(text, ('identities', label))}: identities.{label}: label is reserved"
            )
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
        "include_share": tuple(crawl.include_shares),
        "exclude_share": tuple(crawl.exclude_shares),
        "no_crawl": not crawl.enabled,
        "max_shares": crawl.max_shares,
        "max_depth": crawl.max_depth,
        "max_entries": crawl.max_entries,
        "max_dir_entries": crawl.max_dir_entries,
        "time_budget": crawl.time_budget,
        "max_rate": crawl.max_rate,
        "no_sniff": not crawl.sniff,
        "max_sniff": crawl.max_sniff,
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
    }
    return {key: value for key, value in defaults.items() if value is not None}
