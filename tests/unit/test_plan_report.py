"""The report's top over synthetic results: the first screen's three answers, the plan section, the door
map's model and layout (one builder per protocol, folding, geometry inside the view box, hostile names as
text), the estate view and its charts, the trend of open actions through a real `run`, and the terminal."""

from __future__ import annotations

import dataclasses
import io
import re
from pathlib import Path

from rich.console import Console
from synthetic import (
    FULL,
    HOSTILE,
    READ,
    REFUSED,
    WRITE,
    content,
    host,
    hostile_result,
    large_result,
    posture,
    share,
)
from synthetic import result as scan_result

from shareaudit import scanfile
from shareaudit.model import (
    Basis,
    Content,
    DicomFacts,
    FtpFacts,
    FtpFolder,
    FtpTree,
    HostResult,
    MedicalCount,
    NfsAccess,
    NfsExport,
    NfsFacts,
    ScanResult,
    Service,
    StudyReach,
)
from shareaudit.render import doormap, html
from shareaudit.render.doormap import BUILDERS, Door, Edge, build_doors, fold, layout
from shareaudit.render.estate import TrendPoint, estate_view
from shareaudit.render.plan import print_plan, top_view
from shareaudit.rules import evaluate
from shareaudit.rules.actions import with_actions

LABELS = ("audit", "anonymous", "guest", "printer")
PACS = DicomFacts(
    transport="plain",
    any_calling_ae=True,
    any_called_ae=True,
    query=StudyReach("answered", studies=7, modalities={"CT": 7}),
)


def planned(*hosts: HostResult, labels: tuple[str, ...] = LABELS) -> ScanResult:
    result = scan_result(*hosts, labels=labels)
    return with_actions(dataclasses.replace(result, findings=evaluate(result)))


def clinic() -> HostResult:
    return host(
        "nas01",
        [
            share("public", {"audit": READ, "anonymous": READ, "guest": READ, "printer": READ},
                  content=content({"dicom": 4, "hl7v2": 1})),
            share("scans", {"audit": WRITE, "anonymous": FULL, "guest": FULL, "printer": WRITE}),
            share("hr", {"audit": READ, "anonymous": REFUSED, "guest": REFUSED, "printer": REFUSED}),
        ],
        posture_=posture(smb1=True, null=True, guest=True, fallback=True),
        services=(Service("dicom", 11112, True, dicom=PACS), Service("dicom", 104, False, error="refused")),
    )  # fmt: skip


# --- the door model ------------------------------------------------------------------------------------------
def test_doors_are_built_per_protocol_with_the_strongest_right_per_identity() -> None:
    doors = {d.name: d for d in build_doors(clinic())}
    assert set(doors) == {"public", "scans", "hr", "port 11112"}  # the closed port 104 is no door
    assert {(e.identity, e.right) for e in doors["scans"].edges} == {
        ("audit", "write"), ("anonymous", "control"), ("guest", "control"), ("printer", "write")
    }  # fmt: skip
    assert doors["public"].medical == 5 and doors["public"].medical_text == "dicom 4, hl7v2 1"
    assert doors["hr"].open_edges == () and [e.identity for e in doors["hr"].edges] == ["audit"]
    dicom = doors["port 11112"]
    assert (dicom.protocol, dicom.medical, dicom.edges) == (
        "dicom",
        7,
        (Edge("anonymous", "read", via="any AE title"),),
    )


def test_a_protocol_without_a_builder_is_still_a_door_and_a_builder_is_all_it_takes() -> None:
    other = host("nas01", [], services=(Service("webdav", 443, True),))
    [door] = build_doors(other)
    assert (door.protocol, door.name, door.edges) == ("webdav", "port 443", ())
    BUILDERS["webdav"] = lambda h, s: [
        Door("webdav", "/dav/pacs", "collection", (Edge("anonymous", "read"),), 3, "dicom 3")
    ]
    try:
        [door] = build_doors(other)
        assert door.name == "/dav/pacs" and door.open_edges
    finally:
        del BUILDERS["webdav"]


def test_nfs_exports_and_ftp_trees_are_doors_with_their_identities() -> None:
    walked = Content(
        "anonymous", 10, 1, 0, False, False, 0.1, medical={"dicom": MedicalCount(6, 600, "high")}
    )
    nfs = NfsFacts(
        exports=(
            NfsExport(
                "/srv/imaging",
                ("*",),
                True,
                {
                    "anonymous": NfsAccess(True, list=True, read=True, basis={"read": Basis.MEASURED}),
                    "printer": NfsAccess(True, list=True, write=True, basis={"write": Basis.GRANTED}),
                },
                content=walked,
            ),
            NfsExport("/srv/hr", ("10.0.0.0/24",), False, {"anonymous": NfsAccess(False, "MNT3ERR_ACCES")}),
        )
    )
    drop = FtpFolder("incoming", Basis.GRANTED, perm="cw")
    ftp = FtpFacts(
        "plain",
        trees=(
            FtpTree("anonymous", "/", "mlsd", True, read=True, folders=(drop,), content=walked),
            FtpTree("printer", "/", "mlsd", True, read=True, same_as="anonymous"),
        ),
    )
    nas = host("nas01", [], services=(Service("nfs", 2049, True, nfs=nfs), Service("ftp", 21, True, ftp=ftp)))
    doors = {d.name: d for d in build_doors(nas)}
    assert set(doors) == {"/srv/imaging", "/srv/hr", "port 21 /"}
    imaging = doors["/srv/imaging"]
    assert imaging.medical == 6 and "any host" in imaging.kind
    assert {(e.identity, e.right, e.uncertain) for e in imaging.edges} == {
        ("anonymous", "read", False), ("printer", "write", True)
    }  # fmt: skip
    assert doors["/srv/hr"].edges == ()  # the mount was refused
    tree = doors["port 21 /"]
    assert tree.medical == 6 and {(e.identity, e.right) for e in tree.edges} == {
        ("anonymous", "write"), ("printer", "read")
    }  # fmt: skip


def test_many_doors_fold_into_one_keeping_the_most_exposed() -> None:
    shares = [share(f"s{n:02d}", {"audit": READ, "anonymous": REFUSED}) for n in range(30)]
    shares.append(share("zz-medical", {"audit": READ, "anonymous": READ}, content=content({"dicom": 2})))
    shares.append(share("zz-write", {"audit": READ, "guest": WRITE}))
    doors = fold(build_doors(host("nas01", shares)))
    assert len(doors) == doormap.MAX_DOORS
    assert [d.name for d in doors[:2]] == ["zz-medical", "zz-write"]
    assert doors[-1].folded == 21 and doors[-1].name == "21 more doors"
    assert {e.identity for e in doors[-1].edges} == {"audit"}


def test_the_layout_stays_inside_its_view_box_and_every_edge_has_a_letter_and_a_sentence() -> None:
    shares = [
        share(f"share-{n}", {"audit": READ, "anonymous": FULL, "guest": WRITE, "printer": READ})
        for n in range(20)
    ]
    m = layout(host("nas01", shares), LABELS)
    assert len(m.doors) == doormap.MAX_DOORS and m.total_doors == 20
    for box in m.doors:
        assert box.y >= 0 and box.y + box.h <= m.height and box.x + doormap.DOOR_W <= m.width
    for box in m.identities:
        assert box.y >= 0 and box.y + box.h <= m.height
    points = [int(n) for e in m.edges for n in re.findall(r"-?\d+", e.path)]
    assert min(points) >= 0 and max(points) <= max(m.width, m.height)
    assert {e.letter for e in m.edges} <= {"R", "W", "C", "R?", "W?", "C?"}
    assert all(e.title in m.words for e in m.edges)
    assert [i.label for i in m.identities] == [
        "anonymous",
        "guest",
        "printer",
        "audit",
    ]  # least privileged first


def test_hostile_names_are_cut_and_made_printable_in_the_map_and_escaped_in_the_page() -> None:
    result = hostile_result()
    result = dataclasses.replace(result, findings=evaluate(result))
    m = layout(result.hosts[0], [i.label for i in result.identities])
    texts = [box.text for box in m.doors]
    cut = [text for text in texts if text.endswith("\u2026")]
    assert cut and all(len(text) < 60 for text in cut)  # the 500-character name, cut to fit its box
    assert not any("\u202e" in text for text in texts)  # bidi overrides are shown escaped, not obeyed
    page = html.render(result, generated_at="2026-11-29T06:00:00+00:00")
    svg = page[page.index('<section id="doors">') : page.index('<section id="summary">')]
    assert "<img" not in svg and "<svg onload" not in svg and "</script" not in svg.lower()
    assert "&lt;img src=x onerror=alert(1)&gt;" in svg


# --- the first screen and the plan ---------------------------------------------------------------------------
def test_the_top_answers_how_bad_where_and_what_first() -> None:
    result = planned(clinic())
    top = top_view(result)
    assert top.worst == "critical" and top.findings == len(
        [f for f in result.findings if f.severity != "info"]
    )
    assert [(r.door, r.amount, [w.identity for w in r.who]) for r in top.reach] == [
        ("port 11112", 7, ["anonymous"]),
        ("public", 5, ["anonymous", "guest", "printer"]),
    ]
    assert top.medical_text == "5 medical files behind 1 share and 7 studies behind 1 DICOM port, on 1 host"
    assert [v.action.rank for v in top.first] == [1, 2, 3]
    assert top.first[0].action.medical and top.first[0].steps
    page = html.render(result, generated_at="2026-11-29T06:00:00+00:00")
    order = [
        page.index(f'id="{section}"') for section in ("overview", "plan", "doors", "summary", "findings")
    ]
    assert order == sorted(order)
    for action in result.actions:
        assert f'id="action-{action.id}"' in page
    first = result.actions[0]
    assert f'href="#action-{first.id}"' in page and f'href="#f-{first.findings[0]}"' in page


def test_a_result_without_a_plan_gets_one_and_a_clean_one_says_there_is_nothing() -> None:
    result = scan_result(clinic(), labels=LABELS)
    result = dataclasses.replace(result, findings=evaluate(result))  # no actions yet: an old JSON
    assert top_view(result).actions_total > 0
    clean = planned(host("fs01", [share("hr", {"audit": READ, "anonymous": REFUSED, "guest": REFUSED})]))
    top = top_view(clean)
    assert top.worst is None and top.reach == () and top.first == ()
    page = html.render(clean)
    assert "Nothing: no finding to fix." in page and "Nowhere without a proper account" in page


def test_the_terminal_starts_with_the_plan() -> None:
    result = planned(clinic())
    out = io.StringIO()
    print_plan(result, Console(file=out, width=160, color_system=None))
    text = out.getvalue()
    assert text.startswith(f"Fix plan: {len(result.actions)} actions close")
    assert result.actions[0].title in text and "check: shareaudit" in text
    assert "\\x0a" not in text


# --- the estate --------------------------------------------------------------------------------------------
def test_the_estate_lists_hosts_worst_first_with_charts_and_the_trend() -> None:
    result = planned(clinic(), host("fs01", [share("hr", {"audit": READ})], address="10.0.0.6"))
    assert estate_view(planned(clinic())) is None  # one host and no history: no estate section
    view = estate_view(
        result, [TrendPoint(1, "2026-11-01T05:00:00+00:00", 9), TrendPoint(2, "2026-11-08T05:00:00+00:00", 4)]
    )
    assert view is not None
    assert [(r.label, r.worst) for r in view.rows] == [("nas01", "critical"), ("fs01", "none")]
    assert view.rows[0].doors == "1 DICOM (1 open), 3 SMB (2 open)" and view.rows[0].medical_open == 12
    bars = {b.label: b.value for b in view.severity_chart.bars}
    assert bars["critical"] == 1 and bars["no findings"] == 1
    assert view.trend is not None and [b.value for b in view.trend.bars] == [9, 4]
    assert view.trend.bars[0].h > view.trend.bars[1].h


def test_a_large_estate_renders_bounded() -> None:
    result = with_actions(dataclasses.replace(big := large_result(), findings=evaluate(big)))
    page = html.render(result)
    top = top_view(result)
    assert len(top.maps) == 100 and top.maps_more == 10 and len(top.detailed) == 30
    assert page.count('<tr id="action-') == len(top.rest) <= 470
    assert len(page) < 40_000_000


def test_a_run_with_history_draws_the_trend_of_open_actions(tmp_path: Path) -> None:
    from test_run import NAS, FakeCollector, plan

    from shareaudit.audit.run import run

    for _ in range(3):
        outcome = run(plan(tmp_path, NAS), collector=FakeCollector())
        assert outcome.warnings == ()
    page = (tmp_path / "out" / "report.html").read_text()
    assert "Open actions, last runs of this audit" in page
    assert page.count('<g class="bar trend">') == 3
    saved = scanfile.read(tmp_path / "out" / "scan.json")
    assert saved.actions == outcome.result.actions and saved.actions


def test_hostile_strings_in_actions_stay_text() -> None:
    name = HOSTILE[0]
    result = planned(
        host("nas01", [share(name, {"audit": FULL, "anonymous": FULL, "guest": REFUSED, "printer": REFUSED})])
    )
    page = html.render(result)
    plan_html = page[page.index('<section id="plan">') : page.index('<section id="doors">')]
    assert "<img" not in plan_html and "&lt;img src=x onerror=alert(1)&gt;" in plan_html
