"""The one Dockerfile of the Python services, read instruction by instruction (no Docker
engine here), and its launcher, which maps the SERVICE build argument to a service."""

import importlib.util
import re
import tomllib

import pytest
from deploy_files import DEPLOY, ROOT, SERVICES

DOCKERFILE = DEPLOY / "Dockerfile"
_spec = importlib.util.spec_from_file_location("launch", DEPLOY / "image" / "launch.py")
launch = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(launch)


def instructions(path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", path.read_text())
    return [(line.split(maxsplit=1)[0].upper(), line.split(maxsplit=1)[1].strip())
            for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


STEPS = instructions(DOCKERFILE)
FINAL = STEPS[max(i for i, (kind, _) in enumerate(STEPS) if kind == "FROM"):]


def test_one_dockerfile_serves_every_python_service():
    assert not list(ROOT.glob("services/*/Dockerfile")), "per-service Dockerfiles are replaced by deploy/Dockerfile"
    packaged = {path.parent.name for path in ROOT.glob("services/*/pyproject.toml")}
    assert packaged <= set(launch.SERVICES), "every service can be built from the one Dockerfile"
    assert set(SERVICES) <= set(launch.SERVICES)


def test_the_image_is_multi_stage_pinned_unprivileged_and_checks_its_health():
    [(_, base)] = [s for s in STEPS if s[0] == "ARG" and s[1].startswith("PYTHON_IMAGE=")]
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11\.\d+-slim-\w+", base), "base pinned to a patch release"
    assert [argument for kind, argument in STEPS if kind == "FROM"] == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE}"]
    [user] = [argument for kind, argument in FINAL if kind == "USER"]
    assert re.fullmatch(r"[1-9]\d{3,}:[1-9]\d{3,}", user), "numeric non-root user (runAsNonRoot can verify it)"
    assert ("ARG", "SERVICE") in FINAL
    env = " ".join(argument for kind, argument in FINAL if kind == "ENV")
    assert "CC_SERVICE=${SERVICE}" in env
    [health] = [argument for kind, argument in FINAL if kind == "HEALTHCHECK"]
    assert health.endswith('CMD ["python", "/app/launch.py", "--healthcheck"]')
    assert ("ENTRYPOINT", '["python", "/app/launch.py"]') in FINAL
    assert ("COPY", "--from=build /app/launch.py /app/launch.py") in FINAL
    assert not [argument for kind, argument in FINAL if kind in {"RUN", "COPY"} and "pip install" in argument]


def test_the_build_installs_the_chosen_service_under_the_constraints():
    build = STEPS[:STEPS.index(FINAL[0])]
    assert ("ARG", "SERVICE") in build
    # The service is checked before anything is installed: a wrong name fails the build at once.
    check = build.index(("RUN", 'CC_SERVICE="${SERVICE}" python /app/launch.py --check'))
    [install] = [i for i, (kind, argument) in enumerate(build) if kind == "RUN" and "pip install" in argument]
    assert check < install
    assert build[install][1].split()[1:] == ["install", "-c", "/src/constraints.txt", "/src/libs/collections-core",
                                             "/src/services/${SERVICE}"]
    copies = [argument.split() for kind, argument in build if kind == "COPY"]
    assert ["services/${SERVICE}", "/src/services/${SERVICE}"] in copies
    for source, _ in copies:
        assert (ROOT / source.replace("${SERVICE}", "agency-gateway")).exists(), source
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignored[1:4] == ["*", "!constraints.txt", "!deploy/image/launch.py"], \
        "the build context holds only what the images install"


@pytest.mark.parametrize("service", sorted(launch.SERVICES))
def test_the_launcher_runs_the_services_own_entry_point(service):
    module, prefix, port = launch.SERVICES[service]
    pyproject = ROOT / "services" / service / "pyproject.toml"
    if service in SERVICES:
        assert SERVICES[service] == (module, prefix, port)
    if pyproject.exists():  # the console is built on its own branch until it is merged
        scripts = tomllib.loads(pyproject.read_text())["project"]["scripts"]
        assert f"{module}:run" in scripts.values()
    assert launch.healthz_url(launch.built_for({"CC_SERVICE": service}), {}) == f"http://127.0.0.1:{port}/healthz"
    assert launch.healthz_url(launch.SERVICES[service], {f"{prefix}_HTTP_PORT": "9000"}) == \
        "http://127.0.0.1:9000/healthz"


def test_the_launcher_listens_on_every_interface_unless_told_otherwise(monkeypatch):
    ran = []
    monkeypatch.setattr(launch.importlib, "import_module", lambda name: type("M", (), {"run": lambda: ran.append(name)}))
    environ = {"CC_SERVICE": "notifier"}
    launch.main([], environ)
    assert ran == ["notifier.main"] and environ["NOTIFIER_HTTP_HOST"] == "0.0.0.0"
    pinned = {"CC_SERVICE": "notifier", "NOTIFIER_HTTP_HOST": "10.0.0.7"}
    launch.main([], pinned)
    assert pinned["NOTIFIER_HTTP_HOST"] == "10.0.0.7"


@pytest.mark.parametrize("name", ["", "billing", "services/notifier"])
def test_the_launcher_refuses_a_service_it_does_not_know(name):
    with pytest.raises(SystemExit, match="is not one of"):
        launch.main(["--check"], {"CC_SERVICE": name})
