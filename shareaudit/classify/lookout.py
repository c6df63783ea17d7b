"""One look at every file for signs of intrusion and keys under the mat, for the crawl.

`look_at_name` runs on every file name and is cheap; it says what the name alone shows and whether the
first 4 KiB are worth reading (the crawl reads them within `--max-sniff`, sharing the read with medical
sniffing). `look_at_head` examines those bytes, `look_unread` says what is left when they could not be
read. `extension_sweep` looks at one directory's file names at a time. Nothing read is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from functools import cache

from shareaudit.classify.checks import HeadView
from shareaudit.classify.credentials import (
    CredentialHit,
    Fingerprint,
    by_name,
    credential_kind,
    find_credentials,
)
from shareaudit.classify.intrusion import (
    BINARY_EXTENSIONS,
    COERCION_EXTENSIONS,
    COERCION_NAMES,
    DROPPED_EXTENSIONS,
    ORDINARY_EXTENSIONS,
    WEB_SCRIPT_EXTENSIONS,
    SignHit,
    SweepHit,
    coercion_target,
    executable_magic,
    extension_sweep,
    is_drop_directory,
    is_miner_name,
    is_ransom_note,
    miner_config,
    split_name,
    web_shell,
)
from shareaudit.classify.table import default_table
from shareaudit.model import CredentialKind, SignKind

__all__ = [
    "Check",
    "Look",
    "Looked",
    "SweepHit",
    "directory_sweep",
    "is_drop_directory",
    "look_at_head",
    "look_at_name",
    "look_unread",
]

_MINER_CONFIG_NAMES = frozenset(("config.json", "pools.txt", "config.txt", "cpu.txt"))


class Check(StrEnum):
    """What the first bytes of a file are read for."""

    EXECUTABLE = "executable"  # ELF / PE magic (a file at a drop place whose name says nothing)
    MINER = "miner"  # pool/wallet keys of a miner configuration or launcher
    WEB_SHELL = "web_shell"
    COERCION = "coercion"  # a UNC icon or target
    SECRETS = "secrets"  # credentials


@dataclass(frozen=True, slots=True)
class Look:
    """What a file's name shows, and what its head is to be read for (nothing: do not read it)."""

    lower: str  # the lowercased file name
    extension: str
    drop: bool  # it sits at the share root or in an upload/drop folder
    signs: tuple[SignHit, ...] = ()
    credential: CredentialKind | None = None
    checks: frozenset[Check] = frozenset()


@dataclass(frozen=True, slots=True)
class Looked:
    """What one file showed: signs of intrusion, and the credentials it holds."""

    signs: tuple[SignHit, ...] = ()
    credential: CredentialHit | None = None


@cache
def _known_extensions() -> frozenset[str]:
    return ORDINARY_EXTENSIONS | default_table().extensions


def look_at_name(base: str, drop: bool) -> Look | None:
    """What a file name shows (base: the name without its directory); None for the common, uninteresting file."""
    lower, extension = split_name(base)
    signs: list[SignHit] = []
    checks: set[Check] = set()
    if is_miner_name(lower):
        signs.append(
            SignHit(
                SignKind.COIN_MINER, "file named like a coin miner (xmrig and look-alikes, cpuminer, ...)"
            )
        )
    if is_ransom_note(lower, extension):
        signs.append(SignHit(SignKind.RANSOM_NOTE, "file named like a ransom note"))
    if drop:
        if extension in DROPPED_EXTENSIONS:
            what = "binary" if extension in BINARY_EXTENSIONS else "script"
            signs.append(
                SignHit(SignKind.DROPPED_EXECUTABLE, f"a .{extension} {what} where files are dropped")
            )
            checks.add(Check.MINER)  # a launcher may name the pool
        elif extension not in _known_extensions():
            checks.add(Check.EXECUTABLE)
    if extension in WEB_SCRIPT_EXTENSIONS:
        checks.add(Check.WEB_SHELL)
    if extension in COERCION_EXTENSIONS or lower in COERCION_NAMES:
        checks.add(Check.COERCION)
    if lower in _MINER_CONFIG_NAMES or (extension == "json" and (drop or is_miner_name(lower))):
        checks.add(Check.MINER)
    credential = credential_kind(lower, extension)
    if credential is not None:
        checks.add(Check.SECRETS)
    if not signs and not checks:
        return None
    return Look(lower, extension, drop, tuple(signs), credential, frozenset(checks))


def look_at_head(look: Look, data: bytes, fingerprint: Fingerprint) -> Looked:
    """What a file's first bytes show, on top of its name. `fingerprint` turns a secret into its token."""
    signs = list(look.signs)
    view = HeadView(data)
    if Check.EXECUTABLE in look.checks or (look.drop and look.extension in DROPPED_EXTENSIONS):
        magic = executable_magic(view.data)
        if magic and not any(sign.kind is SignKind.DROPPED_EXECUTABLE for sign in signs):
            signs.append(
                SignHit(
                    SignKind.DROPPED_EXECUTABLE,
                    f"an {magic} executable (by its first bytes) where files are dropped",
                )
            )
    text = view.text
    if text is not None:
        miner = miner_config(text)
        if miner is not None:
            named = next((i for i, sign in enumerate(signs) if sign.kind is SignKind.COIN_MINER), None)
            if named is None:
                signs.append(SignHit(SignKind.COIN_MINER, miner))
            else:
                signs[named] = replace(signs[named], why=f"{signs[named].why}; {miner}")
        if Check.WEB_SHELL in look.checks:
            shell = web_shell(text, look.extension)
            if shell is not None:
                signs.append(SignHit(SignKind.WEB_SHELL, shell))
    if Check.COERCION in look.checks:
        target = coercion_target(view.data, view, look.lower)
        if target is not None:
            host, what = target
            signs.append(
                SignHit(
                    SignKind.COERCION_FILE,
                    f"{what} points to a UNC path on {host}: Windows sends the NTLM logon of whoever opens "
                    "the folder there",
                    target=host,
                )
            )
    credential = None
    if look.credential is not None:
        credential = find_credentials(look.credential, look.lower, view.data, fingerprint)
    return Looked(tuple(signs), credential)


def look_unread(look: Look) -> Looked:
    """What the name alone shows when the head could not be read (denied, or --max-sniff reached)."""
    return Looked(look.signs, by_name(look.credential, look.lower) if look.credential is not None else None)


def directory_sweep(names: list[str]) -> SweepHit | None:
    """An encryption sweep in one directory's file names (see intrusion.extension_sweep)."""
    return extension_sweep(names, _known_extensions())
