"""Alerts against real receivers on 127.0.0.1: an HTTP(S) server recording POSTs and an SMTP sink (aiosmtpd)
with STARTTLS and AUTH, both started here on ports the OS picks. The certificates come from a private CA made
by the test; the sink checks the credentials it is given and keeps only whether they matched.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import ipaddress
import json
import smtplib
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from shareaudit.audit.alerts import EmailTarget, WebhookTarget, notify, summary
from shareaudit.model import Finding, Suppression
from shareaudit.plan.identities import Secret

SMTP_USER = "shareaudit"
SMTP_PASSWORD = "Sm7p-Pw#only-in-tests"  # distinctive, so that a leak is found by a plain substring test
HOOK_TOKEN = "T0KEN-7f3a9c"  # webhook URLs carry secrets in their path: never in a problem line
EVIDENCE = "DOE^JANE_19700101.dcm readable as guest"  # what must never leave in an alert
PATH = "Radiology/DOE^JANE"
RUN: dict[str, object] = {
    "run_id": 12,
    "audit": "lab-weekly",
    "started_at": "2026-05-09T02:00:00+00:00",
    "finished_at": "2026-05-09T02:04:10+00:00",
    "hosts": 3,
    "failed": 1,
    "tool_version": "0.1.0",
    "password": SMTP_PASSWORD,  # not a run key: must be ignored, never published
}


def finding(severity: str, host: str = "nas01", share: str | None = "scans", **more: Any) -> Finding:
    rule = more.pop("rule", f"rule-{severity}")
    return Finding(
        id=f"{rule}:{host}:{share}",
        rule=rule,
        severity=severity,
        title=f"A {severity} thing on {share}",
        host=host,
        share=share,
        identity="guest",
        path=PATH,
        evidence=EVIDENCE,
        why="why it matters",
        remediation={"samba": ["fix it"]},
        **more,
    )


NEW = [finding("low", "nas02"), finding("critical"), finding("high", share="images")]


# --- a private CA and a server certificate for 127.0.0.1 -------------------------------------------------


@dataclass(frozen=True)
class Pki:
    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA and a leaf for 127.0.0.1/localhost signed by it, with the extensions strict verifiers want."""
    folder = tmp_path_factory.mktemp("pki")
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "shareaudit test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pki = Pki(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    pki.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pki.cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    pki.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return pki


# --- the webhook receiver ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Post:
    method: str
    path: str
    content_type: str
    body: bytes


class HookServer(ThreadingHTTPServer):
    """Records every POST and answers with `status`."""

    daemon_threads = True

    def __init__(self, status: int) -> None:
        super().__init__(("127.0.0.1", 0), HookHandler)
        self.status = status
        self.posts: list[Post] = []
        self.lock = threading.Lock()

    @property
    def base(self) -> str:
        scheme = "https" if isinstance(self.socket, ssl.SSLSocket) else "http"
        return f"{scheme}://127.0.0.1:{self.server_address[1]}"


class HookHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        server = self.server
        assert isinstance(server, HookServer)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with server.lock:
            server.posts.append(Post(self.command, self.path, self.headers.get("Content-Type", ""), body))
        self.send_response(server.status)
        if 300 <= server.status < 400:
            self.send_header("Location", "/moved")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST  # a followed redirect would arrive as a GET: record it too

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep the test output clean


@pytest.fixture
def hook_server(pki: Pki) -> Iterator[Callable[..., HookServer]]:
    """Start webhook receivers on 127.0.0.1 (https with the test CA's certificate when tls=True)."""
    started: list[tuple[HookServer, threading.Thread]] = []

    def start(status: int = 204, tls: bool = False) -> HookServer:
        server = HookServer(status)
        if tls:
            server.socket = pki.server_context().wrap_socket(server.socket, server_side=True)
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        started.append((server, thread))
        return server

    yield start
    for server, thread in started:
        server.shutdown()
        server.server_close()
        thread.join()


# --- the SMTP sink -----------------------------------------------------------------------------------------


@dataclass
class Sink:
    """An SMTP receiver that keeps messages and, of each login, only the user and whether the password matched."""

    password: str = SMTP_PASSWORD
    messages: list[tuple[Envelope, bool]] = field(default_factory=list)  # (envelope, under TLS)
    logins: list[tuple[str, bool, bool]] = field(default_factory=list)  # (user, password ok, under TLS)
    port: int = 0

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        ok = auth_data.login == SMTP_USER.encode() and auth_data.password == self.password.encode()
        self.logins.append((auth_data.login.decode(), ok, session.ssl is not None))
        # A careless server that echoes what it was given: the client must still not repeat the password.
        echo = None if ok else f"535 5.7.8 bad credentials: {auth_data.password.decode()}"
        return AuthResult(success=ok, handled=False, message=echo)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append((envelope, session.ssl is not None))
        return "250 OK"

    def message(self) -> EmailMessage:
        assert len(self.messages) == 1
        content = self.messages[0][0].content
        assert isinstance(content, bytes)
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class _AnyPortController(Controller):
    """aiosmtpd on port 0: learn the port the OS picked before the controller's readiness probe uses it."""

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]  # aiosmtpd leaves it unannotated


@pytest.fixture
def smtp_sink(pki: Pki) -> Iterator[Callable[..., Sink]]:
    """Start SMTP sinks on 127.0.0.1; tls=True offers STARTTLS (required) and AUTH only under TLS."""
    controllers: list[Controller] = []

    def start(tls: bool = True, auth: bool = True, password: str = SMTP_PASSWORD) -> Sink:
        sink = Sink(password=password)
        options: dict[str, Any] = {"server_hostname": "sink.test"}
        if tls:
            options.update(tls_context=pki.server_context(), require_starttls=True)
        if auth:
            options.update(authenticator=sink.authenticate, auth_required=True, auth_require_tls=tls)
        controller = _AnyPortController(sink, hostname="127.0.0.1", port=0, **options)
        controller.start()
        controllers.append(controller)
        sink.port = controller.port
        return sink

    yield start
    for controller in controllers:
        controller.stop()


def subject(message: EmailMessage) -> str:
    """The Subject as a mail client shows it: the stdlib parser keeps the blank left when folding moved the
    whole value to a continuation line."""
    return str(message["Subject"]).strip()


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (just released by the OS)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def mail_target(port: int, **more: Any) -> EmailTarget:
    settings: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "sender": "shareaudit@example.org",
        "recipients": ("pacs-admins@example.org", "it-security@example.org"),
        "username": SMTP_USER,
        "password": Secret(SMTP_PASSWORD),
        "timeout": 10.0,
    }
    settings.update(more)
    return EmailTarget(**settings)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """urllib honours proxy variables: the receivers are local, so none may be in the way."""
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)


def assert_clean(problems: list[str]) -> None:
    for line in problems:
        assert "\n" not in line
        assert SMTP_PASSWORD not in line, "the SMTP password leaked into a problem line"
        assert HOOK_TOKEN not in line, "the webhook token leaked into a problem line"


# --- the summary -------------------------------------------------------------------------------------------


def test_summary_has_counts_and_places_but_no_evidence_or_secrets() -> None:
    hidden = finding("critical", "nas03", rule="accepted", suppressed=Suppression("r", "o", "2099-01-01"))
    doc = summary([*NEW, hidden], RUN)
    text = json.dumps(doc)
    assert doc["tool"] == {"name": "shareaudit", "version": "0.1.0"}
    assert doc["run"] == {
        "id": 12,
        "audit": "lab-weekly",
        "started_at": "2026-05-09T02:00:00+00:00",
        "finished_at": "2026-05-09T02:04:10+00:00",
    }
    assert doc["hosts"] == {"scanned": 3, "failed": 1}
    assert doc["new_findings"] == {
        "total": 3,
        "hosts": 2,
        "by_severity": {"critical": 1, "high": 1, "medium": 0, "low": 1, "info": 0},
    }
    listed = doc["findings"]
    assert isinstance(listed, list)
    assert [f["severity"] for f in listed] == ["critical", "high", "low"]  # most severe first
    assert listed[0] == {
        "id": "rule-critical:nas01:scans",
        "rule": "rule-critical",
        "severity": "critical",
        "host": "nas01",
        "share": "scans",
        "identity": "guest",
        "title": "A critical thing on scans",
    }
    assert doc["findings_omitted"] == 0
    for leak in (EVIDENCE, PATH, "why it matters", "fix it", SMTP_PASSWORD, "accepted"):
        assert leak not in text


# --- delivery ----------------------------------------------------------------------------------------------


def test_one_post_and_one_mail_for_new_findings_at_the_threshold(
    pki: Pki, hook_server: Callable[..., HookServer], smtp_sink: Callable[..., Sink]
) -> None:
    hook = hook_server(tls=True)
    sink = smtp_sink(tls=True)
    webhook = WebhookTarget(f"{hook.base}/hooks/{HOOK_TOKEN}", timeout=10.0, ca_file=str(pki.ca_file))
    mail = mail_target(sink.port, ca_file=str(pki.ca_file))

    problems = notify(NEW, RUN, "high", webhook, mail)

    assert problems == []
    assert len(hook.posts) == 1
    post = hook.posts[0]
    assert post.method == "POST" and post.path == f"/hooks/{HOOK_TOKEN}"
    assert post.content_type == "application/json"
    assert json.loads(post.body) == summary(NEW, RUN)
    assert EVIDENCE.encode() not in post.body and PATH.encode() not in post.body

    assert sink.logins == [(SMTP_USER, True, True)]  # the right credentials, and only under TLS
    envelope, under_tls = sink.messages[0]
    assert under_tls
    assert envelope.mail_from == "shareaudit@example.org"
    assert envelope.rcpt_tos == ["pacs-admins@example.org", "it-security@example.org"]
    message = sink.message()
    assert subject(message) == "shareaudit: 3 new findings (1 critical, 1 high) on 2 hosts [lab-weekly]"
    assert message.get_content_type() == "text/plain"
    body = message.get_content()
    assert isinstance(body, str)
    for item in NEW:
        assert item.title in body and item.id in body
    assert body.index("[CRITICAL]") < body.index("[HIGH]") < body.index("[LOW]")
    assert "3 scanned, 1 failed" in body
    for leak in (EVIDENCE, PATH, SMTP_PASSWORD):
        assert leak not in body


def test_nothing_is_sent_when_nothing_new_reaches_the_threshold(
    hook_server: Callable[..., HookServer], smtp_sink: Callable[..., Sink]
) -> None:
    hook = hook_server()
    sink = smtp_sink(tls=False, auth=False)
    webhook = WebhookTarget(f"{hook.base}/hook", timeout=10.0)
    mail = mail_target(sink.port, starttls=False, username=None, password=None)
    accepted = Suppression("ward MFP until January", "pacs-admins", "2099-01-31")
    quiet_runs: list[list[Finding]] = [
        [],  # nothing new
        [finding("medium"), finding("low", "nas02"), finding("info")],  # all below the threshold
        [finding("critical", suppressed=accepted)],  # an accepted risk never alerts
    ]
    for findings in quiet_runs:
        assert notify(findings, RUN, "high", webhook, mail) == []
    assert hook.posts == [] and sink.messages == []

    # The same receivers do get a message once one new finding reaches the threshold.
    assert notify([finding("medium"), finding("high")], RUN, "high", webhook, mail) == []
    assert len(hook.posts) == 1 and len(sink.messages) == 1
    assert subject(sink.message()) == "shareaudit: 2 new findings (1 high) on 1 host [lab-weekly]"


def test_threshold_counts_severities_at_or_above_it(
    hook_server: Callable[..., HookServer],
) -> None:
    hook = hook_server()
    webhook = WebhookTarget(f"{hook.base}/hook", timeout=10.0)
    assert notify([finding("low")], RUN, "medium", webhook, None) == []
    assert hook.posts == []
    assert notify([finding("medium")], RUN, "medium", webhook, None) == []
    assert len(hook.posts) == 1


# --- failures: one line each, never an exception, never a secret -------------------------------------------


def test_dead_webhook_is_a_problem_and_mail_still_goes(smtp_sink: Callable[..., Sink], pki: Pki) -> None:
    sink = smtp_sink(tls=True)
    port = closed_port()
    webhook = WebhookTarget(f"http://127.0.0.1:{port}/hooks/{HOOK_TOKEN}?key={HOOK_TOKEN}", timeout=10.0)

    problems = notify(NEW, RUN, "high", webhook, mail_target(sink.port, ca_file=str(pki.ca_file)))

    assert len(problems) == 1
    assert problems[0].startswith(f"webhook http://127.0.0.1:{port}: ")
    assert "connection refused" in problems[0]
    assert_clean(problems)
    assert len(sink.messages) == 1  # one notifier failing does not stop the other


def test_webhook_error_status_is_a_problem(hook_server: Callable[..., HookServer]) -> None:
    hook = hook_server(status=500)
    problems = notify(NEW, RUN, "high", WebhookTarget(f"{hook.base}/hooks/{HOOK_TOKEN}"), None)
    assert len(problems) == 1 and "HTTP 500" in problems[0]
    assert len(hook.posts) == 1
    assert_clean(problems)


def test_webhook_redirect_is_not_followed(hook_server: Callable[..., HookServer]) -> None:
    hook = hook_server(status=302)  # urllib would re-send a redirected POST as a GET without the body
    problems = notify(NEW, RUN, "high", WebhookTarget(f"{hook.base}/hooks/{HOOK_TOKEN}"), None)
    assert len(problems) == 1 and "HTTP 302" in problems[0]
    assert [post.method for post in hook.posts] == ["POST"]
    assert_clean(problems)


def test_webhook_tls_is_verified_by_default(pki: Pki, hook_server: Callable[..., HookServer]) -> None:
    hook = hook_server(tls=True)
    problems = notify(NEW, RUN, "high", WebhookTarget(f"{hook.base}/hooks/{HOOK_TOKEN}"), None)
    assert len(problems) == 1 and "certificate not trusted" in problems[0]
    assert hook.posts == []
    assert_clean(problems)


def test_refused_smtp_port_is_a_problem() -> None:
    port = closed_port()
    problems = notify(NEW, RUN, "high", None, mail_target(port))
    assert len(problems) == 1
    assert problems[0].startswith(f"e-mail via 127.0.0.1:{port}: ")
    assert "connection refused" in problems[0]
    assert_clean(problems)


def test_smtp_tls_failure_is_a_problem_and_no_password_is_sent(smtp_sink: Callable[..., Sink]) -> None:
    sink = smtp_sink(tls=True)
    problems = notify(NEW, RUN, "high", None, mail_target(sink.port))  # the test CA is not trusted
    assert len(problems) == 1 and "certificate not trusted" in problems[0]
    assert sink.logins == [] and sink.messages == []
    assert_clean(problems)


def test_smtp_without_starttls_is_refused_when_starttls_is_wanted(smtp_sink: Callable[..., Sink]) -> None:
    sink = smtp_sink(tls=False, auth=False)
    problems = notify(NEW, RUN, "high", None, mail_target(sink.port))
    assert len(problems) == 1 and "does not offer STARTTLS" in problems[0]
    assert sink.logins == [] and sink.messages == []
    assert_clean(problems)


def test_wrong_smtp_password_is_a_problem_without_the_password(
    pki: Pki, smtp_sink: Callable[..., Sink]
) -> None:
    sink = smtp_sink(tls=True, password="the-right-one")
    problems = notify(NEW, RUN, "high", None, mail_target(sink.port, ca_file=str(pki.ca_file)))
    assert len(problems) == 1 and "refused the login" in problems[0] and "535" in problems[0]
    assert sink.logins and not any(ok for _, ok, _ in sink.logins)
    assert sink.messages == []
    assert_clean(problems)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # aiosmtpd's, about itself
def test_password_goes_without_tls_only_to_loopback(
    smtp_sink: Callable[..., Sink], monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = smtp_sink(tls=False, auth=True)  # a local relay on loopback, AUTH over plain text
    assert notify(NEW, RUN, "high", None, mail_target(sink.port, starttls=False)) == []
    assert sink.logins == [(SMTP_USER, True, False)] and len(sink.messages) == 1

    def no_connection(*args: object, **kwargs: object) -> None:
        raise AssertionError("connected although the password must not travel in clear text")

    monkeypatch.setattr(smtplib, "SMTP", no_connection)
    remote = mail_target(25, host="smtp.hospital.example", starttls=False)
    problems = notify(NEW, RUN, "high", None, remote)
    assert len(problems) == 1 and "without TLS" in problems[0]
    assert_clean(problems)


def test_configuration_problems_are_lines_not_exceptions(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_connection(*args: object, **kwargs: object) -> None:
        raise AssertionError("must not connect")

    monkeypatch.setattr(smtplib, "SMTP", no_connection)
    lines = notify(NEW, RUN, "severe", None, mail_target(closed_port()))
    assert len(lines) == 1 and "unknown threshold" in lines[0]
    lines = notify(NEW, RUN, "high", None, mail_target(closed_port(), password=None))
    assert len(lines) == 1 and "needs a password" in lines[0]
    lines = notify(NEW, RUN, "high", WebhookTarget("file:///etc/passwd"), None)
    assert len(lines) == 1 and "https://" in lines[0]
    missing_ca = WebhookTarget(f"https://127.0.0.1:{closed_port()}/h", ca_file="/nonexistent/ca.pem")
    lines = notify(NEW, RUN, "high", missing_ca, None)
    assert len(lines) == 1 and "cannot load ca_file" in lines[0]


def test_email_target_never_shows_its_password() -> None:
    target = mail_target(587)
    assert SMTP_PASSWORD not in repr(target) and SMTP_PASSWORD not in str(target)


def test_an_unexpected_error_in_a_notifier_is_a_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"boom while holding {SMTP_PASSWORD}")

    monkeypatch.setattr(smtplib, "SMTP", broken)
    problems = notify(NEW, RUN, "high", None, mail_target(closed_port()))
    assert len(problems) == 1 and "RuntimeError" in problems[0]
    assert_clean(problems)


def test_a_long_list_is_cut_but_counted() -> None:
    many = [finding("high", f"nas{n:03}") for n in range(250)]
    doc = summary(many, RUN)
    listed = doc["findings"]
    assert isinstance(listed, list) and len(listed) == 200
    assert doc["findings_omitted"] == 50
    assert doc["new_findings"] == {
        "total": 250,
        "hosts": 250,
        "by_severity": {"critical": 0, "high": 250, "medium": 0, "low": 0, "info": 0},
    }
