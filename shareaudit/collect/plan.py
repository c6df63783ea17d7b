"""Protocol-neutral decisions about a host's identities: who walks a share, what a refused logon records."""

from __future__ import annotations

from collections.abc import Mapping

from shareaudit.model import Access, Logon, Share
from shareaudit.plan.identities import Identity, privilege


def walker_for(share: Share, identities: Mapping[str, Identity]) -> Identity | None:
    """Who walks a share: its least privileged reader, because what matters is what *that* identity reaches.

    The audit account walks only where nobody else can read, for the inventory.
    """
    readers = [
        identities[label]
        for label, access in share.access.items()
        if label in identities and access.read and access.list
    ]
    return min(readers, key=privilege) if readers else None


def refused_logon(label: str, status: str, route: str | None = None) -> tuple[Logon, Access]:
    """The one way a refused logon is recorded: the identity's logon, and its access to every share."""
    return Logon(label, False, route=route, status=status), Access(
        connect=False, status=f"logon refused: {status}"
    )
