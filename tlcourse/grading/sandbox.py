"""Run untrusted code (a student's kernel, a check calling a student's function) in a box.

The box is a Linux mount + network namespace (``unshare``): no network at all; the whole
file system read-only except the folders the run may write; the instructor's solutions,
hidden tests and every other submission hidden behind empty mounts. Where namespaces
are not allowed, ``Sandbox.available`` is False with the reason, and the grader says so
in its summary (it still applies timeouts and the memory limit, which need no privileges).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Sandbox:
    """What the boxed program may write and what it must not see."""

    writable: list[Path] = field(default_factory=list)
    hidden: list[Path] = field(default_factory=list)
    overlays: list[tuple[Path, Path, Path]] = field(default_factory=list)  # (shared dir, upper, work)
    available: bool = True
    reason: str = ""

    def script(self) -> str:
        """The shell prologue run inside the new namespaces before ``exec``-ing the program."""
        lines = ["set -e", "mount --make-rprivate /"]
        for path in self.writable:
            q = shlex.quote(str(path))
            lines.append(f"mount --bind {q} {q}")
        for lower, upper, work in self.overlays:  # a private, writable layer over a shared cache
            options = shlex.quote(f"lowerdir={lower},upperdir={upper},workdir={work}")
            lines.append(f"mount -t overlay tlcourse-overlay -o {options} {shlex.quote(str(lower))} || true")
        for path in self.hidden:
            q = shlex.quote(str(path))
            if path.is_dir():
                lines.append(f"mount -t tmpfs -o size=16k,mode=000 tlcourse-hidden {q}")
            elif path.exists():
                lines.append(f"mount --bind /dev/null {q}")
        lines.append("mount -o remount,bind,ro / || echo 'sandbox: could not make / read-only' >&2")
        lines.append('cd "$PWD"')  # the working directory was resolved before the mounts: resolve it again
        lines.append('exec "$@"')
        return "\n".join(lines)

    def prefix(self) -> list[str]:
        """Command prefix: ``prefix + [program, args...]`` runs the program in the box."""
        if not self.available:
            return []
        userns = [] if os.geteuid() == 0 else ["--map-root-user"]
        return ["unshare", "--mount", "--net", *userns, "sh", "-c", self.script(), "tlcourse-sandbox"]


def make_sandbox(writable: list[Path], hidden: list[Path], overlays=()) -> Sandbox:
    """A sandbox if this system allows one (probed once), else one that says why not."""
    box = Sandbox(
        [Path(p).resolve() for p in writable],
        [Path(p).resolve() for p in hidden if Path(p).exists()],
        [tuple(Path(p).resolve() for p in o) for o in overlays],
    )
    reason = _probe()
    if reason:
        return Sandbox(box.writable, box.hidden, box.overlays, available=False, reason=reason)
    return box


_PROBED: list[str] = []


def _probe() -> str:
    """Empty string when ``unshare`` can build the box here, else why it cannot."""
    if _PROBED:
        return _PROBED[0]
    if not shutil.which("unshare"):
        reason = "the unshare command (util-linux) is not installed"
    else:
        test = Sandbox([], [])
        result = subprocess.run(test.prefix() + ["true"], capture_output=True, text=True, timeout=30)
        reason = "" if result.returncode == 0 else f"unshare refused: {result.stderr.strip()[:200]}"
    _PROBED.append(reason)
    return reason
