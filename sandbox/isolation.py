"""What the local backend can wall a task off with on this machine, and the walls themselves.

The fork server probes once at start: new mount, PID and network namespaces (directly as root,
through a user namespace otherwise), and writable cgroups. With namespaces a task sees a
read-only file system except fresh tmpfs mounts on /tmp, /var/tmp and /dev/shm, its own /proc,
no network (not even loopback), and cannot name, let alone signal, any process outside. What the
probe finds missing becomes a plain note on every result.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import resource
import sys
import sysconfig
from dataclasses import dataclass, field

from kernel_agent.sandbox import linux

NAMESPACE_FLAGS = linux.CLONE_NEWNS | linux.CLONE_NEWPID | linux.CLONE_NEWNET
PRIVATE_TMP = ("/tmp", "/var/tmp", "/dev/shm")
WORKDIR = "/tmp/work"
PROJECT_PACKAGES = ("kernel_agent", "kernel_agent.tools", "kernel_agent.sandbox",
                    "kernel_agent.agent", "kernel_agent.graphs", "kernel_agent.evals")
MOUNT_FLAGS = {"nosuid": linux.MS_NOSUID, "nodev": linux.MS_NODEV, "noexec": linux.MS_NOEXEC,
               "noatime": linux.MS_NOATIME, "nodiratime": linux.MS_NODIRATIME,
               "relatime": linux.MS_RELATIME}


@dataclass
class Isolation:
    """The probe's findings; `namespaces` is "root", "user" or "" (none)."""

    namespaces: str = ""
    namespace_error: str = ""
    cgroups: int = 0
    cgroup_error: str = ""
    root: bool = field(default_factory=lambda: os.geteuid() == 0)

    def notes(self) -> list[str]:
        notes = []
        if not self.namespaces:
            notes.append(
                f"no namespaces ({self.namespace_error}): the task shares this machine's network, "
                "can see and signal processes of the same user, and files it writes outside its "
                "work directory (e.g. in /tmp) can persist")
        if not self.cgroups:
            notes.append(
                f"no cgroups ({self.cgroup_error}): memory is limited by rlimit (address space "
                "without a GPU, data segment with one) and "
                + ("processes are not limited (root ignores RLIMIT_NPROC)" if self.root
                   else "processes by RLIMIT_NPROC"))
        return notes


def enter_namespaces(mode: str) -> None:
    """unshare() into new mount, PID (for our next child) and network namespaces."""
    if mode == "root":
        linux.unshare(NAMESPACE_FLAGS)
        return
    uid, gid = os.getuid(), os.getgid()
    linux.unshare(NAMESPACE_FLAGS | linux.CLONE_NEWUSER)
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"),
                       ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)


def private_mounts(tmp_bytes: int) -> list[str]:
    """In a new mount namespace: everything read-only, then private tmpfs and /proc on top.

    Returns the mount points that stayed writable. Must run as the init of the new PID namespace,
    so that the fresh /proc shows only the task's processes.
    """
    linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)  # nothing leaks to the host
    writable = []
    for point, options in mounts():
        if "ro" in options:
            continue
        flags = linux.MS_REMOUNT | linux.MS_BIND | linux.MS_RDONLY
        flags |= sum(bit for name, bit in MOUNT_FLAGS.items() if name in options)
        try:
            linux.mount(None, point, None, flags)
        except OSError:
            writable.append(point)
    homes = home_directories()
    kept = [(path, os.open(path, os.O_PATH | os.O_DIRECTORY))
            for path in code_under((*PRIVATE_TMP, *homes))]
    linux.mount("proc", "/proc", "proc", linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC)
    for point in PRIVATE_TMP:
        if os.path.isdir(point):
            linux.mount("tmpfs", point, "tmpfs", linux.MS_NOSUID | linux.MS_NODEV,
                        f"size={tmp_bytes},mode=1777")
    for point in homes:  # the user's keys, tokens and caches stay out of sight
        linux.mount("tmpfs", point, "tmpfs", linux.MS_NOSUID | linux.MS_NODEV,
                    "size=1m,mode=0755")
    for path, fd in kept:  # the interpreter and this project, read-only, where the task runs
        os.makedirs(path, exist_ok=True)
        linux.mount(f"/proc/self/fd/{fd}", path, None, linux.MS_BIND | linux.MS_REC)
        linux.mount(None, path, None, linux.MS_REMOUNT | linux.MS_BIND | linux.MS_RDONLY)
        os.close(fd)
    for point in homes:
        linux.mount(None, point, None,
                    linux.MS_REMOUNT | linux.MS_RDONLY | linux.MS_NOSUID | linux.MS_NODEV)
    os.mkdir(WORKDIR, 0o700)
    return [p for p in writable if not p.startswith(("/proc", *PRIVATE_TMP))]


def home_directories() -> tuple[str, ...]:
    """This user's home and /home: hidden from tasks, since secrets live there."""
    found = sorted({os.path.realpath(pwd.getpwuid(os.getuid()).pw_dir), "/home"})
    found = [p for p in found if os.path.isdir(p) and p != "/"
             and not p.startswith(tuple(f"{t}/" for t in PRIVATE_TMP))]
    return tuple(p for i, p in enumerate(found)
                 if not any(p.startswith(q + "/") for q in found[:i]))


def code_under(hidden: tuple[str, ...]) -> list[str]:
    """Directories the task needs that hiding `hidden` would take away: Python and this project.

    A checkout or virtual environment under /tmp (a CI clone, say) or an interpreter under the
    home directory (pyenv) must stay visible, read-only, or the task could not import the
    verifier it is asked to run; so must the interpreter's C headers (a venv's base Python's),
    which torch.compile and C extensions build against.
    """
    needed = {sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix,
              os.path.dirname(os.path.realpath(sys.executable)),
              *(sysconfig.get_paths()[key] for key in ("include", "platinclude"))}
    needed.update(p for p in sys.path if p)
    for package in PROJECT_PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec is not None:
            needed.update(spec.submodule_search_locations or [])
    inside = sorted({os.path.realpath(p) for p in needed if os.path.isdir(p)
                     and os.path.realpath(p).startswith(tuple(f"{h}/" for h in hidden))})
    return [p for i, p in enumerate(inside)
            if not any(p.startswith(q + "/") for q in inside[:i])]


def mounts() -> list[tuple[str, set[str]]]:
    """(mount point, per-mount options) from /proc/self/mountinfo, octal escapes decoded."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point = fields[4].encode().decode("unicode_escape")
            found.append((point, set(fields[5].split(","))))
    return found


def probe() -> Isolation:
    """Try the namespaces and mounts a task would get, in a throwaway child."""
    isolation = Isolation()
    modes = ["root"] if isolation.root else ["user"]
    for mode in modes:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            code = 1
            try:
                enter_namespaces(mode)
                inner = os.fork()
                if inner == 0:
                    try:
                        private_mounts(1 << 20)
                        os._exit(0)
                    except BaseException as exc:
                        os.write(write, str(exc).encode())
                        os._exit(1)
                code = 0 if os.waitstatus_to_exitcode(os.waitpid(inner, 0)[1]) == 0 else 1
            except BaseException as exc:
                os.write(write, str(exc).encode())
            os._exit(code)
        os.close(write)
        reason = os.read(read, 4096).decode(errors="replace")
        os.close(read)
        if os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0:
            isolation.namespaces = mode
            break
        isolation.namespace_error = reason or "unshare failed"
    return isolation


def limit_resources(*, file_bytes: int, memory_bytes: int | None, gpu: bool,
                    nproc: int | None) -> None:
    """rlimits for the task itself; memory and processes only where no cgroup does it.

    RLIMIT_AS would break CUDA, which reserves far more address space than it uses, so with a
    GPU the data segment (private writable memory) is limited instead.
    """
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
    if memory_bytes is not None:
        which = resource.RLIMIT_DATA if gpu else resource.RLIMIT_AS
        resource.setrlimit(which, (memory_bytes, memory_bytes))
    if nproc is not None:
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))


def tasks_of(uid: int) -> int:
    """Threads of every process of `uid`: what RLIMIT_NPROC counts against."""
    count = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                status = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue
        if int(status["Uid"].split()[0]) == uid:
            count += int(status["Threads"])
    return count


def lower_privileges(has_capabilities: bool) -> None:
    """Be the first the OOM killer picks, and keep no capability (root stays uid 0, powerless)."""
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass
    if has_capabilities:
        linux.drop_all_capabilities()
    else:
        linux.prctl(linux.PR_SET_NO_NEW_PRIVS, 1)
