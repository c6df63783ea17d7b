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
    """A user object: where it lives, what it says about itself, its direct groups.

    People have a given name, a surname and a mail address; service and device accounts have none.
    `logged_on` seeds lastLogonTimestamp and logonCount (an account the tests log on as must be seeded
    as logged on, so discovery says the same before and after); `password_set` back-dates pwdLastSet.
    """

    name: str
    password: str
    ou: str
    description: str = ""
    groups: tuple[str, ...] = ()
    enabled: bool = True
    password_never_expires: bool = False
    spns: tuple[str, ...] = ()
    given_name: str | None = None
    surname: str | None = None
    logged_on: bool = True
    password_set: str | None = None  # an old pwdLastSet, "YYYY-MM-DD" (UTC midnight); None: when seeded
    workstations: str | None = None  # userWorkstations
    encryption_types: int | None = None  # msDS-SupportedEncryptionTypes; None: not set (RC4 allowed)

    @property
    def mail(self) -> str | None:
        return f"{self.name}@{DNS_DOMAIN}" if self.given_name and self.surname else None

    @property
    def display_name(self) -> str | None:
        return f"{self.surname}, {self.given_name}" if self.given_name and self.surname else None


@dataclass(frozen=True)
class DirManaged:
    """A managed service account in CN=Managed Service Accounts: `gmsa` or `msa` (standalone)."""

    name: str  # without the trailing $
    kind: str
    description: str = ""
    groups: tuple[str, ...] = ()
    spns: tuple[str, ...] = ()
    encryption_types: int | None = None

    @property
    def account(self) -> str:
        return f"{self.name}$"


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
# path to privilege. svc-backup -> NAS Backup -> Server Admins -> Domain Admins: the clinic's backup job,
# a service account two nested groups away from the domain.
GROUPS = (
    DirGroup("All Staff", description="Every employee"),
    DirGroup("Device Accounts", ("All Staff",), "Accounts of printers, scanners and other devices"),
    DirGroup("Scanners", ("Device Accounts",), "Scan-to-folder accounts"),
    DirGroup("Print Devices", ("Device Accounts",), "Printer accounts"),
    DirGroup("Radiologists", ("All Staff",), "Radiology department"),
    DirGroup("PrintAdmins", ("Domain Admins",), "Legacy print server administration"),
    DirGroup("Server Admins", ("Domain Admins",), "Administrators of the file servers"),
    DirGroup("NAS Backup", ("Server Admins",), "Backup of the NAS"),
    DirGroup("IT Audit", (), "Auditors"),
)
OLD_PASSWORD = "2019-03-01"

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
    DirUser("mfp-ward3", "Mfp-Pass1!", DEVICES_OU, workstations="MFPWARD3"),
    DirUser("dev4250", "Dev-Pass1!", DEVICES_OU, "HP LaserJet 4250, ward 5", ("Print Devices",)),
    DirUser(
        "copier-old", "Copier-Pass1!", DEVICES_OU, "Copier in the basement (decommissioned)", enabled=False
    ),
    # An SPN with RC4 among its encryption types (0x1c: RC4, AES128, AES256): Kerberoastable.
    DirUser(
        "sql-pacs",
        "Sql-Pass1!",
        DEVICES_OU,
        "PACS database",
        spns=("MSSQLSvc/pacsdb.lab.test:1433",),
        encryption_types=0x1C,
    ),
    DirUser("kiosk01", "Kiosk-Pass1!", DEVICES_OU, "Waiting room kiosk", password_never_expires=True),
    # The account: a backup job in Domain Admins through two nested groups.
    DirUser(
        "svc-backup",
        "Backup-Pass1!",
        DEVICES_OU,
        "NAS backup job",
        ("NAS Backup",),
        password_never_expires=True,
    ),
    # A scanner account set up and never used.
    DirUser(
        "scan-er", "ScanEr-Pass1!", DEVICES_OU, "Scan to folder, emergency department MFP", logged_on=False
    ),
    # A description naming a job and a password from 2019: two weaker signals that add up.
    DirUser(
        "pacs-export", "Export-Pass1!", DEVICES_OU, "Nightly export to the archive", password_set=OLD_PASSWORD
    ),
    # An SPN with AES only (0x18): a service account, not Kerberoastable.
    DirUser(
        "svc-intranet",
        "Intranet-Pass1!",
        DEVICES_OU,
        "Intranet web application pool",
        spns=("HTTP/intranet.lab.test",),
        encryption_types=0x18,
    ),
    # People: given name, surname, mail. Some have signals a person may have: they stay out.
    DirUser(
        "alice",
        "Alice-Pass1!",
        STAFF_OU,
        "Nurse, ward 3",
        ("All Staff",),
        given_name="Alice",
        surname="Ng",
        password_never_expires=True,
    ),
    DirUser(
        "bob", "Bob-Pass1!", STAFF_OU, "Radiologist", ("Radiologists",), given_name="Bob", surname="Kent"
    ),
    # "Scanlon, Mary": "scan" inside a name is not a device.
    DirUser(
        "mscanlon",
        "Mary-Pass1!",
        STAFF_OU,
        "Mary Scanlon, pharmacy",
        ("All Staff",),
        given_name="Mary",
        surname="Scanlon",
    ),
    DirUser(
        "carol",
        "Carol-Pass1!",
        STAFF_OU,
        "Left in 2024",
        ("All Staff",),
        enabled=False,
        given_name="Carol",
        surname="Weber",
    ),
    # A person whose description names a job ("backup").
    DirUser(
        "jbackus",
        "John-Pass1!",
        STAFF_OU,
        "Backup contact for ward 3",
        ("All Staff",),
        given_name="John",
        surname="Backus",
    ),
    # A new colleague who has not logged on yet: a weak signal alone.
    DirUser(
        "dnewman",
        "Dana-Pass1!",
        STAFF_OU,
        "Nurse, ward 5",
        ("All Staff",),
        given_name="Dana",
        surname="Newman",
        logged_on=False,
    ),
    # Not a person, but nothing but a weak signal either: an unused training login.
    DirUser("training01", "Training-Pass1!", STAFF_OU, "Training room login", logged_on=False),
)
PASSWORDS = {u.name: u.password for u in USERS}

# Managed service accounts, created offline as objects: Samba 4.17 has no `samba-tool service-account`
# (4.20) and does not compute their managed passwords, but the objects and their classes are real.
MANAGED = (
    DirManaged(
        "gmsa-backup",
        "gmsa",
        "Backup jobs on the file servers",
        ("Backup Operators",),
        spns=("HTTP/backup.lab.test",),
        encryption_types=0x1C,
    ),
    DirManaged("msa-spooler", "msa"),
)

# The candidate device/service accounts discovery must report, with the reasons it must give.
DEVICE_ACCOUNTS: dict[str, frozenset[str]] = {
    "svc-scan": frozenset({"name", "description", "group", "password_never_expires"}),
    "svc-print": frozenset({"name", "description", "group", "spn"}),
    "mfp-ward3": frozenset({"name", "workstations"}),
    "dev4250": frozenset({"group", "description"}),
    "copier-old": frozenset({"name", "description"}),
    "sql-pacs": frozenset({"spn", "description"}),
    "kiosk01": frozenset({"description", "password_never_expires"}),
    "svc-backup": frozenset({"name", "description", "password_never_expires"}),
    "scan-er": frozenset({"name", "description", "never_logged_on"}),
    "pacs-export": frozenset({"description", "old_password"}),
    "svc-intranet": frozenset({"name", "spn", "description"}),
    "gmsa-backup$": frozenset({"managed", "name", "description", "spn", "never_logged_on"}),
    "msa-spooler$": frozenset({"managed", "never_logged_on"}),
}
# Look-alikes discovery must not list: people with a device word in their name, a job in their
# description, a password that never expires or no logon yet; an account with one weak signal.
NOT_SERVICE_ACCOUNTS = frozenset({"alice", "bob", "mscanlon", "carol", "jbackus", "dnewman", "training01"})
# Candidates in administrative groups: the chain of groups to each privileged group.
PRIVILEGED: dict[str, dict[str, tuple[str, ...]]] = {
    "svc-print": {
        "Domain Admins": ("PrintAdmins", "Domain Admins"),
        "BUILTIN\\Administrators": ("PrintAdmins", "Domain Admins", "BUILTIN\\Administrators"),
    },
    "svc-backup": {
        "Domain Admins": ("NAS Backup", "Server Admins", "Domain Admins"),
        "BUILTIN\\Administrators": (
            "NAS Backup",
            "Server Admins",
            "Domain Admins",
            "BUILTIN\\Administrators",
        ),
    },
    "gmsa-backup$": {"BUILTIN\\Backup Operators": ("BUILTIN\\Backup Operators",)},
}
KERBEROASTABLE = frozenset({"svc-print", "sql-pacs"})  # an SPN and RC4, a password someone chose
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
