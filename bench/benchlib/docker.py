"""`docker run --rm IMG true` per runtime, through a private dockerd: its
own socket, data root, exec root (hence its own containerd) and
configuration file, so the bench neither touches /etc/docker/daemon.json
nor disturbs a dockerd that someone else runs on the machine."""

import json
import os
import subprocess
import time

IMAGE = "sandbox-bench:busybox"


class DockerError(Exception):
    pass


class Dockerd:
    def __init__(self, work, runtimes, busybox_tar):
        self.dir = os.path.join(work, "docker")
        os.makedirs(self.dir, exist_ok=True)
        self.sock = os.path.join(self.dir, "docker.sock")
        self.env = dict(os.environ, DOCKER_HOST="unix://" + self.sock)
        self.runtimes = runtimes
        self.tar = busybox_tar
        self.proc = None

    def __enter__(self):
        cfg = {
            "runtimes": {
                rt.name: {"path": rt.docker[0], "runtimeArgs": rt.docker[1]}
                for rt in self.runtimes
                if rt.name != "runc"  # built in
            }
        }
        cfg_path = os.path.join(self.dir, "daemon.json")
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
        self.log = os.path.join(self.dir, "dockerd.log")
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(
                [
                    "dockerd",
                    "--config-file", cfg_path,
                    "--host", "unix://" + self.sock,
                    "--data-root", os.path.join(self.dir, "data"),
                    "--exec-root", os.path.join(self.dir, "exec"),
                    "--pidfile", os.path.join(self.dir, "docker.pid"),
                    "--iptables=false", "--ip-masq=false", "--bridge=none",
                ],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            )
        deadline = time.monotonic() + 60
        while self.docker("info", check=False, timeout=10).returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise DockerError(f"dockerd did not come up (log: {self.log})")
            time.sleep(0.5)
        self.docker("import", self.tar, IMAGE, timeout=120)
        return self

    def __exit__(self, *exc):
        if self.proc is None:
            return
        self.docker("rmi", "-f", IMAGE, check=False, timeout=60)
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def docker(self, *args, check=True, timeout=60):
        try:
            r = subprocess.run(
                ["docker", *args], env=self.env, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
            )
        except subprocess.TimeoutExpired as e:
            raise DockerError(f"docker {' '.join(args)}: no answer in {timeout} s") from e
        if check and r.returncode != 0:
            raise DockerError(
                f"docker {' '.join(args)} exited {r.returncode}: {r.stderr.decode().strip()[-300:]}"
            )
        return r

    def run_true(self, runtime):
        """Milliseconds of `docker run --rm --network=none --runtime=R IMG true`."""
        t0 = time.monotonic()
        self.docker("run", "--rm", "--network=none", f"--runtime={runtime}", IMAGE, "true", timeout=120)
        return (time.monotonic() - t0) * 1e3
