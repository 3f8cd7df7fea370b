"""The benchmark's own lab: Docker containers with systemd as PID 1 and sshd, like molecule/default.

Containers ``bm-lb1``, ``bm-db1`` and ``bm-app1``... on the network
``zerodowntime-bench``; the balancer's port 80 is published on
127.0.0.1:8099, and each container's port 22 on 127.0.0.1 (ssh_port()), so
that Ansible reaches the hosts over SSH as users reach their VMs (the
image and its key from scripts/build-ssh-image.sh). Created with the docker
Python library (pinned in requirements-dev.txt), with the flags of
molecule/default/molecule.yml: SYS_ADMIN, the host's cgroup namespace,
/sys/fs/cgroup mounted, tmpfs on /run, /run/lock and /tmp, seccomp off;
never privileged. Every container carries the label ``zerodowntime.bench=1``
and only those are removed.
"""

from __future__ import annotations

import concurrent.futures
import pathlib
import time

import docker
import docker.errors

IMAGE = "zerodowntime/debian-ssh:bookworm"
# The lab's key and known_hosts, written by scripts/build-ssh-image.sh.
SSH_DIR = pathlib.Path(__file__).resolve().parents[1] / "build" / "lab-ssh"
NETWORK = "zerodowntime-bench"
PREFIX = "bm-"
BALANCER = "bm-lb1"
DB = "bm-db1"
PUBLISHED = ("127.0.0.1", 8099)
LABEL = {"zerodowntime.bench": "1"}


def app_name(i: int) -> str:
    """Container (and inventory, and HAProxy server) name of app host ``i`` (1-based)."""
    return f"{PREFIX}app{i}"


def ssh_port(name: str) -> int:
    """Port on 127.0.0.1 that container ``name``'s sshd is published on:
    2301 for the balancer, 2302 for the database, 2310 + i for app host i."""
    if name == BALANCER:
        return 2301
    if name == DB:
        return 2302
    return 2310 + int(name[len(PREFIX) + len("app"):])


class Lab:
    """Create, inspect and remove the benchmark's containers."""

    def __init__(self) -> None:
        self.client = docker.from_env(timeout=120)

    def ensure_network(self) -> None:
        """Create the lab's bridge network unless it exists."""
        if not self.client.networks.list(names=[NETWORK]):
            self.client.networks.create(NETWORK, driver="bridge", labels=LABEL)

    def _create(self, name: str, publish: bool = False):
        try:
            container = self.client.containers.get(name)
            if container.labels.get("zerodowntime.bench") != "1":
                raise RuntimeError(f"container {name} exists and is not the benchmark's; not touching it")
            if IMAGE in container.image.tags:
                if container.status != "running":
                    container.start()
                return container
            # Made from another image (the lab before it had sshd): made again.
            container.remove(force=True)
        except docker.errors.NotFound:
            pass
        return self.client.containers.run(
            IMAGE,
            command="/lib/systemd/systemd",
            name=name,
            hostname=name,
            detach=True,
            labels=LABEL,
            cap_add=["SYS_ADMIN"],
            cgroupns="host",
            volumes={"/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "rw"},
                     str(SSH_DIR / "authorized_keys.d"): {"bind": "/etc/ssh/lab_authorized_keys", "mode": "ro"}},
            tmpfs={"/run": "", "/run/lock": "", "/tmp": ""},
            security_opt=["seccomp=unconfined"],
            network=NETWORK,
            ports={"22/tcp": ("127.0.0.1", ssh_port(name)), **({"80/tcp": PUBLISHED} if publish else {})},
        )

    def wait_systemd(self, name: str, timeout: float = 120.0) -> None:
        """Wait until systemd in ``name`` has finished booting (running or degraded)."""
        container = self.client.containers.get(name)
        deadline = time.monotonic() + timeout
        while True:
            code, out = container.exec_run(["systemctl", "is-system-running"])
            state = out.decode().strip()
            if state in ("running", "degraded"):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"systemd in {name} is '{state}' after {timeout:.0f} s")
            time.sleep(0.5)

    def up(self, apps: int) -> list[str]:
        """Make sure the balancer, the database and app hosts 1..apps run; return the new names."""
        self.ensure_network()
        wanted = [BALANCER, DB] + [app_name(i) for i in range(1, apps + 1)]
        existing = {c.name for c in self.client.containers.list(all=True, filters={"label": "zerodowntime.bench=1"})}
        new = [n for n in wanted if n not in existing]
        for name in wanted:
            self._create(name, publish=(name == BALANCER))
        with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
            list(pool.map(self.wait_systemd, wanted))
        return new

    def ip(self, name: str) -> str:
        """The container's address on the lab network (reachable from the controller)."""
        container = self.client.containers.get(name)
        return container.attrs["NetworkSettings"]["Networks"][NETWORK]["IPAddress"]

    def exec(self, name: str, argv: list[str]) -> tuple[int, str]:
        """Run ``argv`` in container ``name``; return (exit code, output)."""
        code, out = self.client.containers.get(name).exec_run(argv)
        return code, out.decode(errors="replace")

    def put_file(self, name: str, path: str, data: bytes, mode: int = 0o755) -> None:
        """Write ``data`` to ``path`` (in an existing directory) inside container ``name``."""
        import io
        import tarfile

        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(path.rsplit("/", 1)[-1])
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            tar.addfile(info, io.BytesIO(data))
        self.client.containers.get(name).put_archive(path.rsplit("/", 1)[0] or "/", buf.getvalue())

    def others_running(self) -> list[str]:
        """Names of running containers that are not the benchmark's (other labs on this machine)."""
        return sorted(c.name for c in self.client.containers.list() if c.labels.get("zerodowntime.bench") != "1")

    def down(self) -> None:
        """Remove the benchmark's containers and network, nothing else."""
        for container in self.client.containers.list(all=True, filters={"label": "zerodowntime.bench=1"}):
            if container.name.startswith(PREFIX):
                container.remove(force=True)
        for network in self.client.networks.list(names=[NETWORK]):
            if network.attrs.get("Labels", {}).get("zerodowntime.bench") == "1":
                network.remove()
