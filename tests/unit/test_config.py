"""The config file as the scan command sees it (shareaudit/plan/config.py): `scan_defaults` (click's
default_map for `scan`) and `identities` (secret references resolved).

Reading and refusing files (syntax, unknown keys, line numbers) is tested with the other input files
(tests/unit/test_inputs.py); here every file is valid.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shareaudit.cli.app import cli
from shareaudit.errors import InputError
from shareaudit.plan import config
from shareaudit.plan.identities import IdentityKind

FULL = """
targets = ["nas01", "@hosts.txt"]
data_dir = "state"

[audit]
user = "HOSPITAL\\\\audit"
password_env = "TEST_AUDIT_PASSWORD"

[identities.printer]
account = "svc-mfp"
password_file = "printer.pw"

[identities.backup]
account = "HOSPITAL\\\\svc-backup"
password_env = "TEST_BACKUP_PASSWORD"

[scan]
timeout = 7.5
max_hosts = 3
anonymous = false
guest = true
active_write_probe = true
strict = true
protocols = ["dicom"]
sweep = false
sweep_concurrency = 2048
vantage = "office-vlan"

[nfs]
ports = [2050]
uids = { printer = "3001:3002" }

[dicom]
ports = [2762]
ae_titles = ["PACS01"]
max_studies = 500

[ftp]
ports = [2121]

[crawl]
enabled = false
include_shares = ["p*"]
exclude_shares = ["print$", "IPC$"]
max_shares = 2
max_depth = 4
max_entries = 1000
max_dir_entries = 500
time_budget = 60
max_rate = 0
connections = 1
sniff = false
max_sniff = 10
sample = false
show_names = true

[output]
dir = "out"
json = "/srv/audit/scan.json"
html = "report.html"
csv = "findings.csv"
inventory = "out/inventory.jsonl"
fail_on = "high"

[history]
enabled = false
path = "h.sqlite"
name = "weekly"
suppressions = "accepted.toml"

[vantage.office-vlan]

[vantage.guest-wifi]
trusted = false
"""


def _load(tmp_path: Path, text: str) -> config.AuditConfig:
    path = tmp_path / "audit.toml"
    path.write_text(text)
    return config.load(path)


def test_every_setting_becomes_the_scan_option_of_the_same_meaning(tmp_path: Path) -> None:
    defaults = config.scan_defaults(_load(tmp_path, FULL))
    assert defaults == {
        "targets": ("nas01", f"@{tmp_path / 'hosts.txt'}"),  # an @file relative to the config
        "timeout": 7.5,
        "max_hosts": 3,
        "no_anonymous": True,
        "no_guest": False,
        "active_write_probe": True,
        "strict": True,
        "protocols": "dicom",
        "no_sweep": True,
        "sweep_concurrency": 2048,
        "dicom_ports": (2762,),
        "dicom_ae_titles": ("PACS01",),
        "dicom_max_studies": 500,
        "nfs_ports": (2050,),
        "nfs_uids": ("printer=3001:3002",),
        "ftp_ports": (2121,),
        "include_share": ("p*",),
        "exclude_share": ("print$", "IPC$"),
        "no_crawl": True,
        "max_shares": 2,
        "max_depth": 4,
        "max_entries": 1000,
        "max_dir_entries": 500,
        "time_budget": 60,
        "max_rate": 0,
        "walk_connections": 1,
        "no_sniff": True,
        "max_sniff": 10,
        "no_sample": True,
        "show_names": True,
        "json_path": Path("/srv/audit/scan.json"),
        "html_path": tmp_path / "report.html",
        "csv_path": tmp_path / "findings.csv",
        "output_dir": tmp_path / "out",
        "inventory_path": tmp_path / "out" / "inventory.jsonl",
        "fail_on": "high",
        "data_dir": tmp_path / "state",
        "history_file": tmp_path / "h.sqlite",
        "no_history": True,
        "audit_name": "weekly",
        "suppressions_path": tmp_path / "accepted.toml",
        "vantage": "office-vlan",
    }


def test_an_empty_config_sets_the_documented_defaults_and_no_paths(tmp_path: Path) -> None:
    defaults = config.scan_defaults(_load(tmp_path, ""))
    assert defaults == {
        "targets": (),
        "timeout": 5.0,
        "max_hosts": 16,
        "no_anonymous": False,
        "no_guest": False,
        "active_write_probe": False,
        "strict": False,
        "protocols": "smb,dicom,ftp,nfs",
        "no_sweep": False,
        "sweep_concurrency": 0,
        "dicom_ports": (),
        "dicom_ae_titles": (),
        "dicom_max_studies": 10_000,
        "nfs_ports": (),
        "nfs_uids": (),
        "ftp_ports": (),
        "include_share": (),
        "exclude_share": (),
        "no_crawl": False,
        "max_shares": 4,
        "max_depth": 12,
        "max_entries": 200_000,
        "max_dir_entries": 20_000,
        "time_budget": 300.0,
        "max_rate": 1000.0,
        "walk_connections": 2,
        "no_sniff": False,
        "max_sniff": 5_000,
        "no_sample": False,
        "show_names": False,
        "no_history": False,
    }  # unset paths, fail_on and names are left out: the command line's own defaults apply


def test_every_default_names_a_parameter_of_scan(tmp_path: Path) -> None:
    # click's default_map ignores keys that name no parameter: a renamed option would silently lose its setting.
    parameters = {p.name for p in cli.commands["scan"].params}
    assert set(config.scan_defaults(_load(tmp_path, FULL))) <= parameters


def test_identities_resolve_their_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_AUDIT_PASSWORD", "Audit-Secret-1")
    monkeypatch.setenv("TEST_BACKUP_PASSWORD", "Backup-Secret-2")
    pw = tmp_path / "printer.pw"
    pw.write_text("Printer-Secret-3\n")
    pw.chmod(0o600)
    loaded = _load(tmp_path, FULL)
    audit, extra = config.identities(loaded, tmp_path / "audit.toml")
    assert audit is not None
    assert (audit.label, audit.kind, audit.domain, audit.username) == (
        "audit",
        IdentityKind.USER,
        "HOSPITAL",
        "audit",
    )
    assert audit.secret.reveal() == "Audit-Secret-1"
    assert [(i.label, i.kind, i.domain, i.username) for i in extra] == [
        ("printer", IdentityKind.USER, "", "svc-mfp"),
        ("backup", IdentityKind.USER, "HOSPITAL", "svc-backup"),
    ]
    assert [i.secret.reveal() for i in extra] == ["Printer-Secret-3", "Backup-Secret-2"]
    assert "Secret-" not in repr((audit, extra))  # an identity never prints its password


def test_an_unset_variable_names_the_file_and_the_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_AUDIT_PASSWORD", raising=False)
    path = tmp_path / "audit.toml"
    loaded = _load(tmp_path, '[audit]\nuser = "audit"\npassword_env = "TEST_AUDIT_PASSWORD"\n')
    with pytest.raises(InputError) as raised:
        config.identities(loaded, path)
    assert str(raised.value) == f"{path}: [audit]: environment variable TEST_AUDIT_PASSWORD is not set"


def test_no_audit_account_and_no_identities(tmp_path: Path) -> None:
    assert config.identities(_load(tmp_path, 'targets = ["nas01"]\n'), tmp_path / "audit.toml") == (None, [])
