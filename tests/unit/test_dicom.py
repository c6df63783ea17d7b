"""The DICOM door without a PACS: the raw first contact, the pure decisions (collect/dicom/judge.py), the
options, the merge of SMB and other doors (collect/hosts.merge), the dicom rules both ways, the catalogue's
per-family platforms, exit codes, the JSON form and the renderers.

A few tests talk to sockets of their own on 127.0.0.1 (a port nobody listens on, a silent one, one that
hangs up): no server of the lab is needed.
"""

from __future__ import annotations

import io
import json
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console
from synthetic import host, result

from shareaudit import scanfile
from shareaudit.cli.report import EXIT_OK, EXIT_TARGETS_FAILED, exit_code
from shareaudit.collect.dicom import first_contact, judge
from shareaudit.collect.dicom.association import FindAnswer, RetrieveAnswer, StudyRow, study_row
from shareaudit.collect.dicom.collector import probe_port
from shareaudit.collect.dicom.first_contact import Answer, associate_rq, classify, contact
from shareaudit.collect.dicom.options import DEFAULT_AE_TITLES, DEFAULT_PORTS, DicomOptions, dicom_options
from shareaudit.collect.hosts import merge
from shareaudit.errors import CollectError, FailureKind, InputError
from shareaudit.model import (
    AssociationAttempt,
    DicomFacts,
    HostResult,
    RetrieveProbe,
    Service,
    Severity,
    StudyReach,
)
from shareaudit.plan.targets import Target
from shareaudit.render import html
from shareaudit.render.services import absent_notes, dicom_rows
from shareaudit.render.terminal import print_summary
from shareaudit.rules import evaluate
from shareaudit.rules.catalog import CatalogError, family_texts, load_family
from shareaudit.rules.platform import PACS_PLATFORMS, PLATFORMS, detect_pacs

# --- facts built in code ---------------------------------------------------------------------------------
ANSWERED = StudyReach("answered", 3, False, 4, 6, {"CT": 1, "MR": 1}, "2019-03-14", "2023-01-02", "0x0000")
OPEN = DicomFacts(
    transport="plain",
    any_calling_ae=True,
    any_called_ae=True,
    called_ae="NO12345678",
    server_ae="ORTHANC",
    implementation_class_uid="1.2.276.0.7230010.3.0.3.6.7",
    implementation_version="OFFIS_DCMTK_367",
    echo=True,
    contexts={"verification": True, "find": True, "move": True, "get": True, "store": True},
    query=ANSWERED,
    get=RetrieveProbe("get", "accepted", "seen", "0xC000", 1),
    move=RetrieveProbe("move", "refused", "seen", "0xC000"),
    attempts=(AssociationAttempt("NO12345678", "SA12345678", True, False, "accepted"),),
)
HARDENED = DicomFacts(
    transport="tls",
    tls_version="TLSv1.3",
    any_calling_ae=False,
    any_called_ae=False,
    attempts=(
        AssociationAttempt("NO1", "SA1", True, True, "rejected", "called ae title not recognised"),
        AssociationAttempt("HARDPACS", "SA1", False, True, "rejected", "calling ae title not recognised"),
    ),
)


def dicom(port: int, facts: DicomFacts | None, error: str | None = None) -> Service:
    return Service("dicom", port, True, error, "timeout" if error else None, 0.2, facts)


def closed(port: int) -> Service:
    return Service("dicom", port, False, "connection refused (nothing listens on the port)", "refused")


def rules_of(*services: Service) -> dict[str, object]:
    found = evaluate(result(host(services=services)))
    return {f.rule: f for f in found if f.rule.startswith("dicom")}


# --- the first contact -----------------------------------------------------------------------------------
def test_the_association_request_is_well_formed() -> None:
    pdu = associate_rq("ANY-SCP", "SA0123ABCD")
    kind, _, length = struct.unpack(">BBI", pdu[:6])
    assert kind == 0x01 and length == len(pdu) - 6
    assert struct.unpack(">H", pdu[6:8])[0] == 1  # protocol version
    assert pdu[10:26] == b"ANY-SCP".ljust(16) and pdu[26:42] == b"SA0123ABCD".ljust(16)
    items, offset = [], 74
    while offset < len(pdu):
        item, _, size = struct.unpack(">BBH", pdu[offset : offset + 4])
        items.append(item)
        offset += 4 + size
    assert offset == len(pdu) and items == [0x10, 0x20, 0x50]  # context name, presentation context, user info
    assert (
        first_contact.VERIFICATION.encode() in pdu and first_contact.IMPLEMENTATION_CLASS_UID.encode() in pdu
    )


@pytest.mark.parametrize(
    ("first", "answer"),
    [
        (b"\x02", Answer.ACCEPTED),
        (b"\x03", Answer.REJECTED),
        (b"\x07", Answer.ABORTED),
        (b"", Answer.CLOSED),
        (b"\x15", Answer.TLS_ALERT),
        (b"H", Answer.FOREIGN),
        (b"2", Answer.FOREIGN),
    ],
)
def test_the_first_byte_says_what_answered(first: bytes, answer: Answer) -> None:
    assert classify(first) is answer
    assert answer.dicom == (answer in (Answer.ACCEPTED, Answer.REJECTED, Answer.ABORTED))


@pytest.fixture
def listener() -> Iterator[tuple[int, list[str]]]:
    """A port on 127.0.0.1 that does what the test puts in the list: 'silent', 'close', 'reject' or 'abort'."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    mode: list[str] = ["silent"]
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            if mode[0] == "close":
                conn.close()
            elif mode[0] in ("reject", "abort"):
                conn.recv(4096)
                if mode[0] == "reject":  # A-ASSOCIATE-RJ: permanent, by the service user, called AE unknown
                    conn.sendall(bytes((0x03, 0, 0, 0, 0, 4, 0, 1, 1, 7)))
                else:  # A-ABORT by the service provider
                    conn.sendall(bytes((0x07, 0, 0, 0, 0, 4, 0, 0, 2, 0)))
                conn.close()
            else:
                held.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], mode
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_a_dead_port_fails_with_one_line_and_a_silent_one_after_one_timeout(
    listener: tuple[int, list[str]],
) -> None:
    port, mode = listener
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    dead = free.getsockname()[1]
    free.close()
    with pytest.raises(CollectError) as refused:
        contact("127.0.0.1", dead, "ANY-SCP", "SA1", 1.0, tls=False)
    assert refused.value.kind is FailureKind.REFUSED and "\n" not in str(refused.value)
    assert contact("127.0.0.1", port, "ANY-SCP", "SA1", 0.3, tls=False).answer is Answer.SILENT
    mode[0] = "close"
    assert contact("127.0.0.1", port, "ANY-SCP", "SA1", 1.0, tls=False).answer is Answer.CLOSED
    mode[0] = "reject"
    assert contact("127.0.0.1", port, "ANY-SCP", "SA1", 1.0, tls=False).answer is Answer.REJECTED


def test_a_server_that_aborts_every_association_costs_two_attempts(listener: tuple[int, list[str]]) -> None:
    port, mode = listener
    mode[0] = "abort"
    service = probe_port("127.0.0.1", port, DicomOptions(), 2.0)
    assert service.reachable and service.dicom is not None and service.error is None
    assert [a.outcome for a in service.dicom.attempts] == ["aborted", "aborted"]
    assert service.dicom.any_calling_ae is None and service.dicom.query is None
    assert service.elapsed_s < 2.0  # aborts come at once: no timeout was waited for
    mode[0] = "reject"
    rejected = probe_port("127.0.0.1", port, DicomOptions(ae_titles=("PACS01",)), 2.0)
    assert rejected.dicom is not None and rejected.dicom.any_called_ae is False
    assert [a.called_ae for a in rejected.dicom.attempts][1:3] == ["PACS01", DEFAULT_AE_TITLES[0]]
    assert len(rejected.dicom.attempts) == 2 + len(DEFAULT_AE_TITLES)  # bounded: one per title


# --- counting, and nothing but counting ----------------------------------------------------------------------
def test_a_find_answer_is_reduced_to_the_keys_asked_for() -> None:
    from pydicom.dataset import Dataset

    answer = Dataset()
    answer.PatientName = "DOE^JANE^DICOMTEST"
    answer.PatientID = "DICOMTEST-0001"
    answer.PatientBirthDate = "19610412"
    answer.StudyInstanceUID = "1.2.3.4"
    answer.ModalitiesInStudy = ["CT", "SR"]
    answer.StudyDate = "20190314"
    answer.NumberOfStudyRelatedSeries = "2"
    answer.NumberOfStudyRelatedInstances = 3
    answer.RetrieveAETitle = "ORTHANC"
    row = study_row(answer)
    assert row == StudyRow("1.2.3.4", ("CT", "SR"), "20190314", 2, 3, "ORTHANC")
    assert "DICOMTEST" not in repr(row)


def test_counts_modalities_dates_and_bounds() -> None:
    rows = (
        StudyRow("1", ("CT", "SR"), "20190314", 2, 3, "PACS"),
        StudyRow("2", ("MR",), "20210702", 1, 2, "PACS"),
        StudyRow("2", ("MR",), "20210702", 1, 2, "PACS"),  # the same study twice: counted once
        StudyRow("3", ("CT",), "2023", 1, 1, None),  # a partial date is not a date
    )
    reach = judge.reach(FindAnswer(rows, "complete", 0))
    assert (reach.outcome, reach.studies, reach.series, reach.instances) == ("answered", 3, 4, 6)
    assert reach.modalities == {"CT": 2, "MR": 1, "SR": 1}
    assert (reach.earliest, reach.latest, reach.status) == ("2019-03-14", "2021-07-02", "0x0000")
    assert "uid" not in json.dumps(scanfile._converter.unstructure(reach)).lower()  # no UID travels on
    truncated = judge.reach(FindAnswer(rows[:1], "truncated", 0xFE00))
    assert truncated.truncated and truncated.outcome == "answered"
    unknown = judge.reach(FindAnswer((StudyRow("1", (), None, None, 1, None),), "complete", 0))
    assert unknown.series is None and unknown.instances == 1
    assert judge.reach(FindAnswer((), "refused", None, "aborted")).outcome == "refused"
    assert judge.reach(FindAnswer((), "timeout", None)).outcome == "failed"
    assert judge.server_ae(rows) == "PACS"
    assert judge.probe_study(rows) == rows[3]  # the smallest study is the one a probe names


@pytest.mark.parametrize(
    ("service", "answer", "seen", "outcome"),
    [
        ("get", RetrieveAnswer("answered", 0xC000, 1), True, "accepted"),  # Orthanc: no context to send on
        ("get", RetrieveAnswer("answered", 0xFF00, 5), True, "accepted"),
        ("get", RetrieveAnswer("refused", None), True, "refused"),  # Orthanc aborts what it does not allow
        ("get", RetrieveAnswer("answered", 0x0124), True, "refused"),
        ("get", RetrieveAnswer("answered", 0xC000), False, "undetermined"),  # a UID matching nothing
        ("get", RetrieveAnswer("timeout", None), True, "undetermined"),
        ("move", RetrieveAnswer("answered", 0xA801), True, "destination_unknown"),
        ("move", RetrieveAnswer("answered", 0xC000), True, "refused"),  # Orthanc: unknown destination
        ("move", RetrieveAnswer("answered", 0xFF00, 3), True, "accepted"),
        ("move", RetrieveAnswer("answered", 0x0000), False, "undetermined"),
    ],
)
def test_retrieval_is_decided_from_the_first_answer(
    service: str, answer: RetrieveAnswer, seen: bool, outcome: str
) -> None:
    assert judge.retrieve_probe(service, answer, seen).outcome == outcome


@pytest.mark.parametrize(
    ("text", "iso"),
    [("20190314", "2019-03-14"), ("2019", None), ("20191399", None), ("2019031", None), (None, None)],
)
def test_study_dates(text: str | None, iso: str | None) -> None:
    assert judge.iso_date(text) == iso


# --- options -----------------------------------------------------------------------------------------------
def test_options_add_ports_and_check_ae_titles() -> None:
    options = dicom_options((2762, 104), ("PACS01", " PACS01 "), 100)
    assert options.ports == (*DEFAULT_PORTS, 2762)
    assert options.ae_titles == ("PACS01",)
    assert options.candidates()[:2] == ("PACS01", DEFAULT_AE_TITLES[0])
    assert DicomOptions().candidates() == DEFAULT_AE_TITLES
    for bad in ("", "A" * 17, "BACK\\SLASH", "TAB\tAE", "ÄRZTE"):
        with pytest.raises(InputError):
            dicom_options((), (bad,), 10)
    with pytest.raises(InputError):
        dicom_options((), tuple(f"AE{n}" for n in range(17)), 10)


# --- SMB absent, DICOM present: not a failed target -----------------------------------------------------------
TARGET = Target("pacs01", "10.0.0.9")
NO_SMB = HostResult(
    "pacs01", "10.0.0.9", 445, False, "connection refused (nothing listens on the port)", "refused"
)


def test_a_host_with_dicom_and_no_smb_is_not_a_failed_target() -> None:
    merged = merge(TARGET, "10.0.0.9", NO_SMB, [closed(104), dicom(11112, OPEN)])
    assert (merged.reachable, merged.error, merged.posture) == (True, None, None)
    assert [(s.protocol, s.port, s.reachable, s.error_kind) for s in merged.services] == [
        ("smb", 445, False, "refused"),
        ("dicom", 104, False, "refused"),
        ("dicom", 11112, True, None),
    ]
    scan = result(merged)
    assert "target-not-scanned" not in {f.rule for f in evaluate(scan)}
    assert exit_code(replace(scan, findings=()), None) == EXIT_OK
    assert absent_notes(merged)[0].startswith("SMB: no SMB server on port 445")


def test_a_host_where_nothing_answered_is_still_failed() -> None:
    merged = merge(TARGET, "10.0.0.9", NO_SMB, [closed(104), closed(11112)])
    assert merged.error == NO_SMB.error and not merged.reachable
    assert [s.protocol for s in merged.services] == ["dicom", "dicom"]
    assert "target-not-scanned" in {f.rule for f in evaluate(result(merged))}
    alone = merge(TARGET, "10.0.0.9", None, [closed(104)])
    assert not alone.reachable and alone.error and alone.error.startswith("no service answered (dicom 104")


def test_smb_that_answered_keeps_its_result_and_gains_services() -> None:
    smb = host()
    assert merge(TARGET, smb.address, smb, []) is smb
    merged = merge(TARGET, smb.address, smb, [dicom(4242, HARDENED)])
    assert merged.posture == smb.posture and merged.services[0].port == 4242
    refused_logon = replace(smb, error="logon refused", error_kind="login")
    assert merge(TARGET, smb.address, refused_logon, [dicom(4242, OPEN)]).error == "logon refused"
    alone = merge(TARGET, "10.0.0.9", None, [dicom(11112, OPEN)])
    assert alone.reachable and alone.error is None and alone.posture is None


def test_a_door_cut_short_makes_the_scan_incomplete() -> None:
    cut = result(host(services=(dicom(11112, OPEN, "the server stopped answering during the C-FIND"),)))
    assert exit_code(cut, None) == EXIT_TARGETS_FAILED
    assert exit_code(result(host(services=(closed(104),))), None) == EXIT_OK  # a closed port is no failure


# --- rules -----------------------------------------------------------------------------------------------
def test_an_open_pacs_is_found_with_its_severities() -> None:
    found = rules_of(dicom(11112, OPEN))
    assert {rule: f.severity for rule, f in found.items()} == {  # type: ignore[attr-defined]
        "dicom-open-query": Severity.CRITICAL,
        "dicom-open-retrieve": Severity.CRITICAL,
        "dicom-any-ae": Severity.HIGH,
        "dicom-no-tls": Severity.MEDIUM,
    }
    query = found["dicom-open-query"]
    assert "3 studies (CT 1, MR 1), 2019-03-14 to 2023-01-02, 4 series, 6 images" in query.evidence  # type: ignore[attr-defined]
    assert query.platform == "orthanc"  # type: ignore[attr-defined]  # it names itself ORTHANC
    assert list(query.remediation) == list(PACS_PLATFORMS)  # type: ignore[attr-defined]
    assert any("DicomAlwaysAllowFind" in s for s in query.remediation["orthanc"])  # type: ignore[attr-defined]
    assert any(
        "-aec ORTHANC -k QueryRetrieveLevel=STUDY 10.0.0.5 11112" in s for s in query.remediation["generic"]
    )  # type: ignore[attr-defined]


def test_severity_follows_what_the_archive_holds() -> None:
    empty = replace(OPEN, query=replace(ANSWERED, studies=0, modalities={}), server_ae=None)
    found = rules_of(dicom(11112, empty))
    assert found["dicom-open-query"].severity == Severity.MEDIUM  # type: ignore[attr-defined]
    assert found["dicom-open-retrieve"].severity == Severity.HIGH  # type: ignore[attr-defined]
    assert found["dicom-open-query"].platform is None  # type: ignore[attr-defined]  # DCMTK says nothing more


def test_a_hardened_pacs_has_no_finding() -> None:
    assert rules_of(dicom(4242, HARDENED), closed(104)) == {}


def test_each_rule_stays_quiet_without_its_fact() -> None:
    refused = replace(OPEN, get=RetrieveProbe("get", "refused", "seen"), move=None)
    assert "dicom-open-retrieve" not in rules_of(dicom(11112, refused))
    whitelisted = replace(OPEN, any_calling_ae=False, query=None, get=None, move=None)
    assert set(rules_of(dicom(104, whitelisted))) == {"dicom-no-tls"}
    undecided = replace(HARDENED, any_calling_ae=None)
    assert rules_of(dicom(4242, undecided)) == {}


def test_plain_and_tls_ports_of_one_host_and_their_fingerprints() -> None:
    found = evaluate(result(host(services=(dicom(104, replace(OPEN, query=None)), dicom(2762, HARDENED)))))
    no_tls = [f for f in found if f.rule == "dicom-no-tls"]
    assert len(no_tls) == 1 and "DICOM TLS is offered on port 2762 too" in no_tls[0].evidence
    two = evaluate(result(host(services=(dicom(104, OPEN), dicom(11112, OPEN)))))
    ids = [f.id for f in two if f.rule == "dicom-any-ae"]
    assert len(ids) == len(set(ids)) == 2  # one finding per port
    again = evaluate(result(host(services=(dicom(104, replace(OPEN, attempts=())), dicom(11112, OPEN)))))
    assert {f.id for f in again if f.rule == "dicom-any-ae"} == set(ids)  # random AE titles are not the id


def test_a_probe_cut_short_is_a_finding() -> None:
    found = rules_of(dicom(11112, OPEN, "the server stopped answering during the C-FIND"))
    assert found["dicom-not-scanned"].severity == Severity.MEDIUM  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("facts", "product"),
    [
        (
            DicomFacts(
                "plain", implementation_class_uid="1.2.40.0.13.1.1", implementation_version="dcm4che-5.31"
            ),
            "dcm4chee",
        ),
        (DicomFacts("plain", implementation_class_uid="1.2.826.0.1.3680043.2.135.1066.101"), "conquest"),
        (DicomFacts("plain", server_ae="ORTHANC"), "orthanc"),
        (DicomFacts("plain", called_ae="ORTHANC", any_called_ae=False), "orthanc"),
        (DicomFacts("plain", called_ae="ORTHANC", any_called_ae=True), None),  # it answers to any name
        (DicomFacts("plain", implementation_version="OFFIS_DCMTK_367"), None),
    ],
)
def test_pacs_product_detection(facts: DicomFacts, product: str | None) -> None:
    assert detect_pacs(facts) == product


def test_the_dicom_family_is_written_for_the_pacs_products() -> None:
    texts = family_texts("dicom")
    assert all(list(t.remediation) == list(PACS_PLATFORMS) for t in texts.values())
    smb_steps = "\n".join(f'{p} = ["x"]' for p in PLATFORMS)
    source = f'["r"]\ntitle = "t"\nseverity = "high"\nwhy = "w"\n\n["r".remediation]\n{smb_steps}\n'
    with pytest.raises(
        CatalogError, match="needs exactly the platforms orthanc, dcm4chee, conquest, generic"
    ):
        load_family("dicom", source)
    assert list(load_family("posture", source)["r"].remediation) == list(PLATFORMS)


# --- JSON and renderers ------------------------------------------------------------------------------------
def test_services_round_trip_and_old_files_load(tmp_path: Path) -> None:
    scan = result(host(services=(closed(104), dicom(11112, OPEN))))
    path = tmp_path / "scan.json"
    scanfile.write(scan, path)
    assert scanfile.read(path) == scan
    data = json.loads(path.read_text())
    for h in data["hosts"]:
        del h["services"]  # a file written before services existed
    path.write_text(json.dumps(data))
    assert scanfile.read(path).hosts[0].services == ()


def test_the_reports_show_the_dicom_door() -> None:
    scan = result(host(services=(closed(104), dicom(11112, OPEN), dicom(4242, HARDENED))))
    scan = replace(scan, findings=evaluate(scan))
    page = html.render(scan, generated_at="2026-11-29T06:00:00+00:00")
    assert "DICOM port 11112" in page and "DICOM port 4242" in page
    assert "3 studies (CT 1, MR 1), 2019-03-14 to 2023-01-02, 4 series, 6 images" in page
    assert "DICOM: nothing on port 104: connection refused (nothing listens on the port)" in page
    out = io.StringIO()
    print_summary(scan, Console(file=out, width=160, highlight=False))
    table = out.getvalue()
    assert "DICOM" in table and "11112" in table and "C-GET" in table
    rows = {r.label: r.text for r in dicom_rows(HARDENED)}
    assert rows["transport"] == "TLS (TLSv1.3)" and rows["unknown calling AE title"] == "refused"
