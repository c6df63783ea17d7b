"""Intrusion rules: signs that someone is already in (coin miners, dropped scripts and binaries, web
shells, ransom notes, encryption sweeps, credential-coercion files), and keys under the mat (files the
walking identity could read that hold credentials). Facts from the crawl (classify/lookout.py)."""

from __future__ import annotations

from collections.abc import Iterator

from shareaudit.model import Content, CredentialFile, SecretSeen, Severity, Share, Sign, SignKind
from shareaudit.rules.facts import (
    ANONYMOUS,
    GUEST,
    SERVICE,
    UNPRIVILEGED,
    HostFacts,
    identity_class,
    medical_files,
    medical_summary,
    plural,
)
from shareaudit.rules.registry import Hit, host_rule

_WIDTH = {ANONYMOUS: 0, GUEST: 1}


def _writers(facts: HostFacts, share: Share) -> list[str]:
    """Anonymous and guest labels that can write the share, the widest door first."""
    labels = [label for label in facts.labels if identity_class(label) in UNPRIVILEGED]
    return sorted(
        (label for label in labels if facts.can_write(share, label)),
        key=lambda label: _WIDTH[identity_class(label)],
    )


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    value = size / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def _where(share: Share, sign: Sign) -> str:
    return f"{share.name}\\{sign.path}" if sign.path else f"the root of {share.name}"


def _file(share: Share, sign: Sign) -> str:
    when = f", modified {sign.mtime}" if sign.mtime else ""
    return f"{_where(share, sign)} ({_size(sign.size)}{when})"


def _context(facts: HostFacts, share: Share, content: Content, kind: SignKind) -> str:
    notes = []
    writers = _writers(facts, share)
    if writers:
        notes.append(f"{share.name} is writable by {', '.join(writers)}")
    if medical_files(content):
        notes.append(f"it holds medical data ({medical_summary(content)})")
    found = content.intrusion_counts.get(kind, 0)
    kept = sum(1 for sign in content.intrusion if sign.kind is kind)
    if found > kept:
        notes.append(f"{found} signs of this kind were found on the share, {kept} are listed")
    notes.append(f"seen walking as {content.crawled_as}")
    return "; ".join(notes) + "."


def _signs(facts: HostFacts, kind: SignKind) -> Iterator[tuple[Share, Content, Sign]]:
    for share in facts.disk_shares():
        content = share.content
        if content is None:
            continue
        for sign in content.intrusion:
            if sign.kind is kind:
                yield share, content, sign


@host_rule("intrusion-coin-miner")
def coin_miner(facts: HostFacts) -> Iterator[Hit]:
    """A coin miner's binary or configuration sits on a share."""
    for share, content, sign in _signs(facts, SignKind.COIN_MINER):
        critical = bool(_writers(facts, share)) and medical_files(content) > 0
        yield Hit(
            Severity.CRITICAL if critical else Severity.HIGH,
            f"{_file(share, sign)}: {sign.why}. {_context(facts, share, content, sign.kind)}",
            share=share,
            path=sign.path,
        )


@host_rule("intrusion-dropped-executable")
def dropped_executable(facts: HostFacts) -> Iterator[Hit]:
    """A script or binary at the root or in an upload/drop folder of a share anonymous or guest can write."""
    for share, content, sign in _signs(facts, SignKind.DROPPED_EXECUTABLE):
        if not sign.drop or not _writers(facts, share):
            continue  # software shares hold programs; only a door anyone can write through makes it a sign
        place = "at the share root" if not sign.directory else f"in the drop folder {sign.directory}"
        yield Hit(
            Severity.CRITICAL if medical_files(content) else Severity.HIGH,
            f"{_file(share, sign)}: {sign.why}, {place}. {_context(facts, share, content, sign.kind)}",
            share=share,
            path=sign.path,
        )


@host_rule("intrusion-web-shell")
def web_shell(facts: HostFacts) -> Iterator[Hit]:
    """A server-side script whose first bytes run what a request sends."""
    for share, content, sign in _signs(facts, SignKind.WEB_SHELL):
        yield Hit(
            Severity.CRITICAL if _writers(facts, share) else Severity.HIGH,
            f"{_file(share, sign)}: {sign.why}. {_context(facts, share, content, sign.kind)}",
            share=share,
            path=sign.path,
        )


@host_rule("intrusion-ransom-note")
def ransom_note(facts: HostFacts) -> Iterator[Hit]:
    """A file named like a ransom note."""
    for share, content, sign in _signs(facts, SignKind.RANSOM_NOTE):
        swept = any(other.kind is SignKind.ENCRYPTION_SWEEP for other in content.intrusion)
        also = " Files on the same share were renamed in an encryption sweep." if swept else ""
        yield Hit(
            Severity.CRITICAL if swept or medical_files(content) else Severity.HIGH,
            f"{_file(share, sign)}: {sign.why}.{also} {_context(facts, share, content, sign.kind)}",
            share=share,
            path=sign.path,
        )


@host_rule("intrusion-encryption-sweep")
def encryption_sweep(facts: HostFacts) -> Iterator[Hit]:
    """Most files of a folder renamed to one unusual extension: encrypted by ransomware."""
    for share, content, sign in _signs(facts, SignKind.ENCRYPTION_SWEEP):
        when = f", the newest modified {sign.mtime}" if sign.mtime else ""
        yield Hit(
            Severity.CRITICAL,
            f"{_where(share, sign)}: {sign.why} ({_size(sign.size)}{when}). "
            f"{_context(facts, share, content, sign.kind)}",
            share=share,
            path=sign.path,
        )


def _host_names(facts: HostFacts) -> set[str]:
    host = facts.host
    names = {host.target.lower(), host.address.lower()}
    if host.posture is not None:
        server = host.posture.server
        for name in (server.netbios_name, server.dns_name):
            if name:
                names.add(name.lower())
                names.add(name.lower().split(".", 1)[0])
    return names


@host_rule("intrusion-coercion-file")
def coercion_file(facts: HostFacts) -> Iterator[Hit]:
    """A .scf/.url/.lnk/desktop.ini/.library-ms/.searchConnector-ms whose icon or target is on another host."""
    own = _host_names(facts)
    for share, content, sign in _signs(facts, SignKind.COERCION_FILE):
        target = (sign.target or "").lower()
        if not target or target in own or target.split(".", 1)[0] in own:
            continue  # an icon on the server itself is ordinary
        yield Hit(
            Severity.HIGH,
            f"{_file(share, sign)}: {sign.why}. {_context(facts, share, content, sign.kind)}",
            share=share,
            path=sign.path,
        )


# --- keys under the mat ----------------------------------------------------------------------------------------
def _bare(account: str) -> str:
    """user from DOMAIN\\user or user@domain, lowercased."""
    return account.rsplit("\\", 1)[-1].split("@", 1)[0].strip().lower()


def _identity_of(facts: HostFacts, account: str) -> str | None:
    """The scan identity label whose user name is `account`, if any."""
    wanted = _bare(account)
    for label in facts.labels:
        configured = facts.accounts.get(label, "")
        if configured and wanted and _bare(configured) == wanted:
            return label
    return None


def _reach(facts: HostFacts, label: str) -> tuple[list[str], list[str], list[str]]:
    """(shares the identity reads, shares it writes, readable shares holding medical data) on this host."""
    reads = [s.name for s in facts.disk_shares() if facts.can_read(s, label)]
    writes = [s.name for s in facts.disk_shares() if facts.can_write(s, label)]
    medical = [s.name for s in facts.disk_shares() if facts.can_read(s, label) and medical_files(s.content)]
    return reads, writes, medical


def _secret_text(secret: SecretSeen) -> str:
    text = f"{secret.kind.value.replace('_', ' ')} ({secret.field})"
    if secret.account:
        text += f" for {secret.account}"
    if secret.fingerprint:
        text += f" {secret.fingerprint}"
    return text


def _credential_evidence(share: Share, content: Content, credential: CredentialFile, reach: list[str]) -> str:
    when = f", modified {credential.mtime}" if credential.mtime else ""
    secrets = "; ".join(_secret_text(secret) for secret in credential.secrets)
    more = credential.secrets_found - len(credential.secrets)
    if more > 0:
        secrets += f"; and {plural(more, 'more secret')}"
    text = (
        f"{share.name}\\{credential.path} ({_size(credential.size)}{when}): {credential.why}. "
        f"It holds {secrets}. Readable by {content.crawled_as} (the least privileged identity that walked "
        f"{share.name}); the secret itself is not repeated here, the fingerprint tells runs apart."
    )
    if reach:
        text += " " + " ".join(reach)
    if content.credentials_found > len(content.credentials):
        text += f" ({content.credentials_found} credential files found on the share, {len(content.credentials)} listed.)"
    return text


@host_rule("credentials-readable")
def credentials_readable(facts: HostFacts) -> Iterator[Hit]:
    """A file the walking identity could read holds a password, key or password database."""
    for share in facts.disk_shares():
        content = share.content
        if content is None:
            continue
        reader = identity_class(content.crawled_as)
        for credential in content.credentials:
            reach: list[str] = []
            powerful = False
            for account in dict.fromkeys(s.account for s in credential.secrets if s.account):
                label = _identity_of(facts, account)
                if label is None:
                    continue
                reads, writes, medical = _reach(facts, label)
                powerful = powerful or bool(writes or medical)
                row = f"{account} is this scan's identity {label}: on this host it reads {', '.join(reads) or 'no share'}"
                row += f" and writes {', '.join(writes) or 'no share'}"
                if medical:
                    row += f"; medical data in {', '.join(medical)}"
                reach.append(row + ".")
            if reader in UNPRIVILEGED:
                severity = Severity.CRITICAL if powerful else Severity.HIGH
            elif reader == SERVICE:
                severity = Severity.HIGH if powerful else Severity.MEDIUM
            else:  # only the audit account reads the share
                severity = Severity.LOW
            yield Hit(
                severity,
                _credential_evidence(share, content, credential, reach),
                share=share,
                identity=content.crawled_as,
                path=credential.path,
            )
