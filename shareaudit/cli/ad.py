"""Active Directory on the command line: `shareaudit discover`, and the LDAP options of `scan`.

Parse the options, call `shareaudit.ad` and `shareaudit.ad.exposure`, render; no LDAP here. The bind
password comes from $SHAREAUDIT_LDAP_PASSWORD, --ldap-password-file (mode 600), the audit account's own
password when the same account binds, or a prompt on a terminal: never the command line.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cattrs
import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from shareaudit.ad.devices import DEFAULT_OLD_PASSWORD_DAYS, DEFAULT_SERVICE_PATTERNS, ServiceRules, explain
from shareaudit.ad.directory import ComputerFilter, read_directory, targets_from
from shareaudit.ad.settings import AUTH_METHODS, LdapSettings
from shareaudit.cli.options import grouped
from shareaudit.errors import CollectError, InputError
from shareaudit.model import Directory, DirectoryAccount
from shareaudit.plan.identities import Identity, IdentityKind, Secret, read_secret_file, secret_from_env
from shareaudit.plan.targets import Target, TargetList

LDAP_PASSWORD_ENV = "SHAREAUDIT_LDAP_PASSWORD"
EXIT_INPUT = 2
EXIT_DIRECTORY_FAILED = 3
DISCOVER_SCHEMA = "shareaudit-discover/1"

DISCOVER_EXIT_HELP = """\b
Exit codes:
  0    the directory was read
  2    usage or input error: bad option, wrong LDAP credentials, certificate not trusted
  3    the directory could not be reached (refused, timed out, name does not resolve)
  4    internal error (run with --debug and report it)"""


@dataclass(frozen=True, slots=True)
class DirectoryOptions:
    """The LDAP and AD options of a command, as given."""

    url: str
    auth: str
    user: str | None
    password_file: Path | None
    ca_file: Path | None
    insecure: bool
    base: str | None
    timeout: float
    kerberos_host: str | None
    from_ad: bool = False
    filter: ComputerFilter = field(default_factory=ComputerFilter)
    named: tuple[str, ...] = ()
    service: ServiceRules = field(default_factory=ServiceRules)


_OPTIONS: tuple[Callable[[Any], Any], ...] = (
    click.option(
        "--ldap-url",
        metavar="URL",
        help="Domain controller: ldaps://dc[:636] (TLS) or ldap://dc[:389] (upgraded with StartTLS; "
        "nothing is ever sent in clear text).",
    ),
    click.option(
        "--ldap-auth",
        type=click.Choice(AUTH_METHODS),
        default="simple",
        show_default=True,
        help="simple: --ldap-user and its password. kerberos: SASL GSSAPI with the ticket from kinit "
        "(KRB5CCNAME), needs the 'kerberos' extra; tested against a Samba 4.17 DC that allows SASL over TLS "
        "('ldap server require strong auth = allow_sasl_over_tls'), whose default refuses it. "
        "ntlm: DOMAIN\\user, for Windows DCs, UNTESTED against a real server (it cannot bind to Samba).",
    ),
    click.option(
        "--ldap-user",
        metavar="USER",
        help="Bind as DOMAIN\\user, user@realm or a DN. Password: $SHAREAUDIT_LDAP_PASSWORD, "
        "--ldap-password-file, or a prompt. For scan the default is the audit account (-u) and its password.",
    ),
    click.option(
        "--ldap-password-file",
        type=click.Path(path_type=Path, dir_okay=False),
        help="File whose first line is the LDAP bind password (mode 600).",
    ),
    click.option(
        "--ldap-ca-file",
        type=click.Path(path_type=Path, dir_okay=False),
        help="PEM file of the CA that issued the DC's certificate (default: the system's trusted CAs).",
    ),
    click.option(
        "--ldap-insecure",
        is_flag=True,
        help="Do not verify the DC's certificate (lab use only: anyone on the path could read the bind).",
    ),
    click.option(
        "--ldap-base", metavar="DN", help="Search base (default: the rootDSE's defaultNamingContext)."
    ),
    click.option(
        "--ldap-timeout",
        type=click.FloatRange(0.5, 300),
        default=10.0,
        show_default=True,
        help="Seconds to wait for the DC.",
    ),
    click.option(
        "--ldap-kerberos-host",
        metavar="HOST",
        help="Host part of the DC's ldap/ service principal (default: the DC's dnsHostName from the rootDSE).",
    ),
    click.option(
        "--ad-ou",
        multiple=True,
        metavar="DN",
        help="Only computers in this OU (e.g. OU=Servers,OU=Hospital); repeatable.",
    ),
    click.option(
        "--ad-name", multiple=True, metavar="GLOB", help="Only computers whose name matches; repeatable."
    ),
    click.option(
        "--ad-os", multiple=True, metavar="GLOB", help="Only computers whose OS matches, e.g. '*Server*'."
    ),
    click.option(
        "--device-account",
        multiple=True,
        metavar="NAME",
        help="Treat this account (sAMAccountName) as a device account whatever it looks like; repeatable.",
    ),
    click.option(
        "--service-pattern",
        multiple=True,
        metavar="PATTERN",
        help="A naming convention of service accounts, added to the built-in ones ("
        + ", ".join(DEFAULT_SERVICE_PATTERNS)
        + "): 'svc-' is a prefix, '-svc' a suffix, 'svc*' a glob, anything else a whole word; repeatable.",
    ),
    click.option(
        "--old-password-days",
        type=click.IntRange(1, 36500),
        default=DEFAULT_OLD_PASSWORD_DAYS,
        show_default=True,
        metavar="DAYS",
        help="A password set longer ago than this is a (weak) sign of a service account.",
    ),
)
_KEYS = (
    "ldap_url",
    "ldap_auth",
    "ldap_user",
    "ldap_password_file",
    "ldap_ca_file",
    "ldap_insecure",
    "ldap_base",
    "ldap_timeout",
    "ldap_kerberos_host",
    "ad_ou",
    "ad_name",
    "ad_os",
    "device_account",
    "service_pattern",
    "old_password_days",
    "from_ad",
)
# Options with a default value: given or not, they do not ask for --ldap-url.
_DEFAULTED = ("ldap_auth", "ldap_timeout", "old_password_days")


def _directory_options(values: dict[str, Any]) -> DirectoryOptions | None:
    if not values.get("ldap_url"):
        given = [key for key in _KEYS if key not in _DEFAULTED and values.get(key)]
        if given:
            raise InputError(f"--{given[0].replace('_', '-')} needs --ldap-url")
        return None
    return DirectoryOptions(
        url=values["ldap_url"],
        auth=values["ldap_auth"],
        user=values["ldap_user"],
        password_file=values["ldap_password_file"],
        ca_file=values["ldap_ca_file"],
        insecure=values["ldap_insecure"],
        base=values["ldap_base"],
        timeout=values["ldap_timeout"],
        kerberos_host=values["ldap_kerberos_host"],
        from_ad=bool(values.get("from_ad")),
        filter=ComputerFilter(tuple(values["ad_ou"]), tuple(values["ad_name"]), tuple(values["ad_os"])),
        named=tuple(values["device_account"]),
        service=_service_rules(values),
    )


def _service_rules(values: dict[str, Any]) -> ServiceRules:
    try:
        return ServiceRules.with_patterns(values.get("service_pattern") or (), values["old_password_days"])
    except ValueError as exc:
        raise InputError(f"--service-pattern: {exc}") from None


directory_options = grouped("directory", _OPTIONS, _KEYS, _directory_options)


def from_ad_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """`scan --from-ad`: take targets from the directory's computers (with --ad-ou/--ad-name/--ad-os)."""
    return click.option(
        "--from-ad",
        is_flag=True,
        help="Also scan the enabled computers of the directory (--ldap-url), filtered by --ad-ou, --ad-name, --ad-os.",
    )(command)


def _secret(options: DirectoryOptions, user: str, fallback: Identity | None) -> Secret:
    secret = secret_from_env(LDAP_PASSWORD_ENV)
    if secret is None and options.password_file is not None:
        secret = read_secret_file(options.password_file)
    if secret is None and fallback is not None and user == fallback.qualified_name:
        secret = fallback.secret
    if secret is None:
        if not sys.stdin.isatty():
            raise InputError(
                f"no LDAP password for {user}: set {LDAP_PASSWORD_ENV} or use --ldap-password-file"
            )
        secret = Secret(click.prompt(f"LDAP password for {user}", hide_input=True, err=True))
    return secret


def ldap_settings(options: DirectoryOptions, audit: Identity | None = None) -> LdapSettings:
    """Connection settings with the bind secret resolved (the audit account's, when it binds)."""
    user: str | None = None
    secret: Secret | None = None
    if options.auth != "kerberos":
        default = audit.qualified_name if audit and audit.kind is IdentityKind.USER else None
        user = options.user or default
        if not user:
            raise InputError("--ldap-user is required for --ldap-auth simple and ntlm")
        secret = _secret(options, user, audit)
    return LdapSettings(
        url=options.url,
        auth=options.auth,
        user=user,
        secret=secret,
        ca_file=options.ca_file,
        verify=not options.insecure,
        timeout=options.timeout,
        base_dn=options.base,
        kerberos_host=options.kerberos_host,
    )


def _fail_unreachable(exc: CollectError) -> click.exceptions.Exit:
    click.echo(f"shareaudit: error: {exc}", err=True)
    return click.exceptions.Exit(EXIT_DIRECTORY_FAILED)


def read(options: DirectoryOptions, audit: Identity | None, identities: list[Identity]) -> Directory:
    """Read the directory; a DC that cannot be reached ends the command with exit code 3."""
    settings = ldap_settings(options, audit)
    accounts = {i.label: i.username for i in identities if i.kind is IdentityKind.USER}
    from shareaudit.ad.connection import DirectoryConnection  # ldap3, loaded only when it is needed

    try:
        with DirectoryConnection(settings) as connection:
            return read_directory(connection, options.url, options.named, accounts, options.service)
    except CollectError as exc:
        raise _fail_unreachable(exc) from exc


def merge_targets(target_list: TargetList, directory: Directory, options: DirectoryOptions) -> TargetList:
    """The scan's own targets plus, with --from-ad, the directory's matching computers (no duplicates)."""
    if not options.from_ad:
        return target_list
    known = {(t.host, t.port) for t in target_list.targets}
    added: list[Target] = [
        t for t in targets_from(directory, options.filter) if (t.host, t.port) not in known
    ]
    return TargetList((*target_list.targets, *added), target_list.problems)


# --- discover --------------------------------------------------------------------------------------------------


def _table(directory: Directory, console: Console) -> None:
    computers = Table(title=f"Computers in {directory.dns_domain}", title_justify="left")
    for column in ("name", "enabled", "os", "dns name", "address", "ou"):
        computers.add_column(column)
    for c in directory.computers:
        ou = c.dn.split(",", 1)[1] if "," in c.dn else ""
        computers.add_row(
            Text(c.name),
            "yes" if c.enabled else "DISABLED",
            Text(c.os or "-"),
            Text(c.dns_name or "-"),
            c.address or "-",
            Text(ou),
        )
    console.print(computers)
    printers = Table(title="Published printers", title_justify="left")
    for column in ("printer", "server", "unc", "port", "driver"):
        printers.add_column(column)
    for p in directory.printers:
        printers.add_row(
            Text(p.name), Text(p.server), Text(p.unc), Text(p.port or "-"), Text(p.driver or "-")
        )
    console.print(printers)
    accounts = Table(title="Candidate device/service accounts", title_justify="left")
    for column in (
        "account",
        "enabled",
        "why (points)",
        "groups (through)",
        "kerberos, logon",
        "description",
    ):
        accounts.add_column(column)
    for a in directory.accounts:
        if not a.device:
            continue
        groups = ", ".join(
            g.name
            + (f" ({' > '.join(g.path[:-1])})" if len(g.path) > 1 else "")
            + (" [PRIVILEGED]" if g.privileged else "")
            for g in a.groups
        )
        accounts.add_row(
            Text(a.name),
            "yes" if a.enabled else "DISABLED",
            Text(explain(a.signals, a.score, a.person) if a.signals else ", ".join(a.reasons)),
            Text(groups),
            Text(_kerberos_and_logon(a)),
            Text(a.description),
        )
    console.print(accounts)


def _kerberos_and_logon(account: DirectoryAccount) -> str:
    """RC4 with an SPN (Kerberoastable), where it may log on from, when it last did."""
    facts = []
    if account.spns and account.rc4:
        facts.append("SPN + RC4: Kerberoastable" if not account.managed else "SPN + RC4 (managed password)")
    elif account.spns:
        facts.append("SPN, AES only")
    facts.append(
        "logon from " + ", ".join(account.workstations) if account.workstations else "logon from anywhere"
    )
    facts.append(f"last logon {account.last_logon[:10]}" if account.last_logon else "never logged on")
    if account.password_last_set:
        facts.append(f"password set {account.password_last_set[:10]}")
    return "; ".join(facts)


def _targets_file(directory: Directory, wanted: ComputerFilter) -> str:
    lines = [f"# shareaudit discover: enabled computers of {directory.dns_domain} (scan @this-file)"]
    by_name = {(c.dns_name or c.name).lower(): c for c in directory.computers}
    for target in targets_from(directory, wanted):
        computer = by_name.get(target.spec)
        note = f"{target.spec}  {computer.os or ''}".strip() if computer else target.spec
        lines.append(f"{target.host}  # {note}")
    return "\n".join(lines) + "\n"


@click.command("discover", epilog=DISCOVER_EXIT_HELP)
@click.option(
    "--json",
    "json_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write what was found as JSON.",
)
@click.option(
    "--targets-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the enabled computers (after --ad-ou/--ad-name/--ad-os) as a target list for `scan @FILE`.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
@directory_options
def discover_command(
    directory: DirectoryOptions | None, json_path: Path | None, targets_file: Path | None, quiet: bool
) -> int:
    """List computers, published printers and candidate device/service accounts from Active Directory."""
    if directory is None:
        raise InputError("discover needs --ldap-url")
    found = read(directory, None, [])
    if json_path:
        document = {"schema": DISCOVER_SCHEMA, "directory": cattrs.Converter().unstructure(found)}
        json_path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if targets_file:
        targets_file.write_text(_targets_file(found, directory.filter), encoding="utf-8")
    if not quiet:
        _table(found, Console(highlight=False, width=None if sys.stdout.isatty() else 160))
    return 0
