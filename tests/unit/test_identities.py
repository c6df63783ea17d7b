"""Secrets never print themselves; passwords come from the environment, a private file or a prompt."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from shareaudit.errors import InputError
from shareaudit.plan.identities import (
    Identity,
    IdentityKind,
    Secret,
    audit_identity,
    env_name_for,
    split_account,
)


def test_secret_never_shows_its_value() -> None:
    secret = Secret("Hunter2!")
    identity = Identity("audit", IdentityKind.USER, "labaudit", "LAB", secret)
    for text in (repr(secret), str(secret), f"{secret}", repr(identity), str(identity)):
        assert "Hunter2!" not in text
    assert secret.reveal() == "Hunter2!"
    assert pickle.loads(pickle.dumps(secret)).reveal() == "Hunter2!"


def test_split_account() -> None:
    assert split_account("LAB\\svc-scan") == ("LAB", "svc-scan")
    assert split_account("svc-scan@lab.test") == ("lab.test", "svc-scan")
    assert split_account("svc-scan") == ("", "svc-scan")
    with pytest.raises(InputError):
        split_account("LAB\\")


def test_env_name_for_label() -> None:
    assert env_name_for("printer") == "SHAREAUDIT_PASSWORD_PRINTER"
    assert env_name_for("mfp-2f.ward") == "SHAREAUDIT_PASSWORD_MFP_2F_WARD"


def test_audit_identity_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHAREAUDIT_PASSWORD", raising=False)
    assert audit_identity(None, "", None, None) is None
    with pytest.raises(InputError, match="no password for LAB\\\\labaudit"):
        audit_identity("LAB\\labaudit", "", None, None)
    prompted = audit_identity("labaudit", "LAB", None, lambda label: "from-prompt")
    assert prompted is not None and prompted.secret.reveal() == "from-prompt" and prompted.domain == "LAB"
    monkeypatch.setenv("SHAREAUDIT_PASSWORD", "from-env")
    from_env = audit_identity("labaudit", "", None, None)
    assert from_env is not None and from_env.secret.reveal() == "from-env"
    secret_file = tmp_path / "pw"
    secret_file.write_text("from-file\nignored\n")
    secret_file.chmod(0o600)
    from_file = audit_identity("labaudit", "", secret_file, None)
    assert from_file is not None and from_file.secret.reveal() == "from-file"
    secret_file.chmod(0o640)
    with pytest.raises(InputError, match="readable by group or others"):
        audit_identity("labaudit", "", secret_file, None)
    with pytest.raises(InputError, match="--password-file needs -u"):
        audit_identity(None, "", secret_file, None)
