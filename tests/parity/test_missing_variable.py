"""A variable the app needs that the stack does not inject fails the parity test, naming the
variable and the process: shown by breaking the evaluated stack on purpose."""

from __future__ import annotations

import pytest

from tests.parity import processes
from tests.parity.stack import ParityError, check_injected, process_definitions, task_volumes


@pytest.fixture(scope="module")
def definitions(staging):
    return process_definitions(staging.container_definitions(), task_volumes(staging))


@pytest.mark.parametrize(("process", "variable"), [
    ("worker", "CELERY_BROKER_URL"),  # has a default, so only the comparison with web catches it
    ("web", "DJANGO_ALLOWED_HOSTS"),  # required in production
    ("release", "DATABASE_URL"),
    ("beat", "DATABASE_SECRET_ARN"),  # where the RDS-managed password is: without it, no password at all
])
def test_removing_one_variable_from_one_process_fails_naming_both(definitions, process, variable):
    broken = {**definitions, process: definitions[process].without(variable)}
    with pytest.raises(ParityError) as failure:
        check_injected(broken)
    lines = str(failure.value).splitlines()
    assert lines, "no message"
    assert all(f"process {process}:" in line and variable in line for line in lines), lines


@pytest.mark.timeout(900, func_only=True)  # the body only: oci.build bounds a cold image build
@pytest.mark.image
def test_the_image_refuses_a_definition_without_a_required_variable_naming_both(
        image, definitions, staging, local_services, containers, tmp_path):
    # Past the static check on purpose: the app itself must refuse, and the test must say who and what.
    web = definitions["web"].without("DJANGO_ALLOWED_HOSTS")
    environment = processes.environments({"web": web}, staging.secret_values(), local_services)["web"]
    container = processes.start(image["tag"], web, environment, tmp_path)
    containers.append(container)
    with pytest.raises(ParityError) as failure:
        processes.run_to_completion(container, timeout=120)
    message = str(failure.value)
    assert message.startswith("process web:") and "DJANGO_ALLOWED_HOSTS" in message, message
    assert container.process.returncode == 78  # EX_CONFIG: refused before serving, no traceback
