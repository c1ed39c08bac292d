"""Fargate's storage, as the parity test reproduces it (tests/parity/fargate.py), and what it means
for the stack and the image: every path a container may write works as the task definition's user."""

from __future__ import annotations

import os
import stat

import pytest

from tests.parity import fargate, processes
from tests.parity.stack import process_definitions, task_volumes

TMP = {"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False}


def container(*mount_points: dict) -> dict:
    return {"name": "web", "readonlyRootFilesystem": True, "mountPoints": list(mount_points)}


def test_a_volume_the_image_does_not_declare_is_a_fresh_root_owned_0755_directory(tmp_path):
    rootfs = tmp_path / "rootfs"
    (rootfs / "tmp").mkdir(parents=True)
    (rootfs / "tmp" / "from-image").write_text("never copied")
    os.chmod(rootfs / "tmp", 0o1777)
    [mount] = fargate.task_mounts([{"name": "tmp"}], container(TMP), image_volumes=set())
    made = fargate.prepare(mount, rootfs, tmp_path / "volume")
    info = made.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (0, 0, 0o755)
    assert list(made.iterdir()) == []


def test_a_volume_at_a_declared_VOLUME_starts_as_a_copy_of_the_image_directory(tmp_path):
    rootfs = tmp_path / "rootfs"
    (rootfs / "tmp").mkdir(parents=True)
    (rootfs / "tmp" / "seed").write_text("from the image")
    os.chown(rootfs / "tmp", 10001, 10001)
    os.chmod(rootfs / "tmp", 0o700)
    volumes = fargate.declared_volumes({"Volumes": {"/tmp/": {}}})
    [mount] = fargate.task_mounts([{"name": "tmp"}], container(TMP), volumes)
    made = fargate.prepare(mount, rootfs, tmp_path / "volume")
    info = made.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (10001, 10001, 0o700)
    assert (made / "seed").read_text() == "from the image"


@pytest.mark.parametrize("volume", [
    {"name": "tmp", "efsVolumeConfiguration": {"fileSystemId": "fs-1"}},
    {"name": "tmp", "host": {"sourcePath": "/data"}},
])
def test_storage_the_model_does_not_reproduce_fails_naming_the_volume(volume):
    with pytest.raises(fargate.NotModelled, match="volume tmp"):
        fargate.task_mounts([volume], container(TMP), set())


def test_a_mount_point_naming_an_undeclared_volume_fails():
    with pytest.raises(fargate.NotModelled, match="'tmp'"):
        fargate.task_mounts([], container(TMP), set())


@pytest.mark.timeout(900, func_only=True)  # the body only: oci.build bounds a cold image build
@pytest.mark.image
def test_every_writable_mount_point_works_as_the_task_user_on_fargate(image, staging, containers, tmp_path):
    """Each process's task definition and the image together: on Fargate's storage, the task user
    can create a file at every writable mount point (the app's /tmp, and with ECS Exec the SSM
    agent's folders), in its HOME and in tempfile's directory, and nowhere on the root filesystem."""
    definitions = process_definitions(staging.container_definitions(), task_volumes(staging))
    probe = ("import os, sys, tempfile\n"
             "for path in [*sys.argv[1:], os.path.expanduser('~'), tempfile.gettempdir()]:\n"
             "    tempfile.NamedTemporaryFile(dir=path).close()\n"
             "try:\n"
             "    open('/srv/app/written', 'w')\n"
             "except OSError as error:\n"
             "    print('root:', error.strerror)\n")
    seen = set()
    for name, definition in definitions.items():
        key = (definition.user, repr(definition.volumes), repr(definition.extra.get("mountPoints")))
        if key in seen:  # the same storage and user as a process already checked
            continue
        seen.add(key)
        writable = [point["containerPath"] for point in definition.extra["mountPoints"] if not point.get("readOnly")]
        assert "/tmp" in writable, f"{name}: /tmp is not a writable mount point"
        run = processes.start(image["tag"], definition, {}, tmp_path, name=f"writable-{name}",
                              command=["python", "-c", probe, *writable])
        containers.append(run)
        status = run.wait(timeout=120)
        assert status == 0, f"{name} as {definition.user} cannot write a mount point:\n{run.output()[-2000:]}"
        assert "root: Read-only file system" in run.stdout(), run.output()[-2000:]
