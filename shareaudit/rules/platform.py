"""Which platform a host probably is, from what it says about itself; remediation is shown for it first."""

from __future__ import annotations

import re

from shareaudit.model import Posture

# Platform ids in the order the reports list their remediation, with their display names.
PLATFORMS: dict[str, str] = {
    "windows": "Windows Server",
    "samba": "Samba (Linux/Unix)",
    "synology": "Synology DSM",
    "qnap": "QNAP QTS / QuTS hero",
    "truenas": "TrueNAS",
}

_SYNOLOGY = re.compile(r"synology|diskstation|rackstation", re.IGNORECASE)
_QNAP = re.compile(r"qnap", re.IGNORECASE)
# QNAP's factory host name is "NAS" followed by the last six hex digits of the MAC address
# (a heuristic, not documented by QNAP).
_QNAP_DEFAULT_NAME = re.compile(r"NAS[0-9A-F]{6}", re.IGNORECASE)
_TRUENAS = re.compile(r"truenas|freenas|ixsystems", re.IGNORECASE)
_SAMBA = re.compile(r"samba", re.IGNORECASE)
# impacket renders the NTLM VERSION field ([MS-NLMP] 2.2.2.10) as "Windows <major>.<minor> Build <n>".
_NTLM_VERSION = re.compile(r"Windows (\d+)\.(\d+) Build (\d+)")


def detect_platform(posture: Posture | None) -> str | None:
    """windows, samba, synology, qnap, truenas, or None when the server gives nothing away."""
    if posture is None:
        return None
    server = posture.server
    names = [
        server.server_string,
        server.netbios_name,
        server.dns_name,
        server.netbios_domain,
        server.dns_domain,
    ]
    text = " ".join(name for name in names if name)
    # Vendor names first: NAS firmwares run Samba, and their own menus are what the admin uses.
    if _SYNOLOGY.search(text):
        return "synology"
    if _QNAP.search(text) or any(_QNAP_DEFAULT_NAME.fullmatch(n or "") for n in names[1:3]):
        return "qnap"
    if _TRUENAS.search(text):
        return "truenas"
    if _SAMBA.search(text):
        return "samba"
    version = _NTLM_VERSION.fullmatch(server.os or "")
    if version is None:
        return None
    major, minor, build = (int(part) for part in version.groups())
    # Samba always fills the VERSION field with 6.1 build 0; Windows sends its real build number.
    if (major, minor, build) == (6, 1, 0):
        return "samba"
    return "windows" if build > 0 else None
