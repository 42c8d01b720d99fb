"""The deployment artifacts: deploy/compose.yaml against the Compose Specification's JSON schema,
the image's entrypoint run for real (migrate, serve, refusals), the Dockerfile's sources, and the
systemd units through ``systemd-analyze verify``."""

import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml

from services import SERVICES
from sifang.platform import LocalNats, free_port

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SPEC_WHEEL = ROOT / ".venv/compose-spec/docker_compose-1.29.2-py2.py3-none-any.whl"


def compose_schema() -> dict[str, Any]:
    if not SPEC_WHEEL.exists():
        pytest.fail(
            f"{SPEC_WHEEL} is missing: make install downloads it (pip download docker-compose==1.29.2)"
        )
    with zipfile.ZipFile(SPEC_WHEEL) as wheel:
        schema: dict[str, Any] = json.loads(wheel.read("compose/config/compose_spec.json"))
    return schema


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    document = compose()
    validator = jsonschema.Draft201909Validator(compose_schema())  # what the schema's $schema names
    validator.validate(document)
    # and the schema does refuse what is wrong, so the check above means something
    broken = json.loads(json.dumps(document))
    broken["services"]["coordinator"]["depends_on"]["migrate"]["condition"] = "when_it_feels_like_it"
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(broken)


def test_compose_runs_every_service_on_the_cluster_after_migration_and_provisioning() -> None:
    services = compose()["services"]
    assert {"db", "migrate", "provision", "sifang-nats-1", "sifang-nats-2", "sifang-nats-3"} <= set(services)
    for name in SERVICES:
        service = services[name]
        assert service["environment"]["SIFANG_SERVICE"] == name
        assert service["environment"][f"{name.upper()}_NATS_USER"] == name
        assert service["environment"]["SIFANG_STREAM_REPLICAS"] == "3"
        assert len(service["environment"]["NATS_URL"].split(",")) == 3
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert service["ports"][0].startswith("127.0.0.1:")  # behind a proxy, never open
    assert services["migrate"]["environment"]["SIFANG_COMMAND"] == "migrate"
    for node in (1, 2, 3):
        mounts = services[f"sifang-nats-{node}"]["volumes"]
        for mount in mounts:
            source = mount.split(":")[0]
            if source.startswith("./"):
                assert (DEPLOY / source).exists(), mount
    # every variable the file reads is in the secrets template
    used = set(re.findall(r"\$\{([A-Z_]+)", (DEPLOY / "compose.yaml").read_text()))
    template = {
        line.split("=")[0]
        for line in (DEPLOY / "secrets.env.example").read_text().splitlines()
        if "=" in line
    }
    assert used <= template, used - template


def test_dockerfile_copies_what_exists() -> None:
    text = (ROOT / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (?!--from)(?:--\S+ )*(.+) \S+$", text, re.M):
        for path in source.split():
            assert (ROOT / path).exists(), f"Dockerfile copies {path}, which is not in the repository"
    assert "USER sifang" in text and "HEALTHCHECK" in text
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored


def _entrypoint(env: dict[str, str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """The image's entrypoint, with this virtual environment first on PATH (the image's is /opt/sifang)."""
    path = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    return subprocess.Popen(
        [str(DEPLOY / "entrypoint.sh")], env=os.environ | env | {"PATH": path}, cwd=ROOT, **kwargs
    )


def test_the_entrypoint_migrates_serves_and_refuses_unknown_services(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    databases = {f"{s.upper()}_DATABASE_URL": f"sqlite:///{tmp_path / s}.db" for s in SERVICES}
    base = databases | {"NATS_URL": nats_server.url, "SIFANG_ADMIN_TOKEN": "entrypoint-token-0123456789"}
    migrated = _entrypoint(base | {"SIFANG_COMMAND": "migrate"}, stdout=subprocess.PIPE)
    out, _ = migrated.communicate(timeout=120)
    assert migrated.returncode == 0
    assert all(f"migrated {service}" in out.decode() for service in SERVICES)

    for env in ({"SIFANG_SERVICE": "billing"}, {"SIFANG_COMMAND": "shell", "SIFANG_SERVICE": "ngo"}):
        refused = _entrypoint(base | env, stderr=subprocess.PIPE)
        _, err = refused.communicate(timeout=30)
        assert refused.returncode == 64 and b"must be" in err

    port = free_port()
    served = _entrypoint(base | {"SIFANG_SERVICE": "community", "PORT": str(port)})
    try:
        deadline = time.monotonic() + 60
        while True:
            assert served.poll() is None, "the community service exited"
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                if health.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert health.json()["service"] == "community"
    finally:
        served.terminate()
        served.wait(30)
    # SIGTERM: a graceful stop within the wait; uvicorn exits 0 or re-raises the signal it handled
    assert served.returncode in (0, -15)


def test_systemd_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is missing: apt-get install -y systemd")
    units = tmp_path / "etc/systemd/system"
    units.mkdir(parents=True)
    for binary in (
        "opt/sifang/venv/bin/uvicorn",
        "opt/sifang/venv/bin/python",
        "usr/local/bin/nats-server",
        "bin/kill",
    ):
        (tmp_path / binary).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / binary).write_text("#!/bin/sh\n")
        (tmp_path / binary).chmod(0o755)
    for unit in (DEPLOY / "systemd").iterdir():
        shutil.copy(unit, units / unit.name)
    shutil.copy(units / "sifang@.service", units / "sifang@community.service")
    shutil.copy(units / "sifang-nats@.service", units / "sifang-nats@1.service")
    checked = ["sifang@community.service", "sifang-migrate.service", "sifang-nats@1.service"]
    done = subprocess.run(
        [analyze, "verify", f"--root={tmp_path}", *(f"/etc/systemd/system/{u}" for u in checked)],
        capture_output=True,
        text=True,
    )
    problems = [
        line
        for line in (done.stdout + done.stderr).splitlines()
        if line.strip() and "Unit sysinit.target not found" not in line  # not in a bare root
    ]
    assert problems == []
    # and verify does catch a broken unit in this root
    (units / "broken.service").write_text("[Service]\nExecStart=/opt/sifang/venv/bin/uvicorn\nExecStrat=x\n")
    broken = subprocess.run(
        [analyze, "verify", f"--root={tmp_path}", "/etc/systemd/system/broken.service"],
        capture_output=True,
        text=True,
    )
    assert "Unknown key" in broken.stdout + broken.stderr
