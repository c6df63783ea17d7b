"""Keys under the mat: files that hold credentials, and the secrets in their first 4 KiB, proven without
being repeated.

Candidates are chosen by name (scan-to-folder settings and address-book exports of multifunction
printers, answer files, web.config, Group Policy Preferences, .env, .git-credentials, .netrc,
smb.conf, credentials files, KeePass databases, private keys, and ini/conf/xml/config files); the head
is parsed as key = value lines, XML (elements, attributes, connection strings), CSV with a header row
(Xerox, Ricoh, Epson, Sharp exports: "Password", "Folder: Password", "Scan Login Password", values in
[brackets]), PEM/PuTTY private keys and URLs with credentials. What leaves this module for each secret is
its kind, the key it sits under, the account next to it when the file names one, and a keyed
fingerprint computed by the caller's function: never the secret. Placeholders (empty, ****, ${VAR},
<password>, "changeme", the key's own name, ...) are not secrets.
"""

from __future__ import annotations

import csv
import html
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from shareaudit.classify.checks import HEAD_LIMIT, HeadView
from shareaudit.model import CredentialKind, SecretKind, SecretSeen

Fingerprint = Callable[[bytes], str]  # secret bytes -> "[secret:<hex>]" (keyed; see redact.Redactor.token)
MAX_SECRETS = 8  # kept per file; `found` counts them all

_EXACT: dict[str, CredentialKind] = {
    **dict.fromkeys(
        ("unattend.xml", "autounattend.xml", "unattended.xml", "sysprep.xml", "sysprep.inf"),
        CredentialKind.UNATTEND,
    ),
    "web.config": CredentialKind.WEB_CONFIG,
    # Group Policy Preferences files that carry a cpassword attribute (MS14-025).
    **dict.fromkeys(
        ("groups.xml", "services.xml", "scheduledtasks.xml", "datasources.xml", "drives.xml", "printers.xml"),
        CredentialKind.GROUP_POLICY,
    ),
    **dict.fromkeys((".git-credentials", "git-credentials"), CredentialKind.GIT_CREDENTIALS),
    **dict.fromkeys((".netrc", "_netrc"), CredentialKind.NETRC),
    "smb.conf": CredentialKind.SMB_CONF,
    **dict.fromkeys(
        (
            "credentials",
            ".credentials",
            "credentials.txt",
            "credentials.ini",
            "credentials.conf",
            "credentials.cfg",
            ".smbcredentials",
            "smbcredentials",
            ".cifscredentials",
            "cifscredentials",
            ".pgpass",
            ".my.cnf",
            ".s3cfg",
        ),
        CredentialKind.CREDENTIALS,
    ),
    **dict.fromkeys(
        ("id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "id_ecdsa_sk", "id_ed25519_sk", "identity"),
        CredentialKind.PRIVATE_KEY,
    ),
    "wp-config.php": CredentialKind.CONFIG,
}
_KEY_EXTENSIONS = frozenset(("pem", "key", "ppk", "p8"))
_CONFIG_EXTENSIONS = frozenset(("ini", "conf", "cnf", "cfg", "config", "xml", "properties", "reg", "abk"))
# Multifunction printers and scanners, and what their exports are called.
_SCAN_NAME = re.compile(
    r"scan|addr|abook|address|smb|mfp|copier|kyocera|ricoh|xerox|canon|konica|minolta|lexmark|toshiba|"
    r"epson|sharp|brother|printer|drucker|kopierer"
)
_SCAN_TEXT = re.compile(
    r"scan[\s_-]?to|scanlogin|smblogin|smb[\s_-]?(?:path|host|server|folder)|\\\\[\w.-]+\\", re.I
)
_SECRET_NAME = re.compile(r"passw|kennwort|credential|zugang|login")

_LABELS = {
    CredentialKind.SCAN_TO_FOLDER: "printer/scanner scan-to-folder settings or address book export",
    CredentialKind.UNATTEND: "Windows answer file",
    CredentialKind.WEB_CONFIG: "web.config",
    CredentialKind.GROUP_POLICY: "Group Policy Preferences file",
    CredentialKind.KEEPASS: "KeePass password database",
    CredentialKind.PRIVATE_KEY: "private key file",
    CredentialKind.ENV: ".env file",
    CredentialKind.GIT_CREDENTIALS: "Git credential store",
    CredentialKind.NETRC: ".netrc file",
    CredentialKind.SMB_CONF: "Samba configuration (smb.conf)",
    CredentialKind.CREDENTIALS: "credentials file",
    CredentialKind.CONFIG: "configuration file",
}


def label(kind: CredentialKind) -> str:
    """How reports name a kind of credential file."""
    return _LABELS[kind]


def credential_kind(lower: str, extension: str) -> CredentialKind | None:
    """What a file (lowercased name, extension) may be by its name, when it is worth reading for secrets."""
    exact = _EXACT.get(lower)
    if exact is not None:
        return exact
    if lower == ".env" or lower.startswith(".env.") or extension == "env":
        return CredentialKind.ENV
    if extension in ("kdbx", "kdb"):
        return CredentialKind.KEEPASS
    if extension in _KEY_EXTENSIONS:
        return CredentialKind.PRIVATE_KEY
    if extension in ("csv", "txt", "json", "abk", "xml", "ini", "cfg", "conf") and _SCAN_NAME.search(lower):
        return CredentialKind.SCAN_TO_FOLDER
    if extension in _CONFIG_EXTENSIONS:
        return CredentialKind.CONFIG
    if extension in ("txt", "csv") and _SECRET_NAME.search(lower):
        return CredentialKind.CONFIG
    return None


@dataclass(frozen=True, slots=True)
class CredentialHit:
    """A file that holds credentials: its kind, why, the secrets (fingerprinted) and how many were seen."""

    kind: CredentialKind
    why: str
    secrets: tuple[SecretSeen, ...]
    found: int


def by_name(kind: CredentialKind, lower: str) -> CredentialHit | None:
    """What the name alone proves when the head cannot be read: a KeePass database or a private key file."""
    if kind is CredentialKind.KEEPASS:
        return CredentialHit(
            kind, f"{label(kind)} (by its name)", (SecretSeen(SecretKind.PASSWORD_DATABASE, "file"),), 1
        )
    if kind is CredentialKind.PRIVATE_KEY and (lower.startswith("id_") or lower == "identity"):
        return CredentialHit(
            kind, f"SSH private key (by its name {lower})", (SecretSeen(SecretKind.PRIVATE_KEY, "file"),), 1
        )
    return None


@dataclass(frozen=True, slots=True)
class _Found:
    kind: SecretKind
    field: str
    value: bytes  # held only until it is fingerprinted
    account: str | None = None


def find_credentials(
    kind: CredentialKind, lower: str, data: bytes, fingerprint: Fingerprint
) -> CredentialHit | None:
    """The secrets in a candidate's first bytes, fingerprinted; None when it holds none."""
    data = data[:HEAD_LIMIT]
    found: list[_Found] = []
    if data.startswith(b"\x03\xd9\xa2\x9a") and data[4:8] in (b"\x67\xfb\x4b\xb5", b"\x65\xfb\x4b\xb5"):
        found.append(_Found(SecretKind.PASSWORD_DATABASE, "KeePass header", data))
        kind = CredentialKind.KEEPASS
    elif kind is CredentialKind.KEEPASS:
        return None  # named .kdbx, but not a KeePass database
    view = HeadView(data)
    text = view.text
    if text is not None and kind is not CredentialKind.KEEPASS:
        truncated = len(data) >= HEAD_LIMIT
        keys = _private_keys(text)
        if keys:
            kind = CredentialKind.PRIVATE_KEY
        found.extend(keys)
        if kind is not CredentialKind.PRIVATE_KEY:
            found.extend(_secrets_in_text(kind, lower, text, truncated))
    if not found:
        return None
    if kind is CredentialKind.CONFIG and (_SCAN_NAME.search(lower) or (text and _SCAN_TEXT.search(text))):
        kind = CredentialKind.SCAN_TO_FOLDER
    seen: list[SecretSeen] = []
    for item in found:
        secret = SecretSeen(item.kind, item.field, item.account, fingerprint(item.value))
        if secret not in seen:
            seen.append(secret)
    return CredentialHit(kind, _why(kind, seen), tuple(seen[:MAX_SECRETS]), len(seen))


def _why(kind: CredentialKind, seen: list[SecretSeen]) -> str:
    kinds = sorted({secret.kind.value.replace("_", " ") for secret in seen})
    fields = sorted({secret.field for secret in seen})
    return f"{label(kind)} whose first bytes hold {' and '.join(kinds)} ({', '.join(fields[:4])})"


# --- private keys -----------------------------------------------------------------------------------------
_PEM = re.compile(r"-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY)-----(.*?)(?=-----END|\Z)", re.DOTALL)
_PUTTY = re.compile(r"^PuTTY-User-Key-File-\d+:\s*[\w-]+", re.MULTILINE)
_PUTTY_ENCRYPTION = re.compile(r"^Encryption:\s*(\S+)", re.MULTILINE)


def _private_keys(text: str) -> list[_Found]:
    found = []
    for match in _PEM.finditer(text):
        body = "".join(line for line in match.group(2).split() if ":" not in line)
        if len(body) < 64:
            continue  # a header in documentation, not a key
        encrypted = "ENCRYPTED" in match.group(1) or "Proc-Type: 4,ENCRYPTED" in match.group(2)
        field = f"PEM {match.group(1)}" + (" (passphrase-protected)" if encrypted else "")
        found.append(_Found(SecretKind.PRIVATE_KEY, field, body.encode()))
    if _PUTTY.search(text):
        encryption = _PUTTY_ENCRYPTION.search(text)
        protected = bool(encryption and encryption.group(1).lower() != "none")
        field = "PuTTY private key" + (" (passphrase-protected)" if protected else "")
        found.append(_Found(SecretKind.PRIVATE_KEY, field, text.encode("utf-8", "surrogatepass")))
    return found


# --- keys, values and accounts ----------------------------------------------------------------------------
_PASSWORD_ENDINGS = ("password", "passwd", "passwort", "kennwort", "passphrase", "pwd", "motdepasse", "senha")
_PASSWORD_KEYS = frozenset(("pass", "pw", "bindpw", "rootpw", "adminpw", "cpassword", "passw"))
_TOKEN_ENDINGS = (
    "secret",
    "secretkey",
    "secretaccesskey",
    "apikey",
    "apisecret",
    "accesstoken",
    "authtoken",
    "token",
    "clientsecret",
    "accesskey",
)
_ACCOUNT_ENDINGS = (
    "username",
    "user",
    "userid",
    "login",
    "loginname",
    "loginid",
    "loginuser",
    "account",
    "accountname",
    "benutzer",
    "benutzername",
    "uid",
)
_PLACEHOLDERS = frozenset(
    [
        "none",
        "null",
        "nil",
        "no",
        "yes",
        "true",
        "false",
        "on",
        "off",
        "password",
        "passwd",
        "pass",
        "pwd",
        "secret",
        "changeme",
        "change_me",
        "changeit",
        "example",
        "sample",
        "test",
        "dummy",
        "default",
        "empty",
        "blank",
        "hidden",
        "redacted",
        "removed",
        "required",
        "optional",
        "prompt",
        "ask",
        "notset",
        "unset",
        "your_password",
        "yourpassword",
        "mypassword",
        "my_password",
        "password123",
        "secret123",
        "xxx",
        "xxxx",
        "placeholder",
        "value",
        "string",
        "foo",
        "bar",
        "foobar",
        "qwerty",
        "todo",
        "tbd",
        "fixme",
        "token",
        "apikey",
        "api_key",
        "secretkey",
        "*sensitive*data*deleted*",
        "sensitive_data_deleted",
    ]
)
_PLACEHOLDER_SHAPES = re.compile(
    r"[*x.?#_\-•]+|<[^>]*>|\[[^\]]*\]|\{\{.*\}\}|\{[\w.\-]*\}|\$\{[^}]*\}|\$\(.*\)|\$[A-Za-z_]\w*|%[\w()]+%?s?|"
    r"@[\w.]+@|your[\w\-]*|enter[\w\- ]*|insert[\w\- ]*|<.*|.*\bpassword\b.*here.*",
    re.IGNORECASE,
)
_ACCOUNT = re.compile(r"[\w.@\\$()\- ]{1,64}")
_NON_ALNUM = re.compile(r"[^a-z0-9]")
_FIELD = re.compile(r"[^\w .:\-]")


def _norm(key: str) -> str:
    return _NON_ALNUM.sub("", key.lower())


def _password_key(norm: str) -> bool:
    return norm in _PASSWORD_KEYS or norm.endswith(_PASSWORD_ENDINGS)


def _xml_password_key(norm: str) -> bool:
    # In XML "pass" is as often a phase (unattend.xml <settings pass="oobeSystem">) as a password.
    return norm not in ("pass", "pw", "passw") and _password_key(norm)


def _token_key(norm: str) -> bool:
    return norm.endswith(_TOKEN_ENDINGS)


def _account_key(norm: str) -> bool:
    return norm.endswith(_ACCOUNT_ENDINGS) and not norm.endswith(("useragent", "usergroup"))


def _field(key: str) -> str:
    return _FIELD.sub("", key).strip()[:40] or "value"


def _clean(value: str) -> str:
    value = value.strip().rstrip(";,").strip()
    for opening, closing in (('"', '"'), ("'", "'"), ("[", "]")):
        if len(value) >= 2 and value[0] == opening and value[-1] == closing:
            value = value[1:-1].strip()
    return value


def real_secret(value: str, key: str = "") -> bool:
    """Not empty, not a placeholder, not a reference to somewhere else, not the key's own name."""
    value = _clean(value)
    if len(value) < 3 or len(value) > 512:
        return False
    folded = value.casefold()
    if folded in _PLACEHOLDERS or _norm(value) in _PLACEHOLDERS or (key and _norm(value) == _norm(key)):
        return False
    if _PLACEHOLDER_SHAPES.fullmatch(value):
        return False
    return not value.startswith(("/", "~/", "file:", "./", "../"))  # a path to the secret, not the secret


def _account(value: str, secret: str) -> str | None:
    value = _clean(value)
    if not value or value == _clean(secret) or not _ACCOUNT.fullmatch(value):
        return None
    if value.casefold() in _PLACEHOLDERS or _PLACEHOLDER_SHAPES.fullmatch(value):
        return None
    return value


def _secrets_in_text(kind: CredentialKind, lower: str, text: str, truncated: bool) -> list[_Found]:
    if truncated and "\n" in text:
        text = text[: text.rfind("\n")]  # the last line may be cut in the middle of a value
    tokens = kind in (CredentialKind.ENV, CredentialKind.CREDENTIALS)
    found: list[_Found] = []
    if text.lstrip().startswith("<"):
        # Commented-out examples are no secrets: blank them, keeping positions for the pairing.
        text = _XML_COMMENT.sub(lambda m: " " * len(m.group(0)), text)
        found.extend(_xml(text, kind))
    else:
        colon = kind in (CredentialKind.SCAN_TO_FOLDER, CredentialKind.CREDENTIALS, CredentialKind.ENV)
        found.extend(_key_values(text, tokens, colon))
        if lower.endswith((".csv", ".txt", ".abk")) or kind is CredentialKind.SCAN_TO_FOLDER:
            found.extend(_csv(text))
        if kind is CredentialKind.NETRC:
            found.extend(_netrc(text))
        if lower.endswith(".php"):
            found.extend(_php_defines(text))
    found.extend(_url_credentials(text))
    return found


_SECTION = re.compile(r"^\s*\[([^\]]*)\]\s*$")
_KEY_VALUE = re.compile(
    r"""^\s*(?:export\s+|set\s+)?["']?([A-Za-z_][\w .\-:/\\]{0,63}?)["']?\s*([=:])\s*(.*?)\s*$"""
)
_XML_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
_COMMENT = ("#", ";", "//", "'", "--", "rem ", "REM ", "::")


def _key_values(text: str, tokens: bool, colon: bool) -> list[_Found]:
    """key = value / key: value lines (INI, conf, .env, .reg, credentials files), paired by section."""
    found: list[_Found] = []
    section: list[tuple[int, str, str]] = []  # (line, normalized key or "", value) of the current section

    def close() -> None:
        accounts = [(n, value) for n, key, value in section if key == "account"]
        for number, key, value in section:
            if key in ("account", ""):
                continue
            field, kind = key.split("\x1f")
            nearest = min(accounts, key=lambda item: abs(item[0] - number), default=None)
            account = _account(nearest[1], value) if nearest else None
            found.append(_Found(SecretKind(kind), field, _clean(value).encode(), account))
        section.clear()

    for number, line in enumerate(text.splitlines()):
        if _SECTION.match(line):
            close()
            continue
        stripped = line.lstrip()
        if not stripped or stripped.startswith(_COMMENT):
            continue
        match = _KEY_VALUE.match(line)
        if match is None:
            continue
        key, value = match.group(1).strip(), match.group(3)
        if match.group(2) == ":" and not (colon or stripped.startswith(('"', "'"))):
            continue  # "passwd: files" (nsswitch.conf): colons only in credential files and for quoted keys
        norm = _norm(key)
        if _password_key(norm) and real_secret(value, key):
            section.append((number, f"{_field(key)}\x1f{SecretKind.PASSWORD.value}", value))
        elif tokens and _token_key(norm) and real_secret(value, key):
            section.append((number, f"{_field(key)}\x1f{SecretKind.TOKEN.value}", value))
        elif _account_key(norm):
            section.append((number, "account", value))
    close()
    return found


# XML: start tags with their attributes, element text, and connection strings.
_START_TAG = re.compile(r"<([\w.\-]+:)?([\w.\-]+)((?:\s+[\w.:\-]+\s*=\s*(?:\"[^\"]*\"|'[^']*'))*)\s*/?>")
_ATTRIBUTE = re.compile(r"([\w.:\-]+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
_VALUE_CHILD = re.compile(r"\s*<(?:[\w.\-]+:)?Value\s*>([^<]*)<", re.IGNORECASE)
_XML_NEAR = 800  # characters: an account this close to a secret belongs to it
_CONNECTION_PASSWORD = frozenset(("password", "pwd"))
_CONNECTION_USER = frozenset(("userid", "uid", "user", "username"))


def _xml(text: str, kind: CredentialKind) -> list[_Found]:
    secrets: list[tuple[int, str, str, str | None]] = []  # (position, field, value, account in the same tag)
    accounts: list[tuple[int, str]] = []
    name_is_account = kind is CredentialKind.UNATTEND
    for tag in _START_TAG.finditer(text):
        local = tag.group(2)
        norm = _norm(local)
        attributes = {
            m.group(1): html.unescape(m.group(2) if m.group(2) is not None else m.group(3) or "")
            for m in _ATTRIBUTE.finditer(tag.group(3))
        }
        tag_secrets: list[tuple[str, str]] = []
        tag_account: str | None = None
        for name, value in attributes.items():
            attribute = _norm(name.rsplit(":", 1)[-1])
            if _xml_password_key(attribute) and real_secret(value, name):
                tag_secrets.append((name, value))
            elif _account_key(attribute) and value:
                tag_account = tag_account or value
            elif attribute == "connectionstring":
                for part_key, part_value in _connection_parts(value):
                    if part_key in _CONNECTION_PASSWORD and real_secret(part_value, part_key):
                        tag_secrets.append((f"{name} Password", part_value))
                    elif part_key in _CONNECTION_USER:
                        tag_account = tag_account or part_value
        # <add key="SmtpPassword" value="..."/> (appSettings) and <add key="SmtpUser" value="..."/>
        named = attributes.get("key") or attributes.get("name")
        if named is not None and "value" in attributes:
            if _xml_password_key(_norm(named)) and real_secret(attributes["value"], named):
                tag_secrets.append((named, attributes["value"]))
            elif _account_key(_norm(named)) and attributes["value"]:
                accounts.append((tag.start(), attributes["value"]))
        for field, value in tag_secrets:
            secrets.append((tag.start(), field, value, tag_account))
        if tag_account and not tag_secrets:
            accounts.append((tag.start(), tag_account))
        if tag.group(0).endswith("/>"):
            continue
        content = _element_text(text, tag.end())
        if _xml_password_key(norm):
            if content is not None and real_secret(content, local):
                secrets.append(
                    (
                        tag.start(),
                        local,
                        content,
                        "Administrator" if norm == "administratorpassword" else None,
                    )
                )
        elif (_account_key(norm) or (name_is_account and norm == "name")) and content:
            accounts.append((tag.start(), content))
    found = []
    for position, field, value, account in secrets:
        if account is None:
            near = [(abs(p - position), a) for p, a in accounts if abs(p - position) <= _XML_NEAR]
            account = min(near)[1] if near else None
        found.append(
            _Found(SecretKind.PASSWORD, _field(field), _clean(value).encode(), _account(account or "", value))
        )
    return found


def _element_text(text: str, start: int) -> str | None:
    end = text.find("<", start)
    if end < 0:
        return None
    content = text[start:end]
    if content.strip():
        return html.unescape(content.strip())
    child = _VALUE_CHILD.match(text, start)  # unattend.xml: <Password><Value>...</Value></Password>
    return html.unescape(child.group(1).strip()) if child else None


def _connection_parts(value: str) -> Iterator[tuple[str, str]]:
    for part in value.split(";"):
        key, sep, item = part.partition("=")
        if sep:
            yield _norm(key), item.strip()


_DELIMITERS = (",", ";", "\t", "|")


def _csv(text: str) -> list[_Found]:
    """A header row with a password column (Password, Folder: Password, Scan Login Password, ...)."""
    lines = [line for line in text.splitlines() if line.strip()]
    for index, line in enumerate(lines[:12]):
        if line.lstrip().startswith("#"):
            continue  # Ricoh exports open with "# Format Version: ..." lines
        delimiter = max(_DELIMITERS, key=line.count)
        if line.count(delimiter) < 2:
            continue
        header = [_norm(cell.strip().strip("[]")) for cell in next(csv.reader([line], delimiter=delimiter))]
        passwords = [i for i, name in enumerate(header) if _password_key(name)]
        if not passwords:
            continue
        users = [i for i, name in enumerate(header) if _account_key(name)]
        found = []
        for row in csv.reader(lines[index + 1 :], delimiter=delimiter):
            for column in passwords:
                if column >= len(row) or not real_secret(row[column], header[column]):
                    continue
                nearest = min(users, key=lambda i: abs(i - column), default=None)
                account = (
                    _account(row[nearest], row[column])
                    if nearest is not None and nearest < len(row)
                    else None
                )
                field = next(csv.reader([line], delimiter=delimiter))[column]
                found.append(
                    _Found(
                        SecretKind.PASSWORD, _field(field.strip("[] ")), _clean(row[column]).encode(), account
                    )
                )
        return found
    return []


_NETRC = re.compile(r"\blogin\s+(\S+)\s+password\s+(\S+)|\bpassword\s+(\S+)")


def _netrc(text: str) -> list[_Found]:
    found = []
    for match in _NETRC.finditer(text):
        account, secret = (match.group(1), match.group(2)) if match.group(2) else (None, match.group(3))
        if real_secret(secret):
            found.append(
                _Found(SecretKind.PASSWORD, "password", secret.encode(), _account(account or "", secret))
            )
    return found


_PHP_DEFINE = re.compile(r"""define\s*\(\s*['"](\w+)['"]\s*,\s*['"]([^'"]*)['"]""")


def _php_defines(text: str) -> list[_Found]:
    defines = [(m.group(1), m.group(2)) for m in _PHP_DEFINE.finditer(text)]
    users = [value for key, value in defines if _account_key(_norm(key))]
    return [
        _Found(SecretKind.PASSWORD, key, value.encode(), _account(users[0], value) if users else None)
        for key, value in defines
        if _password_key(_norm(key)) and real_secret(value, key)
    ]


_URL_CREDENTIALS = re.compile(
    r"\b[a-z][a-z0-9+.\-]{1,15}://([^\s:/@'\"<>]{1,64}):([^\s@/'\"<>]{1,128})@[\w.\-\[\]]+"
)
_ANONYMOUS_USERS = frozenset(("anonymous", "ftp", "guest", "user", "username"))


def _url_credentials(text: str) -> list[_Found]:
    found = []
    for match in _URL_CREDENTIALS.finditer(text):
        account, secret = match.group(1), match.group(2)
        if account.lower() in _ANONYMOUS_USERS or not real_secret(secret):
            continue
        found.append(
            _Found(SecretKind.PASSWORD, "URL credentials", secret.encode(), _account(account, secret))
        )
    return found
