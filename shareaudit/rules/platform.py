"""Which platform a host probably is, from what it says about itself; remediation is shown for it first."""

from __future__ import annotations

import re

from shareaudit.model import DicomFacts, FtpFacts, Posture

# Platform ids in the order the reports list their remediation, with their display names.
PLATFORMS: dict[str, str] = {
    "windows": "Windows Server",
    "samba": "Samba (Linux/Unix)",
    "synology": "Synology DSM",
    "qnap": "QNAP QTS / QuTS hero",
    "truenas": "TrueNAS",
}

# The PACS products the `dicom` family's remediation is written for: a PACS is not configured through its
# host's file-server platform, so that family names its own platforms (rules/catalog.py checks them).
PACS_PLATFORMS: dict[str, str] = {
    "orthanc": "Orthanc",
    "dcm4chee": "dcm4chee-arc",
    "conquest": "Conquest DICOM server",
    "generic": "Any PACS or modality archive",
}
# The NFS servers the `nfs` family's remediation is written for: an export is configured in the kernel's
# /etc/exports, in NFS-Ganesha's config, or in a NAS firmware's NFS menus, not in its SMB settings.
NFS_PLATFORMS: dict[str, str] = {
    "synology": "Synology DSM",
    "qnap": "QNAP QTS / QuTS hero",
    "truenas": "TrueNAS",
    "linux": "Linux kernel NFS server (/etc/exports)",
    "ganesha": "NFS-Ganesha",
}
# The FTP servers the `ftp` family's remediation is written for: the daemons, and the NAS firmwares whose
# own menus configure theirs (a Synology's FTP is set up in DSM, not in the ProFTPD it may run).
FTP_PLATFORMS: dict[str, str] = {
    "proftpd": "ProFTPD",
    "vsftpd": "vsftpd",
    "iis": "Windows IIS FTP",
    "synology": "Synology DSM",
    "qnap": "QNAP QTS / QuTS hero",
    "truenas": "TrueNAS",
    "generic": "Any FTP server",
}
# Rule families whose remediation is written for other platforms than the file servers'.
FAMILY_PLATFORMS: dict[str, dict[str, str]] = {
    "dicom": PACS_PLATFORMS,
    "nfs": NFS_PLATFORMS,
    "ftp": FTP_PLATFORMS,
}
# Every platform id a finding may carry, with its display name.
PLATFORM_NAMES: dict[str, str] = {**PLATFORMS, **PACS_PLATFORMS, **NFS_PLATFORMS, **FTP_PLATFORMS}


def platforms_for(family: str) -> dict[str, str]:
    """The platforms a rule family's remediation must be written for, in the order reports list them."""
    return FAMILY_PLATFORMS.get(family, PLATFORMS)


# Implementation identities (A-ASSOCIATE-AC) and AE titles of the PACS products, from their sources:
# dcm4che's Implementation class (UID 1.2.40.0.13.1.1, version "dcm4che-<version>"), Conquest's
# IMPLEMENTATION_CLASS_STRING (1.2.826.0.1.3680043.2.135.1066.101) and its default AE CONQUESTSRV1,
# Orthanc's default AE title ORTHANC. Orthanc and DCMTK's dcmqrscp both answer with DCMTK's identity
# (OFFIS_DCMTK_*, 1.2.276.0.7230010.3.*), so Orthanc is told by its AE title only.
_DCM4CHE_UID = "1.2.40.0.13.1"
_CONQUEST_UID = "1.2.826.0.1.3680043.2.135.1066"
_PACS_AE_TITLES = {"ORTHANC": "orthanc", "DCM4CHEE": "dcm4chee", "CONQUESTSRV1": "conquest"}


def detect_pacs(facts: DicomFacts | None) -> str | None:
    """orthanc, dcm4chee, conquest, or None when the server gives nothing away (a heuristic)."""
    if facts is None:
        return None
    uid = facts.implementation_class_uid or ""
    version = (facts.implementation_version or "").lower()
    if uid.startswith(_DCM4CHE_UID) or version.startswith("dcm4che"):
        return "dcm4chee"
    if uid.startswith(_CONQUEST_UID):
        return "conquest"
    if version.startswith("orthanc"):
        return "orthanc"
    # The AE title the server names itself by, or the one it accepted while it refuses a random one.
    names = [facts.server_ae] if facts.server_ae else []
    if facts.called_ae and facts.any_called_ae is False:
        names.append(facts.called_ae)
    for name in names:
        if name.upper() in _PACS_AE_TITLES:
            return _PACS_AE_TITLES[name.upper()]
    return None


_NAS = ("synology", "qnap", "truenas")
_FTP_DAEMONS = ("proftpd", "vsftpd", "iis")


def detect_ftp(facts: FtpFacts | None, host_platform: str | None) -> str | None:
    """The FTP platform whose steps fit: a NAS firmware first (its menus configure its FTP), then the daemon
    the greeting names, then IIS on a Windows host; None when nothing gives it away (a heuristic)."""
    software = facts.software if facts is not None else None
    if software in _NAS:
        return software
    if host_platform in _NAS:
        return host_platform
    if software in _FTP_DAEMONS:
        return software
    if host_platform == "windows":
        return "iis"
    return None


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
