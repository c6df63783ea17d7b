"""Facts about the loopback lab, shared by the lab controller, its content generator and the tests.

The passwords are lab-only constants: they exist to be published here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LabUser:
    """A Unix + Samba account that exists on every lab server."""

    name: str
    password: str
    groups: tuple[str, ...]
    role: str


@dataclass(frozen=True)
class Personality:
    """One lab server: its own smbd, configuration and loopback address."""

    name: str
    address: str
    netbios: str
    server_string: str


GROUPS = ("labstaff", "labadmins", "labscanners")

USERS = (
    LabUser("labaudit", "Audit-Pass1", (), "audit account"),
    LabUser("labscan", "Scan-Pass1", ("labscanners",), "over-privileged printer/scanner service account"),
    LabUser("labdevice", "Device-Pass1", ("labscanners",), "correctly confined scanner account"),
    LabUser("labuser", "User-Pass1", ("labstaff",), "ordinary clinical user"),
    LabUser("labadmin", "Admin-Pass1", ("labadmins", "labstaff"), "administrator"),
    # Reached by logging in as "Guest" with an empty password on labacl (username map + null password):
    # a real named guest account, as distinct from Samba's bad-user guest fallback.
    LabUser("labguest", "", (), "named guest account (labacl only)"),
)

PASSWORDS = {u.name: u.password for u in USERS}

LABNAS = Personality("labnas", "127.0.0.11", "LABNAS", "LABNAS legacy NAS")
LABFS = Personality("labfs", "127.0.0.12", "LABFS", "LABFS hardened file server")
LABACL = Personality("labacl", "127.0.0.13", "LABACL", "LABACL NT ACL file server")
# Outside LAB_CIDR, so the CIDR tests' /29 stays as it is.
LABPOSIX = Personality("labposix", "127.0.0.16", "LABPOSIX", "LABPOSIX NAS on POSIX permissions")
PERSONALITIES = (LABNAS, LABFS, LABACL, LABPOSIX)

# Loopback addresses inside the lab's /29 on which nothing listens (CIDR tests).
UNUSED_ADDRESSES = ("127.0.0.9", "127.0.0.10", "127.0.0.14")
LAB_CIDR = "127.0.0.8/29"

# Loopback addresses for throwaway copies of a personality (lab.py `copy`, tests/test_truth_lab.py).
COPY_ADDRESSES = tuple(f"127.0.0.{n}" for n in range(40, 60))

# Names that look like they carry a patient's identity; no shareaudit output may contain them unless
# --show-names is given.
PATIENT_MARKERS = ("DOE_JOHN_1957-03-02", "SMITH^MARY", "MRN448812", "MUELLER_HANS_19620811")
