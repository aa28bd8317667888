"""What can be checked of the deployment without a Docker engine."""
import shlex
from pathlib import Path

import yaml

from scripts.server import COMMAND as SERVER_COMMAND

ROOT = Path(__file__).resolve().parents[1]


def without_bind(command):
    command = list(command)
    i = command.index("--bind")
    assert command[i + 1] == "0.0.0.0:8000"
    return command[:i] + command[i + 2:]


def dockerfile_cmd():
    for line in (ROOT / "deploy" / "Dockerfile").read_text().splitlines():
        if line.startswith("CMD "):
            return yaml.safe_load(line[4:])  # the exec form is a JSON array
    raise AssertionError("no CMD in deploy/Dockerfile")


def test_compose_file_names_dockerfile_volume_healthcheck_and_port():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    service = compose["services"]["nn-service"]
    assert service["build"]["dockerfile"] == "deploy/Dockerfile"
    assert (ROOT / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
    volume, mount = service["volumes"][0].split(":")
    assert volume in compose["volumes"] and mount == service["environment"]["NN_MODEL_DIR"]
    assert "/healthz" in " ".join(service["healthcheck"]["test"])
    assert service["ports"][0].endswith(":8000")
    assert service["environment"]["NN_API_TOKEN"] == "${NN_API_TOKEN:-}"  # from the operator's environment


def test_container_runs_the_command_the_integration_tests_run():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert without_bind(compose["services"]["nn-service"]["command"]) == SERVER_COMMAND
    assert without_bind(dockerfile_cmd()) == SERVER_COMMAND


def test_container_runs_as_a_non_root_user():
    lines = (ROOT / "deploy" / "Dockerfile").read_text().splitlines()
    users = [shlex.split(line)[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
