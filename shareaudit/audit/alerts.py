"""Notifiers for new findings: a JSON summary POSTed to a webhook, and/or a plain-text e-mail over SMTP.

The CLI calls `notify` after a run's results and history are written, with the findings that are new
since the previous run of the same audit. Nothing here may lose or delay those results: every failure
becomes one line in the returned list (the CLI prints them as warnings), never an exception. The
summary carries ids, rules, severities, places and titles only: no evidence, paths or remediation
(those stay in the run's own outputs), and no secret ever appears in a message or a problem line.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import json
import smtplib
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, cast
from urllib.parse import urlsplit

from shareaudit import __version__
from shareaudit.model import Finding, Severity
from shareaudit.plan.identities import Secret
from shareaudit.rules.registry import SEVERITIES

SCHEMA = "shareaudit-alert/1"
MAX_LISTED = 200  # findings listed in one message; the counts always cover all of them
_MAX_PROBLEM = 400  # characters in one problem line


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    """Where to POST the JSON summary; https is verified unless verify_tls is False."""

    url: str
    timeout: float = 10.0
    ca_file: str | None = None  # PEM bundle of a private CA to trust (instead of the system's)
    verify_tls: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class EmailTarget:
    """An SMTP server and the recipients of the plain-text summary."""

    host: str
    port: int = 587
    sender: str
    recipients: tuple[str, ...]
    starttls: bool = True
    username: str | None = None
    password: Secret | None = field(default=None, repr=False)
    timeout: float = 10.0
    ca_file: str | None = None  # PEM bundle of a private CA to trust for STARTTLS


def _rank(severity: str) -> int:
    """Higher is worse (critical highest); an unknown severity is 0 and never triggers an alert."""
    return len(Severity) - Severity(severity).rank if severity in SEVERITIES else 0


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _count(value: object) -> int:
    """A count from the run mapping: an int, or the length of a collection."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, Sequence | Mapping) and not isinstance(value, str):
        return len(value)
    return 0


def _active(findings: Sequence[Finding]) -> list[Finding]:
    """Unsuppressed findings, most severe first (accepted risks never alert)."""
    live = [f for f in findings if f.suppressed is None]
    return sorted(live, key=lambda f: (-_rank(f.severity), f.host, f.share or "", f.identity or "", f.rule))


def summary(findings: Sequence[Finding], run: Mapping[str, object]) -> dict[str, object]:
    """The JSON summary of a run's new findings: counts and places, never evidence or secrets.

    `run` may hold: run_id (or id), audit, started_at, finished_at, hosts and failed (counts), tool_version.
    Other keys are ignored, so nothing the caller did not mean to publish can slip into a message.
    """
    live = _active(findings)
    by_severity = {severity: sum(1 for f in live if f.severity == severity) for severity in SEVERITIES}
    listed = [
        {
            "id": f.id,
            "rule": f.rule,
            "severity": f.severity,
            "host": f.host,
            "share": f.share,
            "identity": f.identity,
            "title": f.title,
        }
        for f in live[:MAX_LISTED]
    ]
    run_id = run.get("run_id", run.get("id"))
    return {
        "schema": SCHEMA,
        "tool": {"name": "shareaudit", "version": _text(run.get("tool_version")) or __version__},
        "run": {
            "id": run_id if isinstance(run_id, int) and not isinstance(run_id, bool) else _text(run_id),
            "audit": _text(run.get("audit")),
            "started_at": _text(run.get("started_at")),
            "finished_at": _text(run.get("finished_at")),
        },
        "hosts": {"scanned": _count(run.get("hosts")), "failed": _count(run.get("failed"))},
        "new_findings": {
            "total": len(live),
            "hosts": len({f.host for f in live}),
            "by_severity": by_severity,
        },
        "findings": listed,
        "findings_omitted": len(live) - len(listed),
    }


def notify(
    findings: Sequence[Finding],
    run: Mapping[str, object],
    threshold: str,
    webhook: WebhookTarget | None,
    email: EmailTarget | None,
) -> list[str]:
    """Send the summary when a new finding is at or above threshold; one line per problem, never raises."""
    if threshold not in SEVERITIES:
        return [f"alerts: unknown threshold {threshold!r}; use one of {', '.join(SEVERITIES)}"]
    live = _active(findings)
    if not any(_rank(f.severity) >= _rank(threshold) for f in live):
        return []
    try:
        payload = summary(live, run)
    except Exception as exc:  # noqa: BLE001 - the run is already written: report, never raise
        return [_one_line(f"alerts: cannot build the summary: {type(exc).__name__}: {exc}", ())]
    problems: list[str] = []
    if webhook is not None:
        where = f"webhook {_public_url(webhook.url)}"
        problems += _guarded(where, lambda: _post(webhook, payload), _url_secrets(webhook.url))
    if email is not None:
        where = f"e-mail via {email.host}:{email.port}"
        problems += _guarded(where, lambda: _send_mail(email, payload, threshold), _mail_secrets(email))
    return problems


# --- problem lines -------------------------------------------------------------------------------------


def _one_line(text: str, secrets: Sequence[str]) -> str:
    """One line, secrets masked, bounded in length."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = " ".join(text.split())
    return text if len(text) <= _MAX_PROBLEM else text[: _MAX_PROBLEM - 3] + "..."


def _guarded(where: str, send: Callable[[], str | None], secrets: Sequence[str]) -> list[str]:
    """Run one notifier; whatever goes wrong becomes one masked line starting with `where`."""
    try:
        problem = send()
    except Exception as exc:  # noqa: BLE001 - a notifier must never raise to the caller
        problem = f"unexpected {type(exc).__name__}: {exc}"
    return [] if problem is None else [_one_line(f"{where}: {problem}", secrets)]


def _reason(exc: BaseException, timeout: float) -> str:
    """What a network error means, in an admin's words."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"TLS certificate not trusted ({exc.verify_message}); "
            "set ca_file to the PEM of the CA that issued it"
        )
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed ({exc.reason or exc})"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, socket.gaierror):
        return "the host name does not resolve"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"{type(exc).__name__}: {exc}"


# --- webhook -------------------------------------------------------------------------------------------


def _public_url(url: str) -> str:
    """scheme://host[:port] only: webhook URLs often carry a token in their path or query."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(invalid URL)"
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def _url_secrets(url: str) -> list[str]:
    parts = urlsplit(url)
    hidden = [url, parts.netloc.rpartition("@")[0], parts.query]
    if len(parts.path) > 1:
        hidden.append(parts.path)
    return [h for h in hidden if h]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: urllib would turn a redirected POST into a GET without the body, and call it sent."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: object,
        code: int,
        msg: str,
        headers: object,
        newurl: str,
    ) -> urllib.request.Request | None:
        return None


def _tls_context(ca_file: str | None, verify: bool = True) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca_file)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _post(target: WebhookTarget, payload: Mapping[str, object]) -> str | None:
    """POST the summary; None when the server accepted it (2xx)."""
    scheme = urlsplit(target.url).scheme.lower()
    if scheme not in ("https", "http"):
        return "the URL must start with https:// (or http://)"
    try:
        context = _tls_context(target.ca_file, target.verify_tls) if scheme == "https" else None
    except (OSError, ssl.SSLError) as exc:  # an unreadable or invalid ca_file
        return f"cannot load ca_file {target.ca_file}: {_reason(exc, target.timeout)}"
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(
        target.url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": f"shareaudit/{__version__}"},
    )
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context), _NoRedirect())
    try:
        with opener.open(request, timeout=target.timeout) as response:
            response.read(65536)  # let the server finish its answer; its content is not used
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        note = " (redirects are not followed: configure the final URL)" if 300 <= exc.code < 400 else ""
        return f"the server answered HTTP {exc.code} {exc.reason}{note}"
    except urllib.error.URLError as exc:
        reason = exc.reason
        return _reason(reason, target.timeout) if isinstance(reason, BaseException) else str(reason)
    except (OSError, http.client.HTTPException) as exc:
        return _reason(exc, target.timeout)
    if not 200 <= status < 300:
        return f"the server answered HTTP {status}"
    return None


# --- e-mail --------------------------------------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    """A literal loopback address or localhost: the only places credentials may go without TLS."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _mail_secrets(target: EmailTarget) -> list[str]:
    """The password and the encodings in which smtplib puts it on the wire (AUTH PLAIN and LOGIN)."""
    if target.password is None or not target.password.reveal():
        return []
    password = target.password.reveal()
    user = target.username or ""

    def b64(text: str) -> str:
        return base64.b64encode(text.encode("utf-8")).decode("ascii")

    return [password, b64(password), b64(f"\0{user}\0{password}")]


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _subject(payload: Mapping[str, object], threshold: str) -> str:
    """'shareaudit: 3 new findings (1 critical) on 2 hosts [audit]': counts at/above the threshold."""
    new = cast(dict[str, Any], payload["new_findings"])
    by_severity = cast(dict[str, int], new["by_severity"])
    alerting = [
        f"{by_severity[s]} {s}" for s in SEVERITIES if _rank(s) >= _rank(threshold) and by_severity[s]
    ]
    text = f"shareaudit: {_plural(new['total'], 'new finding')}"
    if alerting:
        text += f" ({', '.join(alerting)})"
    text += f" on {_plural(new['hosts'], 'host')}"
    run = cast(dict[str, Any], payload["run"])
    if run.get("audit"):
        text += f" [{str(run['audit'])[:80]}]"
    return " ".join(text.split())  # header values must be one line


def _body(payload: Mapping[str, object], threshold: str) -> str:
    """The plain-text message: the run, the counts, one block per new finding."""
    run, hosts, new, tool = (
        cast(dict[str, Any], payload[key]) for key in ("run", "hosts", "new_findings", "tool")
    )
    findings = cast(list[dict[str, Any]], payload["findings"])
    counts = ", ".join(f"{n} {s}" for s, n in new["by_severity"].items() if n)
    lines = [
        f"shareaudit found {_plural(new['total'], 'new finding')} ({counts}) "
        f"on {_plural(new['hosts'], 'host')}.",
        f"You get this message because at least one of them is {threshold} or worse.",
        "",
    ]
    if run.get("audit"):
        lines.append(f"Audit:  {run['audit']}")
    when = " to ".join(str(run[key]) for key in ("started_at", "finished_at") if run.get(key))
    if run.get("id") is not None or when:
        lines.append(f"Run:    {run.get('id') if run.get('id') is not None else '-'}, {when or '-'}")
    failed = hosts["failed"]
    lines.append(
        f"Hosts:  {hosts['scanned']} scanned, {failed} failed"
        + (" (a host that failed may hide more findings: see the run's output)" if failed else "")
    )
    lines += [f"Tool:   shareaudit {tool['version']}", "", "New findings, most severe first:", ""]
    for item in findings:
        place = [f"host {item['host']}"]
        if item["share"]:
            place.append(f"share {item['share']}")
        if item["identity"]:
            place.append(f"identity {item['identity']}")
        lines += [
            f"[{str(item['severity']).upper()}] {item['title']}",
            f"    {', '.join(place)}",
            f"    rule {item['rule']}, id {item['id']}",
            "",
        ]
    omitted = payload["findings_omitted"]
    if isinstance(omitted, int) and omitted:
        lines += [f"... and {_plural(omitted, 'more finding')}, listed in the run's report.", ""]
    lines += [
        "Evidence and remediation for each finding are in the run's report on the scanning host;",
        "`shareaudit diff` there shows what changed since the previous run.",
    ]
    return "\n".join(lines) + "\n"


def _message(target: EmailTarget, payload: Mapping[str, object], threshold: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = target.sender
    message["To"] = ", ".join(target.recipients)
    message["Subject"] = _subject(payload, threshold)
    message["Date"] = formatdate(localtime=True)
    # make_msgid would otherwise look up this machine's FQDN; the sender's domain is as good and costs no DNS.
    message["Message-ID"] = make_msgid(domain=target.sender.rpartition("@")[2] or "shareaudit.invalid")
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to a robot
    message.set_content(_body(payload, threshold))
    return message


def _send_mail(target: EmailTarget, payload: Mapping[str, object], threshold: str) -> str | None:
    """Send the summary by SMTP; None when every recipient was accepted."""
    if not target.recipients:
        return "no recipients configured"
    if (target.username is None) != (target.password is None):
        return (
            "a user name needs a password (is the password's environment variable set?)"
            if target.password is None
            else "a password is set but no username"
        )
    credentials = target.username is not None
    if credentials and not target.starttls and not _is_loopback(target.host):
        return "refusing to send the SMTP password without TLS to a host that is not loopback; set starttls"
    try:
        message = _message(target, payload, threshold)
    except (ValueError, TypeError) as exc:  # a sender or recipient with a line break, say
        return f"cannot build the message: {exc}"
    try:
        context = _tls_context(target.ca_file) if target.starttls else None
    except (OSError, ssl.SSLError) as exc:
        return f"cannot load ca_file {target.ca_file}: {_reason(exc, target.timeout)}"
    stage = "connect"
    try:
        smtp = smtplib.SMTP(target.host, target.port, timeout=target.timeout)
    except (OSError, smtplib.SMTPException) as exc:
        return f"cannot connect: {_smtp_reason(exc, target.timeout)}"
    polite = True  # say QUIT only while the connection still speaks SMTP; after a network or TLS error, close
    try:
        if context is not None:
            stage = "STARTTLS"
            smtp.ehlo()
            if not smtp.has_extn("starttls"):
                return (
                    "the server does not offer STARTTLS; nothing was sent "
                    "(set starttls = false only for a trusted relay)"
                )
            smtp.starttls(context=context)
            smtp.ehlo()
        if target.username is not None and target.password is not None:
            stage = "login"
            smtp.login(target.username, target.password.reveal())
        stage = "send"
        refused = smtp.send_message(message)
    except smtplib.SMTPAuthenticationError as exc:
        return f"the server refused the login of {target.username!r} ({_smtp_reason(exc, target.timeout)})"
    except smtplib.SMTPRecipientsRefused as exc:
        return f"every recipient was refused: {_refusals(exc.recipients)}"
    except smtplib.SMTPResponseException as exc:
        return f"{stage} failed: {_smtp_reason(exc, target.timeout)}"
    except (OSError, smtplib.SMTPException) as exc:
        polite = False
        return f"{stage} failed: {_smtp_reason(exc, target.timeout)}"
    finally:
        if polite:
            with suppress(OSError, smtplib.SMTPException):
                smtp.quit()
        smtp.close()
    if refused:
        return f"some recipients were refused: {_refusals(refused)}"
    return None


def _refusals(refused: Mapping[str, tuple[int, bytes]]) -> str:
    return "; ".join(
        f"{rcpt} ({code} {answer.decode('utf-8', 'replace')})" for rcpt, (code, answer) in refused.items()
    )


def _smtp_reason(exc: BaseException, timeout: float) -> str:
    """An SMTP server's answer as 'code text', or what the network said."""
    if isinstance(exc, smtplib.SMTPResponseException):
        answer = exc.smtp_error
        text = answer.decode("utf-8", "replace") if isinstance(answer, bytes) else str(answer)
        return f"{exc.smtp_code} {text}"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return f"the server closed the connection ({exc})" if str(exc) else "the server closed the connection"
    if isinstance(exc, smtplib.SMTPException):
        return str(exc) or type(exc).__name__
    return _reason(exc, timeout)
