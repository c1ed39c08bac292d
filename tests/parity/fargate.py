"""Fargate's task storage, as the parity test reproduces it for each container it runs.

What Fargate does (platform version 1.4.0 and later), and where it is written:

- AWS docs, "Use bind mounts with Amazon ECS"
  (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/bind-mounts.html): a task volume
  without ``host`` (or EFS/FSx/Docker configuration) is a bind mount on the task's ephemeral
  storage, empty when the task starts. Its directory is owned by root with mode 0755 ("By default,
  the volume permissions are set to 0755 and the owner as root"), unless the image declares a
  ``VOLUME`` at the mount point's ``containerPath``: then the data in the image's directory is copied
  into the volume, and the permissions set in the Dockerfile (owner, mode) are the volume's.
- ``readonlyRootFilesystem`` (ECS API reference, ContainerDefinition): the container's root
  filesystem is read-only; only its mount points can be written.
- ``user`` (ContainerDefinition): the uid:gid the command runs as.

So a non-root container on a read-only root can write to a mounted path only if the image declares
that path a ``VOLUME`` whose directory that user may write. This module derives every mount from the
evaluated task definition (``volumes`` + the container's ``mountPoints``) and from the image's
config (its declared ``Volumes``), never from a hand-kept list, and prepares each one on the host
as Fargate would: a fresh root-owned 0755 directory, or a copy of the image's directory.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

# Volume settings that make a volume something other than a task-storage bind mount: not modelled.
NOT_BIND_MOUNT = ("host", "dockerVolumeConfiguration", "efsVolumeConfiguration",
                  "fsxWindowsFileServerVolumeConfiguration", "configuredAtLaunch")
EMPTY_VOLUME_OWNER = (0, 0)  # "the owner as root"
EMPTY_VOLUME_MODE = 0o755  # "the volume permissions are set to 0755"


class NotModelled(AssertionError):
    """The task definition asks for storage this model does not reproduce."""


@dataclass(frozen=True)
class TaskMount:
    volume: str  # the task volume's name (sourceVolume)
    path: str  # containerPath, without a trailing slash
    read_only: bool
    from_image: bool  # the image declares a VOLUME here: the volume starts as a copy of that directory


@dataclass(frozen=True)
class TaskStorage:
    """Everything about one container's filesystem that Fargate decides."""

    mounts: tuple[TaskMount, ...]
    # The ECS docs describe only a VOLUME that a mount point names; the model keeps any other part
    # of the (read-only) root, the stricter reading.
    image_volumes: frozenset[str]
    read_only_root: bool


def task_storage(volumes: Iterable[Mapping], container: Mapping, image_config: Mapping) -> TaskStorage:
    """The storage Fargate gives ``container`` in a task with ``volumes``, running ``image_config``."""
    image_volumes = declared_volumes(image_config)
    return TaskStorage(mounts=tuple(task_mounts(volumes, container, image_volumes)),
                       image_volumes=frozenset(image_volumes),
                       read_only_root=bool(container.get("readonlyRootFilesystem")))


def declared_volumes(image_config: Mapping) -> set[str]:
    """Paths the image declares with ``VOLUME`` (its OCI config's ``Volumes``)."""
    return {path.rstrip("/") or "/" for path in (image_config.get("Volumes") or {})}


def task_mounts(volumes: Iterable[Mapping], container: Mapping, image_volumes: set[str]) -> list[TaskMount]:
    """The mounts Fargate gives ``container`` (a container definition) from the task's ``volumes``."""
    by_name = {volume["name"]: volume for volume in volumes}
    mounts = []
    for point in container.get("mountPoints") or []:
        volume = by_name.get(point["sourceVolume"])
        if volume is None:  # RegisterTaskDefinition refuses this; say so rather than guess
            raise NotModelled(f"container {container['name']}: mount point {point['containerPath']} names volume "
                              f"{point['sourceVolume']!r}, which the task definition does not declare")
        other = [key for key in NOT_BIND_MOUNT if volume.get(key)]
        if other:
            raise NotModelled(f"volume {volume['name']}: {other} is not modelled; teach tests/parity/fargate.py")
        path = point["containerPath"].rstrip("/")
        mounts.append(TaskMount(volume=volume["name"], path=path, read_only=bool(point.get("readOnly")),
                                from_image=path in image_volumes))
    return mounts


def prepare(mount: TaskMount, rootfs: Path, directory: Path) -> Path:
    """Create the volume's directory on the host, as Fargate creates it when the task starts."""
    directory.mkdir(parents=True)
    image_directory = rootfs / mount.path.lstrip("/")
    if mount.from_image and image_directory.is_dir():
        # cp -a keeps owners, modes and links of the contents; the directory itself takes the
        # image directory's owner and mode.
        subprocess.run(["cp", "-a", f"{image_directory}/.", str(directory)], check=True)
        stat = image_directory.stat()
        os.chown(directory, stat.st_uid, stat.st_gid)
        os.chmod(directory, stat.st_mode & 0o7777)
    else:
        os.chown(directory, *EMPTY_VOLUME_OWNER)
        os.chmod(directory, EMPTY_VOLUME_MODE)
    return directory
