"""The docker files cannot be run here (no engine): check that they are correct by construction."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from labdata import PERSONALITIES

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    return data


def _copied_sources(dockerfile: Path) -> list[str]:
    sources = []
    for line in dockerfile.read_text().splitlines():
        if line.startswith("COPY "):
            sources.extend(line.split()[1:-1])
    return sources


def test_every_file_the_compose_file_references_exists() -> None:
    for name, service in _compose()["services"].items():
        build = service["build"]
        context = (DOCKER / build["context"]).resolve()
        assert context.is_dir(), name
        dockerfile = context / build["dockerfile"]
        assert dockerfile.is_file(), f"{name}: {dockerfile}"
        for source in _copied_sources(dockerfile):
            assert (context / source).exists(), f"{dockerfile.name} copies missing {source}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                path = (DOCKER / source).resolve()
                assert path.exists() or path.name == "demo-output", f"{name}: volume {source}"


def test_lab_services_are_the_lab_personalities_on_their_addresses() -> None:
    services = _compose()["services"]
    for personality in PERSONALITIES:
        service = services[personality.name]
        assert service["command"] == [personality.name]
        assert service["ports"] == [f"{personality.address}:445:445"]
        assert service["volumes"] == ["../tests/lab:/lab:ro"]
    entrypoint = (DOCKER / "lab.Dockerfile").read_text()
    assert 'ENTRYPOINT ["python3", "/lab/lab.py", "serve"]' in entrypoint
    lab_script = (ROOT / "tests" / "lab" / "lab.py").read_text()
    assert re.search(r'sub\.add_parser\("serve"', lab_script)


def test_tool_image_runs_the_console_script() -> None:
    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["shareaudit"]' in dockerfile
    assert 'shareaudit = "shareaudit.cli:main"' in (ROOT / "pyproject.toml").read_text()
