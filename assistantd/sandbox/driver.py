"""The Python worker that runs INSIDE the sandbox: a tiny notebook kernel speaking JSON lines.

It is started once per thread session and kept alive between calls, so variables persist. Standard
library only (it must start even where the data stack is missing). Protocol, one JSON object a line:

- start: ``{"ready": true, "missing": [modules of the data stack that cannot be imported]}``
- request: ``{"code": "..."}``
- answer: ``{"stdout", "stderr", "stdout_truncated", "stderr_truncated", "images": [base64 PNG]}``

The protocol runs on private copies of the original stdin/stdout; fd 0 becomes /dev/null and fds 1/2
point at capture files in the sandbox's private /tmp, so prints, C extensions and child processes
all land in the logs and none can corrupt the protocol by accident.
"""

import ast
import base64
import importlib.abc
import importlib.util
import io
import json
import math
import os
import resource
import signal
import sys
import traceback

LIMIT_ENV = "SANDBOX_LIMITS"
CAPTURE_DIR = "/tmp/.kernel"
MAX_IMAGES = 20
DATA_STACK = ("numpy", "pandas", "matplotlib")


def apply_limits(limits):
    """Hard limits the code cannot raise back; CPU is a per-call soft budget set in ``run``."""
    pairs = {
        resource.RLIMIT_AS: limits.get("memory_bytes"),
        resource.RLIMIT_NPROC: limits.get("max_processes"),
        resource.RLIMIT_FSIZE: limits.get("max_file_bytes"),
        resource.RLIMIT_CORE: 0,
    }
    for which, value in pairs.items():
        if value:
            resource.setrlimit(which, (value, value))
        elif value == 0:
            resource.setrlimit(which, (0, 0))
    # A write past RLIMIT_FSIZE then fails with EFBIG instead of killing the kernel, and a cell over
    # its CPU budget is interrupted with an exception instead of killing the kernel and its state.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    signal.signal(signal.SIGXCPU, cpu_exceeded)


class CPUTimeLimitExceeded(BaseException):
    """Like KeyboardInterrupt, a BaseException: ``except Exception`` in the cell does not swallow it."""


def cpu_exceeded(signum, frame):
    raise CPUTimeLimitExceeded("CPU time limit of this call exceeded")


class FigureHook(importlib.abc.MetaPathFinder):
    """Makes ``plt.show()`` hand figures to the kernel as soon as pyplot is imported."""

    def __init__(self, kernel):
        self.kernel = kernel

    def find_spec(self, name, path, target=None):
        if name != "matplotlib.pyplot":
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        loader, kernel = spec.loader, self.kernel

        class Patched(importlib.abc.Loader):
            def create_module(self, spec):
                return loader.create_module(spec)

            def exec_module(self, module):
                loader.exec_module(module)
                module.show = lambda *args, **kwargs: kernel.collect_figures()

        spec.loader = Patched()
        return spec


class Kernel:
    def __init__(self, limits):
        self.limits = limits
        self.namespace = {"__name__": "__main__", "__builtins__": __builtins__}
        self.images = []
        self.pid = os.getpid()
        os.makedirs(CAPTURE_DIR, exist_ok=True)
        self.proto_in = os.fdopen(os.dup(0), "r", encoding="utf-8")
        self.proto_out = os.fdopen(os.dup(1), "w", encoding="utf-8")
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        # Line by line, so prints and the output of child processes interleave in order.
        if isinstance(sys.stdout, io.TextIOWrapper):
            sys.stdout.reconfigure(line_buffering=True)
        sys.meta_path.insert(0, FigureHook(self))

    def collect_figures(self):
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is None:
            return
        for number in plt.get_fignums():
            if len(self.images) >= MAX_IMAGES:
                break
            buffer = io.BytesIO()
            plt.figure(number).savefig(buffer, format="png", bbox_inches="tight")
            self.images.append(base64.b64encode(buffer.getvalue()).decode("ascii"))
        plt.close("all")

    def execute(self, code):
        """Run a cell like a notebook does: the value of a last bare expression is printed."""
        tree = ast.parse(code, "<cell>", "exec")
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        exec(compile(tree, "<cell>", "exec"), self.namespace)
        if last is not None:
            value = eval(compile(last, "<cell>", "eval"), self.namespace)
            if value is not None:
                self.namespace["_"] = value
                print(repr(value))

    def run(self, code):
        self.images = []
        budget = self.limits.get("cpu_seconds")
        if budget:
            usage = resource.getrusage(resource.RUSAGE_SELF)
            # RLIMIT_CPU counts whole seconds: rounding what is used down would cut up to a second off the
            # cell's budget (a memory bomb then hit the CPU limit before the memory limit on a loaded machine).
            used = math.ceil(usage.ru_utime + usage.ru_stime)
            resource.setrlimit(resource.RLIMIT_CPU, (used + int(budget), resource.RLIM_INFINITY))
        paths = [os.path.join(CAPTURE_DIR, name) for name in ("stdout", "stderr")]
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, path in zip((1, 2), paths, strict=True):
            target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(target, fd)
            os.close(target)
        try:
            self.execute(code)
        except BaseException:  # the cell's failure is its output, whatever it was
            kind, error, tb = sys.exc_info()
            while tb is not None and tb.tb_frame.f_code.co_filename != "<cell>":
                tb = tb.tb_next
            traceback.print_exception(kind, error, tb)
        if os.getpid() != self.pid:
            # A process the cell forked fell out of it: it must not answer on the kernel's channel.
            os._exit(0)
        if budget:  # the kernel's own work after the cell is not on the cell's budget
            resource.setrlimit(resource.RLIMIT_CPU, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        try:
            self.collect_figures()
        except Exception:
            traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()
        answer = {"images": self.images}
        for name, path in zip(("stdout", "stderr"), paths, strict=True):
            answer[name], answer[name + "_truncated"] = read_capped(path, self.limits.get("max_output_bytes"))
        return answer

    def serve(self):
        missing = [name for name in DATA_STACK if importlib.util.find_spec(name) is None]
        self.send({"ready": True, "missing": missing})
        for line in self.proto_in:
            request = json.loads(line)
            self.send(self.run(request["code"]))

    def send(self, message):
        self.proto_out.write(json.dumps(message) + "\n")
        self.proto_out.flush()


def read_capped(path, limit):
    with open(path, "rb") as handle:
        data = handle.read(limit + 1 if limit else -1)
    truncated = bool(limit) and len(data) > limit
    if truncated:
        data = data[:limit]
    return data.decode("utf-8", "replace"), truncated


def seed_font_cache():
    """Copy the font list the server built into matplotlib's (writable) config dir."""
    source, target = os.environ.pop("SANDBOX_FONT_CACHE", None), os.environ.get("MPLCONFIGDIR")
    if not source or not target or not os.path.isdir(source):
        return
    os.makedirs(target, exist_ok=True)
    for name in os.listdir(source):
        if name.startswith("fontlist-") and name.endswith(".json"):
            with open(os.path.join(source, name), "rb") as src, open(os.path.join(target, name), "wb") as dst:
                dst.write(src.read())


def main():
    limits = json.loads(os.environ.pop(LIMIT_ENV, "{}"))
    seed_font_cache()
    apply_limits(limits)
    Kernel(limits).serve()


if __name__ == "__main__":
    main()
