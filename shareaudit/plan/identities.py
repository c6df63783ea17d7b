"""Identities the scan acts as, and where their secrets come from (environment, file, prompt).

A password lives in a `Secret`, whose repr and str never show it, so it cannot leak into a log line,
a traceback's locals, a report or the JSON. Only the SMB adapters call `Secret.reveal()`.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from shareaudit.errors import InputError
from shareaudit.model import IdentityInfo, Role
from shareaudit.model import IdentityKind as IdentityKind  # re-exported: identities are planned here
from shareaudit.plan.files import STRICT, LaxPath, read_toml

PASSWORD_ENV = "SHAREAUDIT_PASSWORD"


class Secret:
    """A password that refuses to be printed."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself; call only where it is sent to a server."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


EMPTY = Secret("")


@dataclass(frozen=True, slots=True)
class Identity:
    """Someone the scan acts as: a label for the report and how to log on."""

    label: str
    kind: IdentityKind
    username: str = ""
    domain: str = ""
    secret: Secret = field(default=EMPTY, repr=False, compare=False)

    def info(self) -> IdentityInfo:
        """The identity as a scan result records it: never its password."""
        return IdentityInfo(self.label, self.kind, self.username, self.domain)

    @property
    def qualified_name(self) -> str:
        """DOMAIN\\user, or user, or a description for anonymous."""
        if self.kind is IdentityKind.ANONYMOUS:
            return "(null session)"
        return f"{self.domain}\\{self.username}" if self.domain else self.username


def privilege(identity: Identity) -> int:
    """The one privilege order of identities: anonymous < guest < device/service account < audit account.

    Who walks a share is the least privileged reader; who lists shares and reads ACLs the most privileged.
    """
    if identity.kind is IdentityKind.ANONYMOUS:
        return 0
    if identity.kind is IdentityKind.GUEST:
        return 1
    return 3 if identity.label == AUDIT_LABEL else 2


ANONYMOUS = Identity(Role.ANONYMOUS.value, IdentityKind.ANONYMOUS)
GUEST = Identity(Role.GUEST.value, IdentityKind.GUEST, username="Guest")
AUDIT_LABEL = Role.AUDIT.value

_LABEL = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,31}$")


def validate_label(label: str) -> str:
    """A label names a column of the access matrix: short, starting with a letter."""
    if not _LABEL.match(label):
        raise InputError(
            f"identity label {label!r} must start with a letter and use only letters, digits, . _ -"
        )
    return label


def split_account(account: str) -> tuple[str, str]:
    """Split DOMAIN\\user (or user@domain) into (domain, user)."""
    if "\\" in account:
        domain, _, user = account.partition("\\")
    elif "@" in account:
        user, _, domain = account.partition("@")
    else:
        domain, user = "", account
    if not user:
        raise InputError(f"account {account!r} has no user name")
    return domain, user


def env_name_for(label: str) -> str:
    """SHAREAUDIT_PASSWORD_<LABEL>: label upper-cased, anything not alphanumeric as '_'."""
    return f"{PASSWORD_ENV}_" + re.sub(r"[^A-Za-z0-9]", "_", label).upper()


def read_secret_file(path: Path) -> Secret:
    """The first line of a file that only its owner may read."""
    try:
        info = path.stat()
    except OSError as exc:
        raise InputError(f"cannot read password file {path}: {exc.strerror}") from exc
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InputError(
            f"password file {path} is readable by group or others (mode {stat.S_IMODE(info.st_mode):04o}); "
            f"run: chmod 600 {path}"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read password file {path}: {exc}") from exc
    return Secret(text.splitlines()[0] if text else "")


def secret_from_env(name: str) -> Secret | None:
    """A secret from the environment, or None when the variable is unset."""
    value = os.environ.get(name)
    return None if value is None else Secret(value)


def audit_identity(
    user: str | None,
    domain: str,
    password_file: Path | None,
    prompt: Callable[[str], str] | None,
) -> Identity | None:
    """The audit account from -u/-d, its password from the environment, a file, or a prompt."""
    if user is None:
        if password_file is not None:
            raise InputError("--password-file needs -u/--user")
        return None
    split_domain, username = split_account(user)
    domain = domain or split_domain
    secret = read_secret_file(password_file) if password_file else secret_from_env(PASSWORD_ENV)
    if secret is None:
        if prompt is None:
            raise InputError(
                f"no password for {user}: set {PASSWORD_ENV}, use --password-file, or run on a terminal to be asked"
            )
        secret = Secret(prompt(f"Password for {domain + chr(92) if domain else ''}{username}"))
    return Identity(AUDIT_LABEL, IdentityKind.USER, username, domain, secret)


RESERVED_LABELS = frozenset({Role.ANONYMOUS.value, Role.GUEST.value, AUDIT_LABEL})


def parse_identity_option(spec: str) -> tuple[str, str, str]:
    """LABEL=[DOMAIN\\]USER (from --identity) as (label, domain, user)."""
    label, sep, account = spec.partition("=")
    if not sep or not account:
        raise InputError(f"--identity {spec!r} must look like LABEL=[DOMAIN\\]USER")
    label = validate_label(label)
    if label in RESERVED_LABELS:
        raise InputError(f"identity label {label!r} is reserved for the built-in identities")
    domain, user = split_account(account)
    return label, domain, user


class SecretSource(BaseModel):
    """Where a password is: an environment variable or a private file, never the password itself.

    Shared by the identities file and the config file: a `password = "..."` key is refused in both.
    """

    model_config = STRICT

    password_env: Annotated[str, Field(min_length=1)] | None = None
    password_file: LaxPath | None = None
    # Declared only to be refused with a message that says what to write instead.
    password: None = Field(None, exclude=True, repr=False)

    @field_validator("password", mode="before")
    @classmethod
    def _no_inline_password(cls, value: object) -> None:
        raise PydanticCustomError(
            "inline_password",
            "unknown key: a password is never written in the file; use password_env or password_file",
        )

    @model_validator(mode="after")
    def _one_source(self) -> SecretSource:
        if self.password_env is not None and self.password_file is not None:
            raise ValueError("give one of password_env, password_file")
        return self

    def resolve(self, where: str = "") -> Secret | None:
        """The secret from the file or the environment; None when neither is given.

        InputError when it cannot be read; `where` (if given) starts the message of an unset variable.
        """
        if self.password_file is not None:
            return read_secret_file(self.password_file.expanduser())
        if self.password_env is not None:
            found = secret_from_env(self.password_env)
            if found is None:
                unset = f"environment variable {self.password_env} is not set"
                raise InputError(f"{where}: {unset}" if where else unset)
            return found
        return None


class _FileIdentity(SecretSource):
    account: Annotated[str, Field(min_length=1)]


class _IdentitiesFile(BaseModel):
    model_config = STRICT

    identities: dict[str, _FileIdentity] = {}


def _refuse_shared_file(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise InputError(f"cannot read identities file {path}: {exc.strerror}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InputError(
            f"identities file {path} is readable by group or others (mode {stat.S_IMODE(mode):04o}); "
            f"run: chmod 600 {path}"
        )


def load_identities_file(path: Path) -> dict[str, tuple[str, str, Secret | None]]:
    """[identities.LABEL] tables: account, and password_env or password_file; the file must be private."""
    _refuse_shared_file(path)
    document = read_toml(path, "identities file")
    loaded = document.validate(_IdentitiesFile)
    entries: dict[str, tuple[str, str, Secret | None]] = {}
    for label, entry in loaded.identities.items():
        where = ("identities", label)
        try:
            validate_label(label)
        except InputError as exc:
            raise document.problem(where, str(exc)) from None
        if label in RESERVED_LABELS:
            raise document.problem(where, "label is reserved for the built-in identities")
        try:
            domain, user = split_account(entry.account)
        except InputError as exc:
            raise document.problem((*where, "account"), str(exc)) from None
        try:
            secret = entry.resolve()
        except InputError as exc:
            source = "password_file" if entry.password_file is not None else "password_env"
            raise document.problem((*where, source), str(exc)) from None
        entries[label] = (domain, user, secret)
    return entries


def extra_identities(options: Sequence[str], identities_file: Path | None) -> list[Identity]:
    """Service-account identities from --identity and --identities-file, each with its password."""
    from_file = load_identities_file(identities_file) if identities_file else {}
    wanted: dict[str, tuple[str, str, Secret | None]] = dict(from_file)
    for spec in options:
        label, domain, user = parse_identity_option(spec)
        if label in wanted and label not in from_file:
            raise InputError(f"identity label {label!r} is given twice")
        secret = wanted[label][2] if label in from_file else None
        wanted[label] = (domain, user, secret)
    identities = []
    for label, (domain, user, secret) in wanted.items():
        secret = secret_from_env(env_name_for(label)) or secret
        if secret is None:
            raise InputError(
                f"no password for identity {label!r}: set {env_name_for(label)} or give it in --identities-file"
            )
        identities.append(Identity(label, IdentityKind.USER, user, domain, secret))
    return identities
