"""Build the image and run its containers with the repository's oci tool (buildah, no Docker engine).

A container here is what ``oci run IMAGE -e K=V -- COMMAND`` makes: ``buildah from`` the image,
``buildah run --network host --env K=V`` the command, ``buildah rm``. We issue those three
steps through ``oci buildah`` ourselves because ``oci run`` exits 1 without a word when its
first option is ``-e`` (its ``((i++))`` evaluates to 0 under ``set -e``), and because owning the
container name lets a failed test remove it.

``buildah run`` uses chroot isolation: no PID namespace, and it answers SIGTERM by killing its
child, not by forwarding the signal. ECS delivers SIGTERM to the container's first process (with
``initProcessEnabled``, its init forwards it to the command), so ``Container.stop`` signals the
command itself from the host: the shallowest process whose parent already runs inside the
container's chroot (that parent is buildah's exec helper). The command is the Procfile line in
exec form, so that process is gunicorn's or Celery's main process.

Given a ``fargate.TaskStorage``, a container gets Fargate's filesystem (see tests/parity/fargate.py):
each mount point a bind of a directory prepared as Fargate prepares the task volume, and the root
filesystem read-only. ``buildah run`` has no read-only-root option, so the container's root is
bind-mounted read-only onto itself on the host before the run, after creating the mount points
the runtime needs, as Docker and containerd create them in the container's layer before making the
root read-only. One deviation, for buildah's sake: /run is a copy of the image's /run (root-owned,
0755 in the image) on a separate bind, because buildah deletes its /run/.containerenv after the
command and panics, losing the exit status, when it cannot. The app's user cannot write there
either, so the app sees no difference.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.parity import fargate

# Separate mounts in any container, and what buildah itself writes into a container before the
# command starts: never counted as writes to the root filesystem.
OWN_MOUNTS = ("/dev/", "/proc/", "/sys/")
BUILDAH_OWN_FILES = ("/etc/hosts", "/etc/resolv.conf", "/etc/hostname", "/run/.containerenv")
REPO_ROOT = Path(__file__).resolve().parents[2]
# The tool lives beside the repository (../shared/tools/oci); KEEL_OCI points elsewhere.
OCI = Path(os.environ.get("KEEL_OCI") or REPO_ROOT.parent / "shared" / "tools" / "oci")


def unusable_reason() -> str | None:
    """Why images cannot be built here (None when buildah runs)."""
    if not OCI.is_file():
        return f"no oci tool at {OCI} (set KEEL_OCI to its path)"
    try:
        # On a machine without buildah the tool installs it (and debootstrap) with apt-get first.
        probe = subprocess.run([str(OCI), "buildah", "version"], capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"buildah cannot run here: {exc}"
    if probe.returncode != 0:
        return f"buildah cannot run here: {(probe.stderr or probe.stdout).strip()[-300:]}"
    return None


def build(tag: str, log_path: Path) -> subprocess.CompletedProcess:
    """``oci build -t TAG .`` from the repository root; its output goes to ``log_path``.
    ``--force-rm``: buildah otherwise keeps a working container for the uv stage (which has no
    instructions of its own) after every build. A cold build on a machine that never built it
    (the base stand-ins, then every layer) took 15 minutes on 2 busy cores: the limit is 30."""
    with log_path.open("w") as log:
        return subprocess.run([str(OCI), "build", "--force-rm", "-t", tag, "."], cwd=REPO_ROOT, stdout=log,
                              stderr=subprocess.STDOUT, timeout=1800)


def size(tag: str) -> str:
    """The image size as buildah reports it, e.g. '260 MB'."""
    return subprocess.run([str(OCI), "size", tag], capture_output=True, text=True, check=True).stdout.strip()


@functools.cache
def image_config(tag: str) -> dict:
    """The OCI image config (User, Env, Cmd, WorkingDir, ExposedPorts...)."""
    out = subprocess.run([str(OCI), "buildah", "inspect", "--type", "image", tag], capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out)["OCIv1"]["config"]


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rpartition(")")[2].split()[1])


def _root(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/root")
    except OSError:
        return None


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


class Container:
    """One container of ``image`` running ``command`` with exactly ``environment`` added to the
    image's own, on the host network (ports land on 127.0.0.1), and its output in a log file."""

    def __init__(self, image: str, name: str, command: Sequence[str], environment: Mapping[str, str],
                 log_dir: Path, user: str | None = None, storage: fargate.TaskStorage | None = None) -> None:
        self.name = name
        self.command = list(command)
        self.log_path = log_dir / f"{name}.log"  # stdout: what CloudWatch would get as log events
        self.err_path = log_dir / f"{name}.stderr.log"
        self.volumes_dir = log_dir / f"{name}.volumes"  # each task volume's directory, by volume name
        self._host_mounts: list[str] = []  # binds this object made on the host, innermost last
        self.removed = False
        self.id = subprocess.run(
            [str(OCI), "buildah", "from", "--pull=never", "--name", f"keel-parity-{name}-{uuid.uuid4().hex[:8]}",
             image], capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        args = [str(OCI), "buildah", "run", "--network", "host"]
        if user:
            args += ["--user", user]  # the task definition's user, as ECS applies it
        if storage is not None:
            try:
                args += self._fargate_filesystem(storage)
            except BaseException:
                self.remove()
                raise
        for key, value in sorted(environment.items()):
            args += ["--env", f"{key}={value}"]
        args += [self.id, "--", *self.command]
        self.started = time.time()
        with self.log_path.open("wb") as out, self.err_path.open("wb") as err:
            self.process = subprocess.Popen(args, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                            start_new_session=True)
        self._first: int | None = None

    def volume(self, name: str) -> Path:
        """The host directory of task volume ``name`` (what the container sees at its mount point)."""
        return self.volumes_dir / name

    def _fargate_filesystem(self, storage: fargate.TaskStorage) -> list[str]:
        """Prepare the task's volumes and (if asked) the read-only root; return buildah's --mount options."""
        # buildah run gives each image VOLUME a writable copy of its own ("builtin volumes"), mounted
        # in an order of its choosing: it may hide the task volume at the same path. Fargate has no
        # such thing, so this container forgets the image's VOLUMEs (the image keeps them).
        for path in sorted(storage.image_volumes):
            subprocess.run([str(OCI), "buildah", "config", "--volume", f"{path}-", self.id], capture_output=True,
                           check=True)
        root = Path(subprocess.run([str(OCI), "buildah", "mount", self.id], capture_output=True, text=True,
                                   check=True).stdout.strip())
        options = []
        for mount in storage.mounts:
            source = fargate.prepare(mount, root, self.volume(mount.volume))
            (root / mount.path.lstrip("/")).mkdir(parents=True, exist_ok=True)  # the runtime's mount point
            options += ["--mount", f"type=bind,source={source},destination={mount.path},"
                                   f"{'ro' if mount.read_only else 'rw'}"]
        if not storage.read_only_root:
            return options
        for path in BUILDAH_OWN_FILES:  # mount points of the files buildah binds in
            (root / path.lstrip("/")).touch(exist_ok=True)
        run = fargate.prepare(fargate.TaskMount("run", "/run", read_only=False, from_image=True), root,
                              self.volumes_dir / ".run")
        self._bind(root, root, "--bind")
        self._bind(root, root, "-o", "remount,bind,ro")
        self._bind(run, root / "run", "--bind")
        return options

    def _bind(self, source: Path, target: Path, *how: str) -> None:
        subprocess.run(["mount", *how, str(source), str(target)], check=True, capture_output=True)
        if how == ("--bind",):
            self._host_mounts.append(str(target))

    # -- state ---------------------------------------------------------------------------
    def stdout(self) -> str:
        return self.log_path.read_text(errors="replace")

    def output(self) -> str:
        """stdout, then stderr (buildah's own messages land there too)."""
        return self.stdout() + self.err_path.read_text(errors="replace")

    def exited(self) -> bool:
        return self.process.poll() is not None

    def first_process(self) -> int | None:
        """PID of the container's command, once it runs: the child of buildah's exec helper,
        which is the first process inside the chroot (signalling the helper would kill, not
        stop, the command)."""
        if self._first is not None and _alive(self._first):
            return self._first
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                parent = _parent(int(entry.name))
                if parent is not None:
                    children.setdefault(parent, []).append(int(entry.name))
        queue = [self.process.pid]
        while queue:  # breadth first: the shallowest process whose parent is inside the chroot too
            pid = queue.pop(0)
            parent = _parent(pid)
            if parent is not None and _root(parent) not in (None, "/") and _alive(pid):
                self._first = pid
                return pid
            queue.extend(sorted(children.get(pid, [])))
        return None

    def running_process(self, timeout: float = 30) -> int:
        """The command's PID, waiting up to ``timeout`` seconds for it to start."""
        deadline = time.monotonic() + timeout
        while (pid := self.first_process()) is None:
            if self.exited() or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: its command is not running; output:\n{self.output()[-2000:]}")
            time.sleep(0.2)
        return pid

    def uid(self) -> int:
        """Real uid of the container's first process, read from the host's /proc."""
        pid = self.running_process()
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Uid:"):
                return int(line.split()[1])
        raise RuntimeError(f"{self.name}: no Uid line for pid {pid}")

    # -- lifecycle -------------------------------------------------------------------------
    def wait(self, timeout: float) -> int:
        """Exit status of the container's command (buildah run passes it through)."""
        return self.process.wait(timeout=timeout)

    def written_paths(self, writable: tuple[str, ...]) -> list[str]:
        """Files the container created or changed outside the ``writable`` folders (each ending in
        "/"): on ECS, with a read-only root filesystem, each would have been an error."""
        root = subprocess.run([str(OCI), "buildah", "mount", self.id], capture_output=True, text=True,
                              check=True).stdout.strip()
        try:
            found = subprocess.run(["find", root, "-xdev", "-newermt", f"@{self.started}", "-not", "-type", "d"],
                                   capture_output=True, text=True).stdout.split()
        finally:
            subprocess.run([str(OCI), "buildah", "umount", self.id], capture_output=True)
        paths = [path[len(root):] for path in found]
        return sorted(path for path in paths
                      if not path.startswith(writable + OWN_MOUNTS) and path not in BUILDAH_OWN_FILES)

    def remove(self) -> None:
        if not self.removed:
            for target in reversed(self._host_mounts):
                subprocess.run(["umount", target], capture_output=True)
            self._host_mounts.clear()
            subprocess.run([str(OCI), "buildah", "rm", self.id], capture_output=True, timeout=300)
            self.removed = True

    def stop(self, limit: float) -> tuple[float, int | None]:
        """SIGTERM to the container's first process, as ECS sends it; SIGKILL after ``limit``
        seconds, as ECS does after stopTimeout. Returns (seconds until the command exited,
        its exit status) -- the status is None when SIGKILL was needed."""
        pid = self.running_process()
        started = time.monotonic()
        os.kill(pid, signal.SIGTERM)
        while _alive(pid) and time.monotonic() - started < limit:
            time.sleep(0.2)
        elapsed = time.monotonic() - started
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
            self.wait(timeout=120)
            return elapsed, None
        return elapsed, self.wait(timeout=120)

    def kill(self) -> None:
        """Cleanup after a failed test: SIGKILL the command and remove the container."""
        pid = self.first_process()
        if pid is not None:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.remove()
