"""Sampling against a real Samba: the counts it gives are the counts the tree was written with.

A throwaway copy of labnas (tests/lab/lab.py) gets tests/lab/sampletree.py's tree in its guest-readable
`archive` share: a quarter of the files without extension (DICOM series, caches that are not medical,
export folders mixing DICOM and HL7 under one name shape, empty lock files), plus one extensionless NIfTI
hidden among 60 like blobs that are not medical. The real CLI scans it with sampling and with
`--no-sample`; both must find exactly the truth, sampling by reading fewer files. A scan with a low
`--max-rate` must say, per share, that the rate limit held the walk back.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lab as lab_control
import pytest
from clirun import Run, shareaudit
from labdata import COPY_ADDRESSES, LABNAS
from populate import nifti1_bytes
from sampletree import Truth, populate_sampled

pytestmark = pytest.mark.usefixtures("lab")

FILES = 2_000
PREFERRED = (COPY_ADDRESSES[-6], COPY_ADDRESSES[-7], COPY_ADDRESSES[-8])


def _free_address() -> str:
    for address in PREFERRED:
        if not lab_control.port_open(address, timeout=0.1):
            return address
    pytest.fail(f"none of {PREFERRED} is free for a throwaway copy")


def _hide_a_nifti(share: Path, truth: Truth) -> Truth:
    """60 blobs of one name shape and size class that are not medical, and one NIfTI among them."""
    rng = random.Random(7)
    folder = share / "2015" / "07" / "misc" / "blobs"
    folder.mkdir(parents=True)
    nifti = nifti1_bytes()  # 480 bytes, as the blobs (300-500)
    hidden = rng.randrange(60)
    for i in range(60):
        data = nifti if i == hidden else rng.randbytes(rng.randrange(300, 500))
        (folder / f"blob{i + 1:04d}").write_bytes(data)
    types = Counter(truth.types)
    types["nifti"] += 1
    bare = Counter(truth.extensionless)
    bare["cache"] += 60
    return Truth(types, bare, truth.files + 60)


@pytest.fixture(scope="module")
def archive() -> Iterator[tuple[str, Truth]]:
    with lab_control.throwaway(LABNAS, _free_address()) as copy:
        share = copy.instance.shares / "archive"
        shutil.rmtree(share)
        share.mkdir()
        truth = _hide_a_nifti(share, populate_sampled(share, FILES))
        subprocess.run(["chmod", "-R", "u=rwX,go=rX", str(share)], check=True)
        yield copy.address, truth


def _scan(address: str, tmp: Path, *extra: str) -> tuple[Run, dict[str, Any], list[dict[str, Any]]]:
    out, inventory = tmp / "scan.json", tmp / "inventory.jsonl"
    run = shareaudit(
        "scan",
        address,
        "--include-share",
        "archive",
        "--no-history",
        "--data-dir",
        str(tmp / "data"),
        "--json",
        str(out),
        "--inventory",
        str(inventory),
        *extra,
    )
    host = json.loads(out.read_text())["hosts"][0]
    content = next(share for share in host["shares"] if share["name"] == "archive")["content"]
    lines = [json.loads(line) for line in inventory.read_text().splitlines()]
    return run, content, lines


def _counts(content: dict[str, Any]) -> dict[str, int]:
    return {type_id: found["count"] for type_id, found in content["medical"].items()}


def test_sampled_counts_are_the_truth_and_fewer_files_are_read(
    archive: tuple[str, Truth], tmp_path: Path
) -> None:
    address, truth = archive
    run, content, lines = _scan(address, tmp_path, "--max-rate", "0")
    assert run.code in (0, 1), run.text
    assert _counts(content) == dict(truth.types)  # every type, exactly; the hidden NIfTI included
    unread = truth.extensionless["lock"]
    readable = sum(truth.extensionless.values()) - unread
    assert content["too_small"] == unread  # the empty lock files were never read
    assert content["extrapolated"] > 0 and content["sampled_groups"] > 0 and content["estimated"] is True
    # Each file the walk would read is read or extrapolated: exactly what a walk without sampling reads
    # (the extensionless files, and the .txt and .dcm heads the classifier reads by name).
    _, unsampled, _ = _scan(address, tmp_path / "unsampled", "--max-rate", "0", "--no-sample")
    assert content["sniffed"] + content["extrapolated"] == unsampled["sniffed"] > content["sniffed"]
    assert unsampled["sniffed"] >= readable
    dicom = content["medical"]["dicom"]
    assert dicom["extrapolated"] == content["extrapolated"] and dicom["sample"] > 0  # only DICOM series agree
    assert content["medical"]["hl7v2"]["extrapolated"] == 0  # the mixed export folder was read whole
    assert content["medical"]["nifti"]["extrapolated"] == 0
    # The inventory has every medical file, the extrapolated ones marked.
    assert Counter(line["type"] for line in lines) == truth.types
    assert sum(line["estimated"] for line in lines) == content["extrapolated"]
    walk = content["walk"]
    assert walk["listings"] == content["dirs_seen"] + 1  # every folder and the root, once
    assert walk["reads"] == content["sniffed"]  # no archive in this tree: one read per file sniffed
    assert walk["rate"] == 0 and walk["rate_waited_s"] == 0


def test_without_sampling_every_readable_file_is_read_and_the_counts_agree(
    archive: tuple[str, Truth], tmp_path: Path
) -> None:
    address, truth = archive
    run, content, lines = _scan(address, tmp_path, "--max-rate", "0", "--no-sample")
    assert run.code in (0, 1), run.text
    assert _counts(content) == dict(truth.types)
    # Every readable extensionless file read (and the heads the classifier reads by name besides).
    assert content["sniffed"] >= sum(truth.extensionless.values()) - truth.extensionless["lock"]
    assert content["extrapolated"] == 0 and content["estimated"] is False
    assert not any(line["estimated"] for line in lines)


def test_a_low_rate_limit_is_named_as_what_held_the_walk_back(
    archive: tuple[str, Truth], tmp_path: Path
) -> None:
    address, _ = archive
    # About 500 requests at 50 per second: the walk cannot take less than about 10 s, most of it waiting.
    run, content, _ = _scan(address, tmp_path, "--max-rate", "50")
    assert run.code in (0, 1), run.text
    walk = content["walk"]
    assert walk["rate"] == 50 and walk["rate_waited_s"] >= 1.0
    requests = walk["listings"] + walk["reads"]
    # The limit is kept: a batch of compounds sent in one write (at most the walk's window of 16) waits for its
    # place as a whole, so all but the last batch's requests cost their 1/50 s.
    assert content["elapsed_s"] >= (requests - 16) / 50
    assert "Walks that were slow or held back:" in run.out
    assert "archive:" in run.out and "the rate limit (--max-rate 50/s) held it back" in run.out


def test_a_spent_sniff_budget_goes_first_to_the_files_only_their_content_can_tell(
    archive: tuple[str, Truth], tmp_path: Path
) -> None:
    """--max-sniff too small for every head the walk wants: the extensionless files have it first, so the
    counts are still the truth; the ordinary .txt heads and the .dcm refinements wait, are cut short, and
    the share says its budget ran out."""
    address, truth = archive
    readable = sum(truth.extensionless.values()) - truth.extensionless["lock"]
    budget = readable + 20  # every extensionless file, and 20 of the hundreds of heads that could wait
    run, content, lines = _scan(
        address, tmp_path, "--max-rate", "0", "--no-sample", "--max-sniff", str(budget)
    )
    assert run.code in (0, 1), run.text
    assert content["sniffed"] == budget and "sniff" in content["bounds_hit"]
    assert _counts(content) == dict(truth.types)
    assert Counter(line["type"] for line in lines) == truth.types


def test_one_walk_connection_or_two_find_the_same_and_two_are_really_used(
    archive: tuple[str, Truth], tmp_path: Path
) -> None:
    address, truth = archive
    connects = {}
    for connections in (1, 2):
        out = tmp_path / f"scan{connections}.json"
        run = shareaudit(
            "-v", "scan", address, "--include-share", "archive", "--no-history", "--data-dir", str(tmp_path),
            "--max-rate", "0", "--walk-connections", str(connections), "--json", str(out),
        )  # fmt: skip
        assert run.code in (0, 1), run.text
        host = json.loads(out.read_text())["hosts"][0]
        content = next(share for share in host["shares"] if share["name"] == "archive")["content"]
        assert _counts(content) == dict(truth.types)
        connects[connections] = run.err.count("share archive as anonymous: tree connect accepted")
    assert connects[2] == connects[1] + 1  # the walk's second connection to the share
