"""The box student code runs in: bubblewrap, built from an allow-list, with limits that hold.

What is inside a box (and nothing else):

- read-only: the system's libraries (``/usr``), the Python installation and environment, the
  ``tlcourse`` package (never the answer keys: ``tlcourse_keys`` is not bound, or is covered by an
  empty folder where it sits inside the environment), the data sets, the grader's cache, the
  cases file of this notebook, and a few files of ``/etc`` (a made-up ``passwd``);
- writable, private and size-capped: ``/tmp``, ``/dev/shm`` and the student's home (tmpfs, gone
  when the box ends). The runtime folder that holds the kernel's connection file and sockets is
  on the host's disk: the box may write there only while its kernel starts (before any student
  code runs); then it is locked (``lock_runtime``) and the box's only writable space is its tmpfs;
- its own user, PID, network (none), IPC, UTS and mount namespaces; a fresh environment from an
  allow-list (no variable of the grader's reaches it).

**Whose rights.** A grader started as root builds the box with bubblewrap's own privileges and
then drops, inside it and before Python starts, to the host's unprivileged uid ``nobody``
(``setpriv``: no groups, no capabilities, an empty bounding set, ``no_new_privs``): file
permissions on every bound path are checked against ``nobody``, never root (bubblewrap's
``--uid 65534`` alone maps the box's nobody to host uid 0 when started as root). A grader that is
not root runs the box in a user namespace that maps to its own, unprivileged, uid.

Limits: memory and processes by cgroup (v1 or v2) where the cgroup file system is writable, so
memory counts everything the box holds (its processes and its tmpfs pages); elsewhere a watchdog
that sums the RSS of every process in the box and what its tmpfs hold. When a box ends, every
process in it ends: bubblewrap's PID namespace dies with it, and the cgroup is emptied and
removed; ``--die-with-parent`` ends the box too if the grader itself is killed. Where no box can
be built, ``box_problem()`` says why.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

HOME = "/home/student"
CASES_DIR = "/box/in"
BOX_UID = 65534
PASSWD = f"root:x:0:0:root:/root:/bin/sh\nstudent:x:{BOX_UID}:{BOX_UID}:student:{HOME}:/bin/sh\n"
GROUP = f"root:x:0:\nstudent:x:{BOX_UID}:\n"
ETC_FILES = ("/etc/ld.so.cache", "/etc/localtime", "/etc/fonts", "/etc/mime.types", "/etc/nsswitch.conf")


@dataclass
class Limits:
    memory_bytes: int = 4 * 2**30
    processes: int = 512  # tasks (threads count): TensorFlow starts a pool per core
    tmp_bytes: int | None = None  # each of /tmp, /dev/shm, home (default: the memory limit, which they count in)
    file_bytes: int | None = None  # largest file a box process may write (RLIMIT_FSIZE; default: the memory limit)
    runtime_bytes: int = 64 * 2**20  # what the box may leave in its one writable folder on disk
    cpus: float | None = None  # a CPU quota (the judge's); a box runs against its deadline instead


@dataclass
class BoxSpec:
    """What one box may see and write; ``command(program)`` gives the full command line."""

    runtime: Path  # writable: the kernel's connection file and sockets
    cases: Path | None = None  # folder bound read-only at CASES_DIR
    limits: Limits = field(default_factory=Limits)
    env: dict = field(default_factory=dict)
    cgroups: list[Path] = field(default_factory=list)
    enabled: bool = True  # False: --no-sandbox (limits and a clean environment only)

    @property
    def home(self) -> str:
        return HOME if self.enabled else str(self.runtime / "home")

    def cases_file(self) -> str:
        return f"{CASES_DIR}/cases.json" if self.enabled else str(self.cases / "cases.json")

    def launch_env(self) -> dict:
        """The environment of the launching process (the box clears it; unboxed, it is the kernel's)."""
        if self.enabled:
            return {"PATH": "/usr/bin:/bin"}
        home = self.runtime / "home"
        home.mkdir(exist_ok=True)
        env = box_env(self.env)
        return {**env, **{k: v.replace(HOME, str(home)) for k, v in env.items() if HOME in v}, "TMPDIR": str(home)}

    def bwrap_args(self) -> list[str]:
        args = ["bwrap", "--die-with-parent", "--new-session", "--hostname", "tlcourse-box"]
        if privileged():  # namespaces made with bubblewrap's privileges; setpriv drops to nobody inside
            args += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
            args += ["--cap-drop", "ALL", *[a for cap in DROP_CAPS for a in ("--cap-add", cap)]]
        else:  # a user namespace that maps the box's nobody to this (unprivileged) user
            args += ["--unshare-all", "--cap-drop", "ALL", "--uid", str(BOX_UID), "--gid", str(BOX_UID)]
        for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
            if os.path.islink(top):
                args += ["--symlink", os.readlink(top), top]
            elif os.path.isdir(top):
                args += ["--ro-bind", top, top]
        # The private tmpfs first: paths bound below may lie under /tmp (a cache, the data, the runtime folder).
        size = str(self.limits.tmp_bytes or self.limits.memory_bytes)
        args += ["--proc", "/proc", "--dev", "/dev"]
        args += ["--perms", "1777", "--size", size, "--tmpfs", "/tmp"]
        args += ["--perms", "1777", "--size", size, "--tmpfs", "/dev/shm"]
        args += ["--ro-bind", "/usr", "/usr"]
        for path in readable_paths():
            args += ["--ro-bind", str(path), str(path)]
        for path in hidden_inside(readable_paths()):
            args += ["--tmpfs", str(path)]
        for path in ETC_FILES:
            if os.path.exists(path):
                args += ["--ro-bind", path, path]
        etc = self.runtime.parent / "etc"  # made here, outside the box; removed with the notebook's folder
        etc.mkdir(exist_ok=True)
        for name, text in (("passwd", PASSWD), ("group", GROUP)):
            (etc / name).write_text(text)
            args += ["--ro-bind", str(etc / name), f"/etc/{name}"]
        args += ["--perms", "0777", "--size", size, "--tmpfs", HOME, "--bind", str(self.runtime), str(self.runtime)]
        if self.cases is not None:
            args += ["--ro-bind", str(self.cases), CASES_DIR]
        args += ["--chdir", HOME, "--clearenv"]
        for key, value in sorted(box_env(self.env).items()):
            args += ["--setenv", key, value]
        return with_parent_folders(args)

    def command(self, program: list[str]) -> list[str]:
        """``program`` run in the box, inside its cgroups, with a per-file size limit."""
        if self.enabled and privileged():
            program = [*DROP_TO_NOBODY, *program]
        inner = self.bwrap_args() + ["--", *program] if self.enabled else program
        join = 'for g in "$@"; do [ "$g" = -- ] && break; echo $$ > "$g/cgroup.procs" || exit 97; shift; done; shift'
        limit = f"ulimit -f {(self.limits.file_bytes or self.limits.memory_bytes) // 512} 2>/dev/null;"
        return ["/bin/sh", "-c", f'{join}; {limit} exec "$@"', "tlcourse-box", *map(str, self.cgroups), "--", *inner]

    def prepare(self) -> None:
        """Give the box's user what it must reach: its runtime folder (until ``lock_runtime``), its cases."""
        if not (self.enabled and privileged()):
            return
        os.chown(self.runtime, BOX_UID, BOX_UID)
        self.runtime.chmod(0o700)
        if self.cases is not None:
            self.cases.chmod(0o755)
            for path in self.cases.iterdir():
                path.chmod(0o644)

    def share_with_box(self, path: Path) -> None:
        """A file the grader wrote for the box (the kernel's connection file): readable by the box's user only."""
        if self.enabled and privileged():
            os.chown(path, BOX_UID, BOX_UID)

    def lock_runtime(self) -> None:
        """Once the kernel has answered: the box can no longer create, grow or remove files there.

        The folder and its files become root's (read only, for the box); the socket files stay the
        kernel's, and it keeps serving on them. Until this call no student code has run.
        """
        if self.enabled and privileged():
            self.runtime.chmod(0o755)  # readable all along: the kernel may still be reading its files
            os.chown(self.runtime, 0, 0)
            for path in self.runtime.iterdir():
                if path.is_file() and not path.is_symlink():
                    path.chmod(0o644)  # the folder above is the grader's alone (0700): no one else reaches it
                    os.chown(path, 0, 0)


DROP_CAPS = ("CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP")  # all setpriv needs to become nobody, then dropped too
DROP_TO_NOBODY = [
    "/usr/bin/setpriv",
    "--reuid",
    str(BOX_UID),
    "--regid",
    str(BOX_UID),
    "--clear-groups",
    "--inh-caps=-all",
    "--bounding-set=-all",
    "--no-new-privs",
    "--",
]


def privileged() -> bool:
    """Whether this grader runs as root (then the box drops to the host's nobody, see the module docstring)."""
    return os.geteuid() == 0


def with_parent_folders(args: list[str]) -> list[str]:
    """``args`` with every folder above a bound path made first, readable by all (``--perms 0755 --dir``).

    bubblewrap makes the missing parents of a bind's destination with mode 0700 and owner root:
    the box's nobody could not reach what is bound below them (the Python under ``/root/.pyenv``,
    a runtime folder under ``/tmp``). Folders inside an earlier bind are the host's and left alone.
    """
    out: list[str] = []
    made: set[str] = {"/", "/tmp", "/dev", "/proc", "/dev/shm", HOME}
    bound: list[str] = []
    i = 0
    while i < len(args):
        if args[i] in ("--ro-bind", "--bind") and i + 2 < len(args):
            dest = args[i + 2]
            for parent in reversed(Path(dest).parents):
                name = str(parent)
                if name in made or any(name == b or name.startswith(b.rstrip("/") + "/") for b in bound):
                    continue
                out += ["--perms", "0755", "--dir", name]
                made.add(name)
            out += args[i : i + 3]
            bound.append(dest)
            made.add(dest)
            i += 3
            continue
        out.append(args[i])
        i += 1
    return out


def readable_paths() -> list[Path]:
    """The Python installation, the environment, the package and the data: read-only in every box."""
    import tlcourse

    paths = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), Path(tlcourse.__file__).resolve().parent}
    for variable in ("TLCOURSE_DATA",):
        if os.environ.get(variable) and Path(os.environ[variable]).is_dir():
            paths.add(Path(os.environ[variable]).resolve())
    from tlcourse.cache import cache_dir

    paths.add(cache_dir().resolve())
    out = sorted(paths)
    return [p for p in out if not any(p != q and q in p.parents for q in out)]  # no path inside another


def hidden_inside(bound: list[Path]) -> list[Path]:
    """Answer keys that sit inside a bound folder (an installed, non-editable edition): covered up."""
    import importlib.util

    spec = importlib.util.find_spec("tlcourse_keys")
    if spec is None or not spec.submodule_search_locations:
        return []
    found = []
    for location in spec.submodule_search_locations:
        path = Path(location).resolve()
        if any(b == path or b in path.parents for b in bound):
            found.append(path)
    return found


def box_env(extra: dict) -> dict:
    """The environment of a box: an allow-list, never the grader's own variables."""
    env = {
        "PATH": f"{Path(sys.prefix) / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "HOME": HOME,
        "USER": "student",
        "LOGNAME": "student",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TMPDIR": "/tmp",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": f"{HOME}/.config/matplotlib",
        "IPYTHONDIR": f"{HOME}/.ipython",
        "JUPYTER_CONFIG_DIR": f"{HOME}/.jupyter",
        "JUPYTER_DATA_DIR": f"{HOME}/.local/share/jupyter",
        "PYTHONDONTWRITEBYTECODE": "1",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "TLCOURSE_QUICK": "1",
        "TLCOURSE_GRADING": "1",
        "TLCOURSE_RESULTS": f"{HOME}/results",
    }
    import tlcourse
    from tlcourse.cache import cache_dir

    # The package the grader imported (bound read-only with its folder's other contents left out):
    # the box runs the same checks, wherever the grader's tlcourse came from.
    env["PYTHONPATH"] = str(Path(tlcourse.__file__).resolve().parent.parent)
    env["TLCOURSE_CACHE"] = f"{HOME}/.cache/tlcourse"
    env["TLCOURSE_CACHE_SHARED"] = str(cache_dir().resolve())
    if os.environ.get("TLCOURSE_DATA"):
        env["TLCOURSE_DATA"] = str(Path(os.environ["TLCOURSE_DATA"]).resolve())
    env.update(extra)
    return env


# --------------------------------------------------------------------------- can a box be built here?

_PROBED: dict[str, str] = {}


def box_problem() -> str:
    """Empty when a box can be built here, else why not and what to do (probed once)."""
    if "reason" in _PROBED:
        return _PROBED["reason"]
    reason = ""
    if not sys.platform.startswith("linux"):
        reason = f"the grading box needs Linux (bubblewrap); this is {sys.platform}"
    elif not shutil.which("bwrap"):
        reason = "bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap; or run `make install`)"
    elif privileged() and not os.path.exists(DROP_TO_NOBODY[0]):
        reason = f"{DROP_TO_NOBODY[0]} (util-linux) is missing: a grader run as root needs it to drop to nobody"
    else:
        reason = _probe_box()
    _PROBED["reason"] = reason
    return reason


_PROBE = """
import os, sys
for path in sys.argv[1:]:
    try:
        os.listdir(path)
    except OSError:
        print("unreadable", path)
print("uid", os.getuid())
"""


def _probe_box() -> str:
    """Run Python in a box once: it must start as the box's user and read every bound folder."""
    with tempfile.TemporaryDirectory(prefix="tlcourse-probe-") as tmp:
        (Path(tmp) / "runtime").mkdir()
        spec = BoxSpec(Path(tmp) / "runtime")
        spec.prepare()
        paths = [str(p) for p in readable_paths() if p.is_dir()]
        try:
            result = subprocess.run(
                spec.command([sys.executable, "-c", _PROBE, *paths]), capture_output=True, text=True, timeout=60
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            return f"bubblewrap cannot build the box here ({str(err)[:200]}); user namespaces may be disabled"
    lines = result.stdout.splitlines()
    if result.returncode != 0 or f"uid {BOX_UID}" not in lines:
        detail = (result.stderr.strip().splitlines() or [f"exit code {result.returncode}"])[-1][:200]
        if privileged() and "Permission denied" in detail:
            return (
                f"the box's user (uid {BOX_UID}) cannot run {sys.executable} ({detail}): make the Python "
                "installation and the environment readable by all users (chmod -R o+rX), or grade as a regular user"
            )
        return f"bubblewrap cannot build the box here ({detail}); user namespaces may be disabled"
    unreadable = [line.split(" ", 1)[1] for line in lines if line.startswith("unreadable ")]
    if unreadable:
        return (
            f"the box's user (uid {BOX_UID}) cannot read {', '.join(unreadable)}: make it readable by all users "
            "(chmod -R o+rX), or point TLCOURSE_CACHE / TLCOURSE_DATA elsewhere"
        )
    return ""


# --------------------------------------------------------------------------- limits


def _folder_bytes(folder: Path, max_entries: int = 10_000) -> int:
    """Disk space used under ``folder`` (links not followed); more than any limit if it holds too many entries."""
    total, seen = 0, 0
    for top, dirs, files in os.walk(folder):
        for name in dirs + files:
            seen += 1
            if seen > max_entries:
                return 2**62
            try:
                total += os.lstat(os.path.join(top, name)).st_blocks * 512
            except OSError:
                pass
    return total


def cgroup_roots() -> dict[str, Path] | None:
    """Writable cgroup folders for memory and pids, below this process's own cgroups; None if none."""
    base = Path("/sys/fs/cgroup")
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    own = {}
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for c in controllers.split(","):
            own[c] = path
    roots = {}
    if (base / "memory").is_dir() and "memory" in own and (base / "pids").is_dir() and "pids" in own:
        roots = {"memory": base / "memory" / own["memory"].lstrip("/"), "pids": base / "pids" / own["pids"].lstrip("/")}
    elif (base / "cgroup.controllers").exists() and "" in own:  # cgroup v2, unified
        roots = {"unified": base / own[""].lstrip("/")}
    else:
        return None
    for root in roots.values():
        if not os.access(root, os.W_OK):
            return None
    if "memory" in roots and "cpu" in own and (base / "cpu").is_dir():  # v1's CPU quota: used where writable
        cpu = base / "cpu" / own["cpu"].lstrip("/")
        if os.access(cpu, os.W_OK):
            roots["cpu"] = cpu
    return roots


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


_CLEANUPS: list[threading.Thread] = []
_STALE_CLEANED: list[bool] = []
_SUBREAPER: list[bool] = []


def become_subreaper() -> bool:
    """Make this process the parent of the boxes' orphans, so that it can reap them.

    When bwrap's outer process dies before the box's pid-namespace init, that init is re-parented
    to the nearest subreaper, else to PID 1. In containers PID 1 often reaps nothing: the zombie then
    pins its cgroup for ever (cgroup v1 refuses to remove a cgroup that a zombie still belongs to).
    """
    if not _SUBREAPER:
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            _SUBREAPER.append(libc.prctl(36, 1, 0, 0, 0) == 0)  # PR_SET_CHILD_SUBREAPER
        except (OSError, AttributeError):
            _SUBREAPER.append(False)
    return _SUBREAPER[0]


def finish_cleanups(seconds: float = 120) -> int:
    """Wait for boxes whose cgroups are still being emptied; how many could not be removed."""
    deadline = time.monotonic() + seconds
    for thread in _CLEANUPS:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    left = sum(thread.is_alive() for thread in _CLEANUPS)
    _CLEANUPS[:] = [t for t in _CLEANUPS if t.is_alive()]
    return left


def _kill_and_remove(paths: list[Path], seconds: float) -> list[Path]:
    """SIGKILL every process in these cgroups and remove them, trying until ``seconds`` pass; those left.

    A process killed with a large memory still shows in ``cgroup.procs`` while the kernel frees its
    pages (seconds on a loaded machine), so one try is not enough.
    """
    deadline = time.monotonic() + seconds
    left = list(paths)
    while left:
        for path in left:
            try:
                for pid in (path / "cgroup.procs").read_text().split():
                    os.kill(int(pid), signal.SIGKILL)
            except (OSError, ValueError):
                pass
            try:
                path.rmdir()
            except OSError:
                pass
        left = [p for p in left if p.exists()]
        if not left or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    return left


def sweep_own(seconds: float = 30) -> tuple[int, int]:
    """Kill and remove every box cgroup this grader made that is still there: ``(found, left)``.

    The last line of "no process outlives the grader": whatever a box's own clean-up missed, the
    grader's cgroups carry its pid in their name, so at the end of a batch it can find them all.
    """
    roots = cgroup_roots()
    if not roots:
        return 0, 0
    mine = [p for root in roots.values() for p in root.glob(f"tlcourse-box-{os.getpid()}-*")]
    left = _kill_and_remove(mine, seconds)
    return len({p.name for p in mine}), len({p.name for p in left})


class Limiter:
    """Memory and process limits for one box: cgroups where possible, else a watchdog.

    ``paths`` (the cgroup folders the box joins) go to ``BoxSpec.cgroups``; ``start(pid)`` arms
    the watchdog (or nothing); ``tripped`` tells whether the limit was hit; ``end()`` kills every
    process left in the box and removes its cgroups.
    """

    def __init__(self, limits: Limits):
        self.limits = limits
        self.tripped = False
        self.paths: list[Path] = []
        self.mode = "watchdog"
        self._stop = threading.Event()
        self._thread = None
        self._root_pid = None
        self._runtime = None
        self.reason = ""  # what was exceeded: memory | disk
        self.cpu_limited = False
        roots = cgroup_roots()
        become_subreaper()
        if roots:
            if not _STALE_CLEANED:
                _STALE_CLEANED.append(True)
                self.remove_stale(roots)
            try:
                self._make_cgroups(roots)
                self.mode = "cgroup v2" if "unified" in roots else "cgroup v1"
            except OSError:
                self._remove_cgroups()
                self.paths = []

    @staticmethod
    def remove_stale(roots: dict[str, Path], seconds: float = 10) -> int:
        """Remove the box cgroups of graders that are gone (a killed grader cannot remove its own).

        A box cgroup is named after the grader that made it (``tlcourse-box-PID-ID``): one whose
        grader still runs is never touched, although it is empty until its box starts. A process
        still in a dead grader's box is an orphan that no one will wait for: it is killed. Returns
        how many stale cgroups are left (a zombie that its new parent has not reaped yet, say).
        """
        stale = []
        for root in roots.values():
            for path in root.glob("tlcourse-box-*"):
                try:
                    owner = int(path.name.split("-")[2])
                except (IndexError, ValueError):  # no owner in the name: only once it is old
                    owner = None
                try:
                    if _alive(owner) if owner is not None else time.time() - path.stat().st_mtime < 600:
                        continue
                except OSError:
                    continue
                stale.append(path)
        return len(_kill_and_remove(stale, seconds))

    def _make_cgroups(self, roots: dict[str, Path]) -> None:
        name = f"tlcourse-box-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        memory = str(self.limits.memory_bytes)
        period = 100_000
        quota = int(self.limits.cpus * period) if self.limits.cpus else None
        if "unified" in roots:
            path = roots["unified"] / name
            path.mkdir()
            self.paths.append(path)
            (path / "memory.max").write_text(memory)
            (path / "memory.swap.max").write_text("0")
            (path / "pids.max").write_text(str(self.limits.processes))
            if quota:
                try:  # only where the cpu controller is enabled for this subtree
                    (path / "cpu.max").write_text(f"{quota} {period}")
                    self.cpu_limited = True
                except OSError:
                    pass
            return
        if quota and "cpu" in roots:
            cpu = roots["cpu"] / name
            cpu.mkdir()
            self.paths.append(cpu)
            (cpu / "cpu.cfs_period_us").write_text(str(period))
            (cpu / "cpu.cfs_quota_us").write_text(str(quota))
            self.cpu_limited = True
        mem, pids = roots["memory"] / name, roots["pids"] / name
        mem.mkdir()
        self.paths.append(mem)
        (mem / "memory.limit_in_bytes").write_text(memory)
        try:
            (mem / "memory.memsw.limit_in_bytes").write_text(memory)  # no escape into swap
        except OSError:
            pass
        pids.mkdir()
        self.paths.append(pids)
        (pids / "pids.max").write_text(str(self.limits.processes))

    def join(self) -> None:
        """Put the calling process into these cgroups (a ``preexec_fn``: the child, before it runs anything)."""
        for path in self.paths:
            with open(path / "cgroup.procs", "w") as f:
                f.write(str(os.getpid()))

    def describe(self) -> str:
        gb = self.limits.memory_bytes / 2**30
        limit = f"{gb:g} GB of memory and {self.limits.processes} processes per notebook"
        if self.mode.startswith("cgroup"):
            return f"{limit} by {self.mode} (processes, /tmp and /dev/shm all count)"
        return f"{limit} by a watchdog (RSS of the box's processes + its tmpfs)"

    def start(self, pid: int, runtime: Path | None = None) -> None:
        """Watch the box whose outermost process is ``pid`` (and what it writes to ``runtime``)."""
        self._root_pid = pid
        self._runtime = runtime
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _box_processes(self):
        import psutil

        if self._root_pid is None:  # not started: nothing of ours to find
            return []
        try:
            root = psutil.Process(self._root_pid)
            return [root, *root.children(recursive=True)]
        except psutil.Error:
            return []

    def _watch(self) -> None:
        import psutil

        while not self._stop.wait(0.2):
            if self._runtime is not None and _folder_bytes(self._runtime) > self.limits.runtime_bytes:
                self._trip("disk")
                return
            if self.mode.startswith("cgroup"):
                if self._oom_killed():  # the kernel killed a process of the box: the notebook stops here
                    self._trip("memory")
                    return
                continue
            procs = self._box_processes()
            used, count = 0, len(procs)
            for p in procs:
                try:
                    used += p.memory_info().rss
                except psutil.Error:
                    pass
            for p in procs[-1:]:  # the innermost process sees the box's own /tmp and /dev/shm
                for mount in ("tmp", "dev/shm", HOME.lstrip("/")):
                    try:
                        st = os.statvfs(f"/proc/{p.pid}/root/{mount}")
                        used += (st.f_blocks - st.f_bfree) * st.f_frsize
                    except OSError:
                        pass
            if used > self.limits.memory_bytes or count > self.limits.processes + 2:
                self._trip("memory")
                return

    def _trip(self, reason: str) -> None:
        self.tripped, self.reason = True, reason
        self.kill_all()

    def _oom_killed(self) -> bool:
        for path in self.paths:
            for name in ("memory.oom_control", "memory.events"):
                try:
                    for line in (path / name).read_text().splitlines():
                        key, _, value = line.partition(" ")
                        if key == "oom_kill" and int(value) > 0:
                            return True
                except (OSError, ValueError):
                    pass
        return False

    def kill_all(self) -> None:
        """SIGKILL every process of the box (cgroup members, and the process tree)."""
        for p in self._box_processes():
            try:
                p.kill()
            except Exception:  # already gone
                pass
        for path in self.paths:
            try:
                pids = (path / "cgroup.procs").read_text().split()
            except OSError:
                continue
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (OSError, ValueError):
                    pass

    def end(self) -> None:
        """Stop watching, kill what is left, and remove the cgroups (waiting until they are empty)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self.mode.startswith("cgroup") and self._oom_killed() and not self.tripped:
            self.tripped, self.reason = True, "memory"
        started = time.monotonic()
        removed = self._empty_and_remove(10)
        if os.environ.get("TLCOURSE_DEBUG"):
            print(
                f"box cgroups {[p.name for p in self.paths]} removed={removed} in {time.monotonic() - started:.2f} s",
                file=sys.stderr,
                flush=True,
            )
        if not removed:  # memory still being freed: keep trying in the background
            thread = threading.Thread(target=self._empty_and_remove, args=(300,), daemon=True)
            thread.start()
            _CLEANUPS.append(thread)

    def _empty_and_remove(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while True:
            self.kill_all()
            self._reap_zombies()
            if self._remove_cgroups():
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)

    def _reap_zombies(self) -> None:
        """Reap this process's dead children that belong to the box (see ``become_subreaper``).

        A zombie's pid cannot be reused before it is reaped, so the check and the wait concern the
        same process; a ``Popen`` whose child is reaped here reads the exit status as 0.
        """
        import psutil

        names = {path.name for path in self.paths}
        if not names:
            return
        try:
            children = psutil.Process().children()
        except psutil.Error:
            return
        for child in children:
            try:
                if child.status() != psutil.STATUS_ZOMBIE:
                    continue
                groups = Path(f"/proc/{child.pid}/cgroup").read_text()
                if any(name in groups for name in names):
                    os.waitpid(child.pid, os.WNOHANG)
            except (psutil.Error, OSError):
                pass

    def leftover(self) -> int:
        """Processes still in the box's cgroups (0 after a clean end)."""
        count = 0
        for path in self.paths:
            try:
                count += len((path / "cgroup.procs").read_text().split())
            except OSError:
                pass
        return count

    def _remove_cgroups(self) -> bool:
        done = True
        for path in self.paths:
            try:
                path.rmdir()
            except FileNotFoundError:
                pass
            except OSError:
                done = False
        return done
