"""Facts about the lab's Samba AD DC, shared by the controller (dc.py), its seeder and the tests.

Everything the tests assert about the directory is written down here once: who exists, who is in
which group, which computers and printers are published, which accounts are devices and why.
The passwords are lab-only constants: they exist to be published here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

ADDRESS = "127.0.0.20"  # its own loopback address: .9, .10 and .14 must stay unused (tests/lab/labdata.py)
REALM = "LAB.TEST"
DNS_DOMAIN = "lab.test"
WORKGROUP = "LABDOM"
NETBIOS = "LABDC"
HOSTNAME = "labdc.lab.test"
BASE_DN = "DC=lab,DC=test"
ADMIN_PASSWORD = "DcAdmin-Pass1!"
LDAPS_URL = f"ldaps://{ADDRESS}"
LDAP_URL = f"ldap://{ADDRESS}"

HOSPITAL = "OU=Hospital"
OUS = (
    HOSPITAL,
    f"OU=FileServers,{HOSPITAL}",
    f"OU=Workstations,{HOSPITAL}",
    f"OU=Retired,{HOSPITAL}",
    f"OU=Devices,{HOSPITAL}",
    f"OU=Staff,{HOSPITAL}",
    f"OU=Groups,{HOSPITAL}",
)
GROUPS_OU = f"OU=Groups,{HOSPITAL}"


@dataclass(frozen=True)
class DirUser:
    """A user object: where it lives, what it says about itself, its direct groups."""

    name: str
    password: str
    ou: str
    description: str = ""
    groups: tuple[str, ...] = ()
    enabled: bool = True
    password_never_expires: bool = False
    spns: tuple[str, ...] = ()


@dataclass(frozen=True)
class DirGroup:
    """A global security group and the groups it is itself a member of (the nesting)."""

    name: str
    member_of: tuple[str, ...] = ()  # group names, or "Domain Admins" and other built-in ones
    description: str = ""


@dataclass(frozen=True)
class DirComputer:
    """A computer object; `address` becomes an A record in the DC's own DNS zone."""

    name: str
    ou: str
    os: str
    os_version: str
    address: str | None
    enabled: bool = True

    @property
    def dns_name(self) -> str:
        return f"{self.name.lower()}.{DNS_DOMAIN}"


@dataclass(frozen=True)
class DirPrinter:
    """A published print queue (printQueue object below its server's computer object)."""

    server: str  # computer name
    name: str
    driver: str
    port: str
    location: str = ""

    @property
    def unc(self) -> str:
        return f"\\\\{self.server.lower()}.{DNS_DOMAIN}\\{self.name}"


DEVICES_OU = f"OU=Devices,{HOSPITAL}"
STAFF_OU = f"OU=Staff,{HOSPITAL}"

# Nesting, two levels deep: svc-scan -> Scanners -> Device Accounts -> All Staff (a Domain Users-like
# group every employee is in). svc-print -> PrintAdmins -> Domain Admins: a device account with a
# path to privilege.
GROUPS = (
    DirGroup("All Staff", description="Every employee"),
    DirGroup("Device Accounts", ("All Staff",), "Accounts of printers, scanners and other devices"),
    DirGroup("Scanners", ("Device Accounts",), "Scan-to-folder accounts"),
    DirGroup("Print Devices", ("Device Accounts",), "Printer accounts"),
    DirGroup("Radiologists", ("All Staff",), "Radiology department"),
    DirGroup("PrintAdmins", ("Domain Admins",), "Legacy print server administration"),
    DirGroup("IT Audit", (), "Auditors"),
)

USERS = (
    DirUser("auditor", "Audit-Pass1!", STAFF_OU, "shareaudit audit account", ("IT Audit",)),
    DirUser(
        "svc-scan",
        "Scan-Pass1!",
        DEVICES_OU,
        "Scan to folder, MFP radiology 2F",
        ("Scanners",),
        password_never_expires=True,
    ),
    DirUser(
        "svc-print",
        "Print-Pass1!",
        DEVICES_OU,
        "Print server spooler account",
        ("Print Devices", "PrintAdmins"),
        spns=("HTTP/printsrv.lab.test",),
    ),
    DirUser("mfp-ward3", "Mfp-Pass1!", DEVICES_OU),
    DirUser("dev4250", "Dev-Pass1!", DEVICES_OU, "HP LaserJet 4250, ward 5", ("Print Devices",)),
    DirUser(
        "copier-old", "Copier-Pass1!", DEVICES_OU, "Copier in the basement (decommissioned)", enabled=False
    ),
    DirUser("sql-pacs", "Sql-Pass1!", DEVICES_OU, "PACS database", spns=("MSSQLSvc/pacsdb.lab.test:1433",)),
    DirUser("kiosk01", "Kiosk-Pass1!", DEVICES_OU, "Waiting room kiosk", password_never_expires=True),
    DirUser("alice", "Alice-Pass1!", STAFF_OU, "Nurse, ward 3", ("All Staff",)),
    DirUser("bob", "Bob-Pass1!", STAFF_OU, "Radiologist", ("Radiologists",)),
    # Negative control: "scan" inside a surname is not a device.
    DirUser("mscanlon", "Mary-Pass1!", STAFF_OU, "Mary Scanlon, pharmacy", ("All Staff",)),
    DirUser("carol", "Carol-Pass1!", STAFF_OU, "Left in 2024", ("All Staff",), enabled=False),
)
PASSWORDS = {u.name: u.password for u in USERS}

# The candidate device/service accounts discovery must report, with the reasons it must give.
DEVICE_ACCOUNTS: dict[str, frozenset[str]] = {
    "svc-scan": frozenset({"name", "description", "group", "password_never_expires"}),
    "svc-print": frozenset({"name", "description", "group", "spn"}),
    "mfp-ward3": frozenset({"name"}),
    "dev4250": frozenset({"group"}),
    "copier-old": frozenset({"name", "description"}),
    "sql-pacs": frozenset({"spn"}),
    "kiosk01": frozenset({"password_never_expires"}),
}
DISABLED = frozenset(u.name for u in USERS if not u.enabled)

FILESERVERS_OU = f"OU=FileServers,{HOSPITAL}"
COMPUTERS = (
    DirComputer("LABNAS", FILESERVERS_OU, "Samba", "4.17", "127.0.0.11"),
    DirComputer("LABFS", FILESERVERS_OU, "Windows Server 2019 Standard", "10.0 (17763)", "127.0.0.12"),
    DirComputer("LABACL", FILESERVERS_OU, "Windows Server 2016 Standard", "10.0 (14393)", "127.0.0.13"),
    # Nothing listens there: a workstation that is off.
    DirComputer(
        "WS-RAD01", f"OU=Workstations,{HOSPITAL}", "Windows 10 Enterprise", "10.0 (19045)", "127.0.0.21"
    ),
    DirComputer("OLDNAS", f"OU=Retired,{HOSPITAL}", "Windows Server 2003", "5.2 (3790)", None, enabled=False),
)

PRINTERS = (
    DirPrinter(
        "LABNAS", "HP_MFP_2F", "HP Universal Printing PCL 6", "IP_mfp2f.lab.test", "Radiology, 2nd floor"
    ),
    DirPrinter("LABNAS", "Radiology_Laser", "AGFA DRYSTAR 5302", "LPT1:", "Radiology film room"),
    DirPrinter("LABFS", "Ward3_Copier", "Canon Generic Plus UFR II", "IP_copier-ward3.lab.test", "Ward 3"),
)

# File shares of the DC itself, with NT ACLs on their roots naming the domain's groups: the one lab
# server whose ACLs hold the directory's SIDs and that domain accounts can log on to, so that access
# derived from ACLs (no password) can be compared with access measured as the same account.
# Each ACE: (trustee: a group/user name or a SID, ACE type ALLOWED/DENIED, flags, mask).
DC_SHARES: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    # All Staff read: reached by svc-scan through Scanners -> Device Accounts -> All Staff.
    "radiology": (
        ("All Staff", "ALLOWED", "OI|CI", "READ"),
        ("IT Audit", "ALLOWED", "OI|CI", "READ"),  # the audit account can walk it for the inventory
        ("Domain Admins", "ALLOWED", "OI|CI", "FULL"),
        ("S-1-3-0", "ALLOWED", "OI|CI|IO", "FULL"),  # CREATOR OWNER, inherit-only: not for the root
    ),
    # Scanners may change; Print Devices are denied writing, which beats their Domain Users read.
    "scans": (
        ("Print Devices", "DENIED", "OI|CI", "0x00000116"),
        ("Scanners", "ALLOWED", "OI|CI", "CHANGE"),
        ("Domain Users", "ALLOWED", "OI|CI", "READ"),
        ("Domain Admins", "ALLOWED", "OI|CI", "FULL"),
    ),
    # Administrators only: svc-print gets in through PrintAdmins -> Domain Admins.
    "itadmin": (("Domain Admins", "ALLOWED", "OI|CI", "FULL"),),
}
