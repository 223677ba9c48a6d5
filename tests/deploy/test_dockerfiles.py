"""Each service's Dockerfile, read instruction by instruction (no Docker engine here)."""

import re
import tomllib

import pytest
from deploy_files import ROOT, SERVICES


def instructions(path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", path.read_text())
    return [(line.split(maxsplit=1)[0].upper(), line.split(maxsplit=1)[1].strip())
            for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


@pytest.mark.parametrize("service", SERVICES)
def test_the_image_is_multi_stage_pinned_unprivileged_and_checks_its_health(service):
    _, prefix, port = SERVICES[service]
    steps = instructions(ROOT / "services" / service / "Dockerfile")
    [(_, base)] = [s for s in steps if s[0] == "ARG" and s[1].startswith("PYTHON_IMAGE=")]
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11\.\d+-slim-\w+", base), "base pinned to a patch release"
    stages = [argument for kind, argument in steps if kind == "FROM"]
    assert stages == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE}"]
    final = steps[max(i for i, (kind, _) in enumerate(steps) if kind == "FROM"):]
    [user] = [argument for kind, argument in final if kind == "USER"]
    assert re.fullmatch(r"[1-9]\d{3,}:[1-9]\d{3,}", user), "numeric non-root user (runAsNonRoot can verify it)"
    assert ("EXPOSE", str(port)) in final
    env = " ".join(argument for kind, argument in final if kind == "ENV")
    assert f"{prefix}_HTTP_HOST=0.0.0.0" in env and f"{prefix}_HTTP_PORT={port}" in env
    [health] = [argument for kind, argument in final if kind == "HEALTHCHECK"]
    assert f"127.0.0.1:{port}/healthz" in health
    [entrypoint] = [argument for kind, argument in final if kind == "ENTRYPOINT"]
    scripts = tomllib.loads((ROOT / "services" / service / "pyproject.toml").read_text())["project"]["scripts"]
    assert entrypoint == f'["{service}"]' and service in scripts
    assert not [argument for kind, argument in final if kind in {"RUN", "COPY"} and "pip install" in argument]


@pytest.mark.parametrize("service", SERVICES)
def test_the_build_installs_the_repository_packages_under_the_constraints(service):
    steps = instructions(ROOT / "services" / service / "Dockerfile")
    copies = [argument.split() for kind, argument in steps if kind == "COPY" and not argument.startswith("--from")]
    for source, _ in copies:
        assert (ROOT / source).exists(), source
    [install] = [argument for kind, argument in steps if kind == "RUN" and "pip install" in argument]
    assert install.split()[1:] == ["install", "-c", "/src/constraints.txt", "/src/libs/collections-core",
                                   f"/src/services/{service}"]
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignored[1:3] == ["*", "!constraints.txt"], "the build context holds only what the images install"
