"""Thin ctypes wrappers for the Linux calls that Python 3.11's `os` module lacks.

unshare(2) arrived in `os` only with 3.12, and mount(2), prctl(2) and capset(2) never did. Each
wrapper raises OSError with the C errno, so callers can fall back and say why.
"""

from __future__ import annotations

import contextlib
import ctypes
import os

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MS_RELATIME = 1 << 21

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
LINUX_CAPABILITY_VERSION_3 = 0x20080522

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _bytes(text: str | None) -> bytes | None:
    return None if text is None else os.fsencode(text)


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def mount(source: str | None, target: str, fstype: str | None, flags: int,
          data: str | None = None) -> None:
    result = _libc.mount(_bytes(source), _bytes(target), _bytes(fstype),
                         ctypes.c_ulong(flags), _bytes(data))
    _check(result, f"mount {target}")


def prctl(option: int, arg: int = 0) -> None:
    _check(_libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg), ctypes.c_ulong(0),
                       ctypes.c_ulong(0), ctypes.c_ulong(0)), f"prctl {option}")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def drop_all_capabilities() -> None:
    """Empty the bounding, ambient, effective, permitted and inheritable sets; no setuid gains.

    A process running as uid 0 keeps root's file ownership but loses every privilege beyond it:
    no mounts, no ptrace, no raw sockets, no bypassing file permissions.
    """
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    with contextlib.suppress(OSError):  # kernels before 4.3 have no ambient set
        prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    with open("/proc/sys/kernel/cap_last_cap") as f:
        last = int(f.read())
    for cap in range(last + 1):
        prctl(PR_CAPBSET_DROP, cap)
    header = _CapHeader(LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(header), data), "capset")


PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_EPERM = 0x00050000 | 1
BPF_LD_W_ABS, BPF_JEQ_K, BPF_JGE_K, BPF_RET_K = 0x20, 0x15, 0x35, 0x06
X32_SYSCALL_BIT = 0x40000000
# Per machine: the audit architecture, the signal calls that name their target process first,
# and those refused outright (tkill names a thread of any process; a pidfd names any process).
SIGNAL_CALLS = {
    "x86_64": (0xC000003E, (62, 234, 129, 297), (200, 424)),
    "aarch64": (0xC00000B7, (129, 131, 138, 240), (130, 424)),
}


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def signal_only_self() -> None:
    """A seccomp filter under which this process (and what it starts) can signal no process but
    this one: kill, tgkill and the sigqueue calls fail with EPERM for any other target, tkill and
    pidfd_send_signal always. Needs no_new_privs or CAP_SYS_ADMIN; OSError where the machine or
    kernel has no such filter."""
    machine = os.uname().machine
    if machine not in SIGNAL_CALLS:
        raise OSError(0, f"no signal filter for {machine}")
    arch, targeted, refused = SIGNAL_CALLS[machine]
    me = os.getpid()
    # Offsets into struct seccomp_data: nr 0, arch 4, args[0] 16 (low word) and 20 (high).
    program = [(BPF_LD_W_ABS, 0, 0, 4), (BPF_JEQ_K, 1, 0, arch), ("deny",),
               (BPF_LD_W_ABS, 0, 0, 0), (BPF_JGE_K, 0, 1, X32_SYSCALL_BIT), ("deny",)]
    for number in refused:
        program += [(BPF_JEQ_K, 0, 1, number), ("deny",)]
    for number in targeted:
        program += [(BPF_JEQ_K, 0, 6, number), (BPF_LD_W_ABS, 0, 0, 16),
                    (BPF_JEQ_K, 0, 2, me), (BPF_LD_W_ABS, 0, 0, 20),
                    (BPF_JEQ_K, 1, 0, 0), ("deny",), ("allow",)]
    program.append(("allow",))
    returns = {"deny": SECCOMP_RET_EPERM, "allow": SECCOMP_RET_ALLOW}
    filters = (_SockFilter * len(program))(*[
        _SockFilter(BPF_RET_K, 0, 0, returns[step[0]]) if len(step) == 1 else _SockFilter(*step)
        for step in program])
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    fprog = _SockFprog(len(program), filters)
    _check(_libc.prctl(ctypes.c_int(PR_SET_SECCOMP), ctypes.c_ulong(SECCOMP_MODE_FILTER),
                       ctypes.byref(fprog), ctypes.c_ulong(0), ctypes.c_ulong(0)),
           "prctl seccomp")
