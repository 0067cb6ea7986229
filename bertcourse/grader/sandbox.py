"""The jail student code runs in: bubblewrap for what it sees, rlimits for what it uses.

``Sandbox.wrap(argv, workdir)`` returns a command line that runs ``argv``

* in new mount, PID, IPC, UTS and network namespaces (``bwrap --unshare-net``:
  only a private loopback, no route out);
* on a file system built from read-only binds of the system (``/usr``, a few
  files of ``/etc``), the Python installation and the virtual environment, the
  ``bertcourse`` package folder and the data cache; ``/tmp`` is a private
  tmpfs. The only writable folder shared with the host is ``workdir`` (the
  copy of one submission) and ``runtime_dir`` (the kernel's private connection
  folder). Nothing else of the course folder exists inside: not ``solutions/``,
  not the gradebook, not ``nbgrader_config.py``, not other submissions;
* under ``prlimit`` limits on CPU seconds, address space, processes, file size
  and open files;
* as an unprivileged uid when the grader runs as root (``setpriv`` after bwrap
  has built the jail), each concurrent slot with its own uid so that one
  student's fork bomb does not use up another's process quota (concurrent
  batches take separate blocks of uids: :func:`reserved_slots`).

What it does not do: it is not a VM (a kernel exploit escapes it), it sets no
cgroup limits (memory is bounded per process by the address-space limit, not
for the whole tree; total processes by the per-uid count), and student code
can still read the world-readable parts of what is mounted (the library
sources, including ``bertcourse``'s reference implementation: the static scan
and the re-check handle that). Without bubblewrap, or when the kernel forbids
the namespaces it needs, :func:`Sandbox.probe` says so in one line and
grading refuses to run unless ``allow_unsandboxed`` is set, which the report
then states.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import bertcourse
from bertcourse import data

GIB = 1024 ** 3
MIB = 1024 ** 2
FIRST_SANDBOX_UID = 61000  # unprivileged uids with no passwd entry: slot k runs as 61000 + k
SLOTS_PER_BATCH = 64       # a batch's slots: a block of uids that no concurrent batch shares
UID_BLOCKS = 64            # concurrent batches on one machine: uids 61000 ... 61000 + 64 * 64 - 1


@dataclass(frozen=True)
class Limits:
    """Per-process resource limits (``prlimit``) of a sandboxed kernel or worker."""

    cpu_seconds: int = 900           # RLIMIT_CPU: a busy loop dies with SIGXCPU after this
    address_space: int = 6 * GIB     # RLIMIT_AS: a memory bomb gets MemoryError (or the process dies)
    processes: int = 256             # RLIMIT_NPROC per sandbox uid: threads count too
    file_size: int = 256 * MIB       # RLIMIT_FSIZE: no file written larger than this
    open_files: int = 1024           # RLIMIT_NOFILE

    def prlimit_args(self) -> list[str]:
        return [f"--cpu={self.cpu_seconds}", f"--as={self.address_space}", f"--nproc={self.processes}",
                f"--fsize={self.file_size}", f"--nofile={self.open_files}", "--core=0"]


@dataclass(frozen=True)
class Capabilities:
    """What this machine allows; ``problems`` holds one line per guarantee that cannot be had."""

    bwrap: str | None
    prlimit: str | None
    setpriv: str | None
    root: bool
    namespaces: bool
    problems: tuple[str, ...] = ()

    @property
    def isolated(self) -> bool:
        return self.bwrap is not None and self.prlimit is not None and self.namespaces

    @property
    def drops_uid(self) -> bool:
        return self.root and self.setpriv is not None


def _run_quietly(argv: list[str]) -> bool:
    try:
        return subprocess.run(argv, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def probe() -> Capabilities:
    """Find bwrap, prlimit and setpriv and check that a trivial jail starts."""
    bwrap, prlimit, setpriv = (shutil.which(name) for name in ("bwrap", "prlimit", "setpriv"))
    root = os.geteuid() == 0
    problems = []
    namespaces = False
    if bwrap is None:
        problems.append("NO SANDBOX: bubblewrap (bwrap) is not installed (apt-get install bubblewrap); "
                        "student code would run with the grader's rights, file access and network")
    else:
        user = [] if root else ["--unshare-user"]
        namespaces = _run_quietly([bwrap, *user, "--unshare-net", "--unshare-pid", "--ro-bind", "/", "/",
                                   "--proc", "/proc", "--dev", "/dev", "true"])
        if not namespaces:
            problems.append("NO SANDBOX: bwrap cannot create namespaces here (unprivileged user namespaces "
                            "disabled? check /proc/sys/kernel/unprivileged_userns_clone and "
                            "kernel.apparmor_restrict_unprivileged_userns)")
    if prlimit is None:
        problems.append("NO LIMITS: prlimit (util-linux) is not installed; CPU, memory, process and file-size "
                        "limits cannot be set")
    if not root:
        problems.append("SAME UID: the grader is not root, so student code runs as the grader's own uid "
                        "(inside the jail it sees only the mounted folders; the process limit is shared "
                        "with the grader's other processes)")
    elif setpriv is None:
        problems.append("SAME UID: setpriv (util-linux) is missing, so student code runs as root inside the jail")
    return Capabilities(bwrap, prlimit, setpriv, root, namespaces, tuple(problems))


@contextlib.contextmanager
def reserved_slots() -> Iterator[int]:
    """The first slot of a block of ``SLOTS_PER_BATCH`` slots that no other batch on this machine uses meanwhile.

    RLIMIT_NPROC counts every process of a uid, so two batches (two instructors, or
    parallel test workers) on the same uids would share one fork bomb. A block is
    held by an exclusive ``flock`` on a file in the temporary folder until the block ends.
    """
    for block in range(UID_BLOCKS):
        handle = open(Path(tempfile.gettempdir()) / f"bertcourse-sandbox-uids-{block}.lock", "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        with handle:
            yield block * SLOTS_PER_BATCH
        return
    raise RuntimeError(f"all {UID_BLOCKS} blocks of sandbox uids are in use by other grading batches")


def _processes_of(uid: int) -> dict[int, str]:
    """pid -> name of the live (not zombie) processes whose real uid is ``uid``."""
    found = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except OSError:
            continue  # ended meanwhile
        if int(fields["Uid"].split()[0]) == uid and not fields["State"].strip().startswith(("Z", "X")):
            found[int(status.parent.name)] = fields["Name"].strip()
    return found


def kill_leftovers(slot: int, grace: float = 2.0) -> list[str]:
    """Kill what still runs as ``slot``'s uid ``grace`` seconds after its jail ended (nothing should)."""
    uid = FIRST_SANDBOX_UID + slot
    if not _processes_of(uid):
        return []
    time.sleep(grace)  # a torn-down PID namespace may take a moment to die
    killed = []
    for pid, name in _processes_of(uid).items():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            killed.append(f"{pid} {name}")
    return killed


def _python_roots() -> list[Path]:
    """The folders the interpreter, the standard library and the installed packages live in."""
    roots = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix), Path(sys.base_exec_prefix)}
    roots.add(Path(os.path.realpath(sys.executable)).parent.parent)
    return sorted(roots)


def _package_roots() -> list[Path]:
    """``bertcourse`` (an editable install points outside site-packages) and the data cache."""
    roots = [Path(bertcourse.__file__).resolve().parent]
    cache = data.data_dir()
    if cache.exists():
        roots.append(cache.resolve())
    return roots


@dataclass
class Sandbox:
    """Builds jailed command lines; one instance per grading slot (``slot`` picks the uid)."""

    limits: Limits = field(default_factory=Limits)
    slot: int = 0
    allow_unsandboxed: bool = False
    capabilities: Capabilities = field(default_factory=probe)

    def __post_init__(self):
        if not self.capabilities.isolated and not self.allow_unsandboxed:
            raise SandboxUnavailable("\n".join(self.capabilities.problems))

    @property
    def uid(self) -> int | None:
        return FIRST_SANDBOX_UID + self.slot if self.capabilities.drops_uid else None

    def prepare(self, *writable: Path) -> None:
        """Give the sandbox uid the writable folders (the submission copy, the runtime folder)."""
        if self.uid is None:
            return
        for folder in writable:
            for path in [Path(folder), *Path(folder).rglob("*")]:
                os.chown(path, self.uid, self.uid, follow_symlinks=False)

    def environment(self) -> dict[str, str]:
        """The whole environment of the jailed process: nothing of the grader's leaks in."""
        keep = ("BERTCOURSE_PROFILE", "LANG", "LC_ALL", "TZ")
        env = {key: os.environ[key] for key in keep if key in os.environ}
        env.update(
            PATH=f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            HOME="/tmp", TMPDIR="/tmp", HF_HOME="/tmp/hf", MPLCONFIGDIR="/tmp/mpl",
            HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false", MPLBACKEND="Agg",
            BERTCOURSE_DATA=str(data.data_dir()), PYTHONDONTWRITEBYTECODE="1", PYTHONNOUSERSITE="1",
            # one thread per kernel: N kernels on N cores, and serial and parallel grading time alike
            OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
            BERTCOURSE_SANDBOXED="1" if self.capabilities.isolated else "0",
        )
        return env

    def process_environment(self) -> dict[str, str] | None:
        """The ``env`` to start a wrapped command with: None in the jail (bwrap sets it), else the grader's
        environment with :meth:`environment` on top (allow_unsandboxed: the limits that can still apply)."""
        return None if self.capabilities.isolated else {**os.environ, **self.environment()}

    def wrap(self, argv: list[str], workdir: Path, runtime_dir: Path | None = None) -> list[str]:
        """``argv`` run in the jail with ``workdir`` as its (only writable) working folder."""
        caps = self.capabilities
        if not caps.isolated:
            return list(argv)  # allow_unsandboxed: the report says so
        workdir = Path(workdir).resolve()
        command = [caps.prlimit, *self.limits.prlimit_args(), "--", caps.bwrap,
                   "--die-with-parent", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
                   "--unshare-cgroup-try", "--hostname", "sandbox", "--clearenv"]
        if not caps.root:
            command.append("--unshare-user")
        command += ["--perms", "1777", "--tmpfs", "/tmp", "--proc", "/proc", "--dev", "/dev",
                    "--ro-bind", "/usr", "/usr"]
        mounts = [("--ro-bind", root) for root in _python_roots() + _package_roots()] + [("--bind", workdir)]
        if runtime_dir is not None:
            mounts.append(("--bind", Path(runtime_dir).resolve()))
        parents = sorted({str(p) for _, path in mounts for p in Path(path).parents if str(p) != "/"}, key=len)
        for parent in parents:  # bwrap would create them 0700, unreadable for the sandbox uid
            command += ["--perms", "0755", "--dir", parent]
        for link in ("bin", "lib", "lib64", "sbin"):
            target = Path("/") / link
            if target.is_symlink():
                command += ["--symlink", os.readlink(target), str(target)]
            elif target.exists():
                command += ["--ro-bind", str(target), str(target)]
        for name in ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "nsswitch.conf", "passwd",
                     "group", "hosts", "alternatives", "mime.types"):
            path = Path("/etc") / name
            if path.exists():
                command += ["--ro-bind", str(path), str(path)]
        for option, path in mounts:
            command += [option, str(path), str(path)]
        for key, value in self.environment().items():
            command += ["--setenv", key, value]
        command += ["--chdir", str(workdir)]
        if self.uid is not None:
            command += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--",
                        caps.setpriv, f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups",
                        "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
        else:
            command.append("--")
        return command + list(argv)


class SandboxUnavailable(RuntimeError):
    """The machine cannot provide the sandbox (the message says why, one line per guarantee)."""
