"""The host side of a session's /mnt/data: copying files in, and finding what the code wrote.

The directory is writable by the sandboxed code, so nothing here follows a symlink it may have
planted: the walk uses directory fds (``os.fwalk``) and every open is ``O_NOFOLLOW`` relative to
its directory, so a link to a host file is never read as if it were output.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from pathlib import Path

from assistantd.sandbox import SandboxFile

# (size, mtime_ns) of each regular file, by path relative to the directory.
Snapshot = dict[str, tuple[int, int]]


MARKER = ".assistantd-sandbox"


def reset_root(root: Path) -> str | None:
    """Empty the sandbox root left by an earlier server; None, or why it cannot be used.

    A directory that is not empty and lacks our marker is refused rather than wiped: the setting
    may point somewhere else by mistake."""
    if root.is_dir() and any(root.iterdir()) and not (root / MARKER).exists():
        return f"{root} is not empty and was not made by assistantd; refusing to wipe it (set ASSISTANTD_SANDBOX_DIR)"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True, mode=0o700, exist_ok=True)
    (root / MARKER).touch()
    return None


def prepare(directory: Path, uid: int | None) -> None:
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, mode=0o700)
    if uid is not None:
        os.chown(directory, uid, uid)


def remove(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)


def safe_name(name: str) -> str:
    """A file name usable directly under /mnt/data (no directories, no dot names)."""
    cleaned = "".join(c if c.isalnum() or c in "._- ()+,=@" else "_" for c in os.path.basename(name)).strip()
    return cleaned.lstrip(".") or "file"


def copy_in(directory: Path, name: str, source: Path, uid: int | None) -> None:
    target = directory / name
    partial = directory / f".{name}.part"
    shutil.copyfile(source, partial)
    if uid is not None:
        os.chown(partial, uid, uid)
    os.chmod(partial, 0o644)
    os.replace(partial, target)


def link_in(directory: Path, alias: str, name: str) -> None:
    """An extra name (the file id, as OpenAI's sandbox used) pointing at the copied file."""
    target = directory / alias
    if alias != name and not os.path.lexists(target):
        os.symlink(name, target)


def snapshot(directory: Path) -> Snapshot:
    found: Snapshot = {}
    if not directory.is_dir():
        return found
    for root, _dirs, files, root_fd in os.fwalk(directory):
        relative = os.path.relpath(root, directory)
        for name in files:
            try:
                info = os.stat(name, dir_fd=root_fd, follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                path = name if relative == "." else os.path.join(relative, name)
                found[path] = (info.st_size, info.st_mtime_ns)
    return found


def disk_usage(directory: Path) -> int:
    """Bytes of disk the directory's entries take (allocated blocks: sparse files count as used)."""
    total = 0
    for _root, dirs, files, root_fd in os.fwalk(directory):
        for name in dirs + files:
            with contextlib.suppress(OSError):
                total += os.stat(name, dir_fd=root_fd, follow_symlinks=False).st_blocks * 512
    return total


def remove_changed(directory: Path, before: Snapshot, keep: set[str]) -> None:
    """Delete the files written since ``before`` (the session is dead: nothing can race this)."""
    for path in changed(before, snapshot(directory)):
        if path not in keep:
            with contextlib.suppress(OSError):
                os.unlink(directory / path)


def changed(before: Snapshot, after: Snapshot) -> list[str]:
    return sorted(path for path, mark in after.items() if before.get(path) != mark)


def within_budget(paths: list[str], sizes: Snapshot, max_count: int, max_bytes: int) -> list[str]:
    """The first paths (in order) that fit in ``max_count`` files and ``max_bytes`` together."""
    kept: list[str] = []
    total = 0
    for path in paths:
        size = sizes[path][0]
        if len(kept) < max_count and total + size <= max_bytes:
            kept.append(path)
            total += size
    return kept


def read_files(directory: Path, paths: list[str], max_bytes: int) -> list[SandboxFile]:
    out: list[SandboxFile] = []
    for path in paths:
        data = read_nofollow(directory, path, max_bytes)
        if data is not None:
            out.append(SandboxFile(path=path, data=data))
    return out


def read_nofollow(directory: Path, path: str, max_bytes: int) -> bytes | None:
    """Read a file below ``directory`` without following any symlink on the way; None if unsafe."""
    parts = path.split("/")
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(directory, flags | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            next_fd = os.open(part, flags | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = next_fd
        file_fd = os.open(parts[-1], flags | os.O_NONBLOCK, dir_fd=fd)
    except OSError:
        return None
    finally:
        os.close(fd)
    with os.fdopen(file_fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return None
        data = handle.read(max_bytes + 1)
    return data if len(data) <= max_bytes else None
