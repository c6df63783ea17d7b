"""Redaction of patient identifiers in paths: the heuristics, the keyed tokens and the key file."""

import os
import re
import stat
from pathlib import Path

import pytest

from shareaudit.errors import InputError
from shareaudit.redact import KEY_SIZE, KeyFileError, Redactor, load_or_create_key, looks_identifying

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
TOKEN = re.compile(r"\[(\w+):([0-9a-f]{12})\]")

IDENTIFYING = [
    # The examples of the brief.
    "DOE_JOHN_1957-03-02",
    "SMITH^MARY",
    "MRN448812",
    "Doe, John",
    "PAT-19570302",
    "john.doe_1957",
    "19570302_DOE",
    # More of the same kinds.
    "DOE^JOHN^^^",
    "Smith, J",
    "Müller, Jürgen",
    "DOE_JOHN_02.03.57",
    "Doe John 02-03-1957",
    "JohnDoe1957",
    "Patient_Smith_1957",
    "Mueller_Hans_19570302.pdf",
    "smith 448812",
    "mrn_00448812",
    "Accession 778812",
    "123-45-6789",
    "john.doe@example.org",
    "4488123",
]

STRUCTURAL = [
    # The examples of the brief.
    "2024",
    "2024-03",
    "03",
    "SERIES_1",
    "SER00001",
    "ST000000",
    "IM000001",
    "Exports",
    "Teaching",
    "case_042",
    "scans",
    "Radiology",
    "HL7",
    "x64",
    "policies",
    "Q3 budget.xlsx",
    # Share names and other structure.
    "Public",
    "IPC$",
    "C$",
    "PACS_Archive",
    "DICOMDIR",
    "PA000000",
    "SE000002",
    "000123",
    "20240301",
    "Scans2024",
    "Exports_2024-03-02",
    "Studies 2019-2020",
    "Minutes 2024-03-02.docx",
    "budget_2024.xlsx",
    "Windows Server 2019",
    "1.2.840.113619.2.55.3",
    "Ubuntu 22.04",
    "",
]


@pytest.mark.parametrize("component", IDENTIFYING)
def test_identifying_components(component: str) -> None:
    assert looks_identifying(component) is True


@pytest.mark.parametrize("component", STRUCTURAL)
def test_structural_components(component: str) -> None:
    assert looks_identifying(component) is False


def test_path_redacts_identifying_components_and_medical_file_names() -> None:
    redactor = Redactor(KEY, show_names=False)
    result = redactor.path("Radiology/2024/DOE_JOHN_1957-03-02/SER00001/IM000001", "dicom")
    parts = result.split("/")
    assert parts[:2] == ["Radiology", "2024"]
    assert TOKEN.fullmatch(parts[2]) is not None and parts[2].startswith("[name:")
    assert parts[3] == "SER00001"
    assert TOKEN.fullmatch(parts[4]) is not None and parts[4].startswith("[dicom:")
    assert "DOE" not in result and "1957" not in result and "IM000001" not in result


def test_path_keeps_separators_as_given() -> None:
    redactor = Redactor(KEY)
    result = redactor.path("\\\\srv\\Scans\\SMITH^MARY\\report.pdf", None)
    assert result.startswith("\\\\srv\\Scans\\[name:")
    assert result.endswith("]\\report.pdf")
    assert "/" not in result
    mixed = redactor.path("Exports/HL7\\MRN448812/msg.hl7", "hl7v2")
    assert re.fullmatch(r"Exports/HL7\\\[name:[0-9a-f]{12}\]/\[hl7v2:[0-9a-f]{12}\]", mixed)


def test_path_without_anything_identifying_is_unchanged() -> None:
    redactor = Redactor(KEY)
    assert redactor.path("Finance/2024/Q3 budget.xlsx", None) == "Finance/2024/Q3 budget.xlsx"
    assert redactor.path("Teaching/case_042/scans/", None) == "Teaching/case_042/scans/"
    # An identifying file name is redacted even when the file is not medical.
    assert redactor.path("HR/Doe, John - referral.docx", None).startswith("HR/[name:")


def test_tokens_are_stable_per_key_and_differ_between_keys() -> None:
    path = "Radiology/DOE_JOHN_1957-03-02/IM000001"
    first = Redactor(KEY).path(path, "dicom")
    assert Redactor(KEY).path(path, "dicom") == first
    assert Redactor(OTHER_KEY).path(path, "dicom") != first
    assert TOKEN.findall(first) != TOKEN.findall(Redactor(OTHER_KEY).path(path, "dicom"))
    # The same folder in two paths gets the same token, so findings can be grouped by patient.
    other = Redactor(KEY).path("Radiology/DOE_JOHN_1957-03-02/IM000002", "dicom")
    assert first.split("/")[1] == other.split("/")[1]
    assert first.split("/")[2] != other.split("/")[2]


def test_token_is_an_hmac_of_the_component() -> None:
    import hashlib
    import hmac

    expected = hmac.new(KEY, b"mrn448812", hashlib.sha256).hexdigest()[:12]
    assert Redactor(KEY).token("name", "MRN448812") == f"[name:{expected}]"
    # SMB names are case-insensitive: one folder, one token.
    assert Redactor(KEY).token("name", "mrn448812") == f"[name:{expected}]"


def test_show_names_returns_the_path_unchanged() -> None:
    path = "Radiology\\DOE_JOHN_1957-03-02\\IM000001"
    assert Redactor(KEY, show_names=True).path(path, "dicom") == path


def test_short_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        Redactor(b"short")


# --- Key file ---------------------------------------------------------------------------------------------
def test_key_is_created_private_and_then_reused(tmp_path: Path) -> None:
    path = tmp_path / "state" / "nested" / "redact.key"
    key = load_or_create_key(path)
    assert len(key) == KEY_SIZE == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes() == key
    assert load_or_create_key(path) == key
    assert load_or_create_key(tmp_path / "another.key") != key


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_key_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "redact.key"
    load_or_create_key(path)
    os.chmod(path, mode)
    with pytest.raises(KeyFileError, match="accessible by group or others") as raised:
        load_or_create_key(path)
    assert isinstance(raised.value, InputError)
    assert "chmod 600" in str(raised.value)


def test_key_of_the_wrong_size_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "redact.key"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(descriptor, b"too short")
    os.close(descriptor)
    with pytest.raises(KeyFileError, match="exactly 32 bytes"):
        load_or_create_key(path)


def test_key_symlink_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "real.key"
    load_or_create_key(target)
    link = tmp_path / "link.key"
    link.symlink_to(target)
    with pytest.raises(KeyFileError):
        load_or_create_key(link)


def test_key_directory_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "redact.key"
    path.mkdir(mode=0o700)
    with pytest.raises(KeyFileError):
        load_or_create_key(path)


def test_key_under_a_file_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_bytes(b"")
    with pytest.raises(KeyFileError, match=r"(?i)redaction key .*not a directory"):
        load_or_create_key(blocker / "redact.key")
