"""Target parsing: every accepted form, and clear reasons for everything else."""

from __future__ import annotations

from pathlib import Path

import pytest

from shareaudit.errors import InputError
from shareaudit.plan.targets import MAX_RANGE, Target, parse_entry, parse_targets


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("nas01", [Target("nas01", "nas01", 445)]),
        ("NAS01.Hospital.example.", [Target("NAS01.Hospital.example.", "nas01.hospital.example", 445)]),
        ("192.0.2.7", [Target("192.0.2.7", "192.0.2.7", 445)]),
        ("192.0.2.7:4445", [Target("192.0.2.7:4445", "192.0.2.7", 4445)]),
        ("nas01:139", [Target("nas01:139", "nas01", 139)]),
        ("2001:db8::1", [Target("2001:db8::1", "2001:db8::1", 445)]),
        ("[2001:db8::1]", [Target("[2001:db8::1]", "2001:db8::1", 445)]),
        ("[::1]:4445", [Target("[::1]:4445", "::1", 4445)]),
        (" 10.1.2.3 ", [Target("10.1.2.3", "10.1.2.3", 445)]),
    ],
)
def test_accepted_forms(text: str, expected: list[Target]) -> None:
    assert parse_entry(text) == expected


def test_cidr_expands_to_hosts() -> None:
    assert [t.host for t in parse_entry("192.0.2.8/30")] == ["192.0.2.9", "192.0.2.10"]
    assert [t.host for t in parse_entry("192.0.2.8/31")] == ["192.0.2.8", "192.0.2.9"]
    assert [t.host for t in parse_entry("192.0.2.8/32")] == ["192.0.2.8"]
    assert [(t.host, t.port) for t in parse_entry("192.0.2.8/30:4445")] == [
        ("192.0.2.9", 4445),
        ("192.0.2.10", 4445),
    ]
    assert len(parse_entry("2001:db8::/120")) == 255
    assert len(parse_entry("10.0.0.0/16")) == MAX_RANGE - 2


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("999.1.1.1", "not a valid IPv4 address"),
        ("10.0.0.0/8", "range has 16777216 addresses"),
        ("10.0.0.0/33", "not a valid CIDR range"),
        ("nas01:0", "port '0' is not a number from 1 to 65535"),
        ("nas01:http", "port 'http' is not a number"),
        ("not a host!", "not a host name"),
        ("-leading-dash", "not a host name"),
        ("[192.0.2.1]:445", "only IPv6 addresses go in brackets"),
        ("[::1", "bracketed address must look like"),
    ],
)
def test_rejected_forms(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason.replace("(", r"\(").replace("[", r"\[")):
        parse_entry(text)


def test_file_lists_report_line_numbers_and_keep_valid_entries(tmp_path: Path) -> None:
    listing = tmp_path / "hosts.txt"
    listing.write_text("# file servers\nnas01\n\n  nas02:4445  # second\nbad host\nnas01\n")
    result = parse_targets([f"@{listing}", "192.0.2.1"])
    assert [(t.host, t.port) for t in result.targets] == [("nas01", 445), ("nas02", 4445), ("192.0.2.1", 445)]
    assert [str(p) for p in result.problems] == [
        f"{listing}:5: 'bad host': not a host name, an IP address, or a CIDR range"
    ]


def test_strict_raises_on_the_first_problem(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"bad target command line: 'x y': .* \(and 1 more\)"):
        parse_targets(["nas01", "x y", "999.0.0.1"], strict=True)


def test_unreadable_target_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read target file"):
        parse_targets([f"@{tmp_path / 'missing.txt'}"])
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(InputError, match="is not UTF-8 text"):
        parse_targets([f"@{binary}"])
