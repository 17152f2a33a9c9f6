"""The bubblewrap command line of a local sandbox, and the checks that it can run here.

Two modes, picked by who runs the server:
- as root: bwrap sets up the namespaces without a user namespace, then ``setpriv`` drops the code to
  an unprivileged host uid of its own (one per live session) with no capabilities. Resource limits
  such as RLIMIT_NPROC then count that uid alone.
- as another user: bwrap makes an unprivileged user namespace (``--unshare-user --disable-userns``);
  the code runs as the server's own uid mapped to ``uid`` inside, and still sees none of its files.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from assistantd.sandbox import MOUNT_POINT

DRIVER_SOURCE = Path(__file__).with_name("driver.py")
FONT_CACHE = "/opt/matplotlib-cache"  # inside the sandbox, read-only; the driver copies it to /tmp
# Environment the code sees; nothing else of the server's environment leaks in.
BASE_ENV = {
    "HOME": "/tmp",
    "USER": "sandbox",
    "LANG": "C.UTF-8",
    "MPLBACKEND": "Agg",
    "MPLCONFIGDIR": "/tmp/.matplotlib",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
}
# Host settings that keep numerical libraries correct on this processor (see OpenBLAS notes).
PASS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "TZ")


@dataclass
class Limits:
    wall_seconds: float = 60.0
    cpu_seconds: int = 60
    memory_bytes: int = 2 << 30
    max_processes: int = 64
    max_output_bytes: int = 100_000
    max_file_bytes: int = 256 << 20
    tmp_bytes: int = 256 << 20
    disk_bytes: int = 1 << 30

    def for_driver(self) -> dict[str, int]:
        return {
            "cpu_seconds": self.cpu_seconds,
            "memory_bytes": self.memory_bytes,
            "max_processes": self.max_processes,
            "max_output_bytes": self.max_output_bytes,
            "max_file_bytes": self.max_file_bytes,
        }


@dataclass
class Runtime:
    """What the sandbox needs from the host: tools on PATH and the Python it runs."""

    python: str
    bwrap: str | None = None
    setpriv: str | None = None
    as_root: bool = False
    python_dirs: list[str] = field(default_factory=list)  # bound read-only at the same paths
    missing_modules: list[str] = field(default_factory=list)
    problem: str | None = None
    font_cache: str | None = None  # matplotlib's font list, built once so sessions need not


def probe(python: str | None) -> Runtime:
    """Find bubblewrap (and setpriv when root) and the Python runtime's directories. Blocking."""
    runtime = Runtime(python=python or sys.executable, as_root=os.geteuid() == 0)
    runtime.bwrap = shutil.which("bwrap")
    runtime.setpriv = shutil.which("setpriv")
    if runtime.bwrap is None:
        runtime.problem = "bubblewrap (`bwrap`) is not installed; install the `bubblewrap` package"
        return runtime
    if runtime.as_root and runtime.setpriv is None:
        runtime.problem = "`setpriv` (util-linux) is not installed; it drops the code to an unprivileged user"
        return runtime
    script = (
        "import sys, json, importlib.util as u; print(json.dumps({'dirs': sorted({sys.prefix, sys.base_prefix, "
        "sys.exec_prefix, sys.base_exec_prefix}), 'missing': [m for m in ('numpy', 'pandas', 'matplotlib') "
        "if u.find_spec(m) is None]}))"
    )
    try:
        found = subprocess.run([runtime.python, "-I", "-c", script], capture_output=True, text=True, timeout=60)
        info = json.loads(found.stdout)
    except (OSError, ValueError, subprocess.TimeoutExpired) as error:
        runtime.problem = f"the sandbox Python `{runtime.python}` cannot run ({error})"
        return runtime
    runtime.python_dirs = [d for d in info["dirs"] if d != "/usr" and not d.startswith("/usr/")]
    runtime.missing_modules = info["missing"]
    return runtime


def build_font_cache(runtime: Runtime, directory: Path) -> None:
    """Let matplotlib scan the fonts once, here, instead of in every new session (~0.5 s each). Blocking."""
    if runtime.problem or "matplotlib" in runtime.missing_modules:
        return
    directory.mkdir(parents=True, exist_ok=True)
    env = {"MPLCONFIGDIR": str(directory), "HOME": str(directory), "PATH": os.environ.get("PATH", "/usr/bin")}
    env.update({name: os.environ[name] for name in PASS_ENV if name in os.environ})
    try:
        subprocess.run([runtime.python, "-I", "-c", "import matplotlib.font_manager"], env=env,
                       capture_output=True, timeout=120, check=True)
    except (OSError, subprocess.SubprocessError):
        return  # sessions build their own, a little slower
    if any(directory.glob("fontlist-*.json")):
        directory.chmod(0o755)
        runtime.font_cache = str(directory)


def system_binds() -> list[str]:
    """Read-only system directories; merged-/usr systems get symlinks, others real binds."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    present = [name for name in ("/etc/ld.so.cache", "/etc/localtime", "/etc/fonts") if os.path.exists(name)]
    args += parent_dirs(present)
    for name in present:
        args += ["--ro-bind", name, name]
    return args


def parent_dirs(paths: list[str]) -> list[str]:
    """Traversable parents for binds outside /usr: bwrap would make them 0700 as root (then the
    unprivileged code could not reach the Python runtime inside them)."""
    args: list[str] = []
    seen: set[str] = set()
    for path in paths:
        for parent in reversed(Path(path).parents):
            name = str(parent)
            if name != "/" and name not in seen:
                seen.add(name)
                args += ["--perms", "0755", "--dir", name]
    return args


def build_argv(runtime: Runtime, limits: Limits, workdir: Path, uid: int) -> list[str]:
    """The full command: bwrap namespaces and mounts, then (as root) setpriv, then the driver."""
    assert runtime.bwrap is not None
    argv = [runtime.bwrap, "--die-with-parent", "--new-session", "--clearenv", "--hostname", "sandbox"]
    argv += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    if not runtime.as_root:
        argv += ["--unshare-user", "--disable-userns", "--uid", str(uid), "--gid", str(uid)]
    # As root, bwrap keeps its capabilities to set up the mounts; setpriv below drops every one of them.
    argv += system_binds()
    argv += ["--proc", "/proc", "--dev", "/dev"]
    argv += ["--perms", "1777", "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp"]
    # multiprocessing's semaphores live in /dev/shm; bounded like /tmp.
    argv += ["--perms", "1777", "--size", str(limits.tmp_bytes), "--tmpfs", "/dev/shm"]
    # The runtime is bound after the private /tmp, so a checkout (and its venv) under /tmp stays visible.
    argv += parent_dirs(runtime.python_dirs)
    for directory in runtime.python_dirs:
        argv += ["--ro-bind", directory, directory]
    if runtime.font_cache:
        argv += [*parent_dirs([FONT_CACHE]), "--ro-bind", runtime.font_cache, FONT_CACHE]
    argv += ["--perms", "0755", "--dir", "/mnt", "--bind", str(workdir), MOUNT_POINT, "--chdir", MOUNT_POINT]
    env = dict(BASE_ENV)
    env["PATH"] = ":".join([str(Path(runtime.python).parent), "/usr/local/bin", "/usr/bin", "/bin"])
    env["SANDBOX_LIMITS"] = json.dumps(limits.for_driver())
    if runtime.font_cache:
        env["SANDBOX_FONT_CACHE"] = FONT_CACHE
    env.update({name: os.environ[name] for name in PASS_ENV if name in os.environ})
    for name, value in env.items():
        argv += ["--setenv", name, value]
    argv.append("--")
    if runtime.as_root:
        assert runtime.setpriv is not None
        argv += [runtime.setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
        argv += ["--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
    argv += [runtime.python, "-I", "-c", DRIVER_SOURCE.read_text()]
    return argv
