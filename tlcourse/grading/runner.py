"""Execute one submitted notebook in a boxed kernel and export its answers for checking.

The notebook runs in a temporary copy of the student's folder, in quick mode, in a fresh
kernel started inside the sandbox (``tlcourse.grading.sandbox``), cell by cell with a
deadline and a memory watchdog. Errors in cells do not stop it (``allow_errors``). After
every cell that calls ``check(...)`` and at the end, the answers of the lesson's exercises
are exported with cloudpickle, so work done before a later crash still counts.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from tlcourse.grading.sandbox import Sandbox

CHECK_CALL = re.compile(r"\bcheck\(")

EXPORT = """\
import cloudpickle as _tlc_cp, json as _tlc_json, os as _tlc_os
_tlc_status = {{}}
for _tlc_name in {names!r}:
    _tlc_path = _tlc_os.path.join({folder!r}, _tlc_name + ".pkl")
    if _tlc_name not in globals():
        _tlc_status[_tlc_name] = "never defined in the notebook"
        continue
    try:
        _tlc_data = _tlc_cp.dumps(globals()[_tlc_name])
        with open(_tlc_path + ".tmp", "wb") as _tlc_f:
            _tlc_f.write(_tlc_data)
        _tlc_os.replace(_tlc_path + ".tmp", _tlc_path)
        _tlc_status[_tlc_name] = "ok"
    except Exception as _tlc_e:
        _tlc_status[_tlc_name] = ("cannot be saved for grading: " + type(_tlc_e).__name__ + ": " + str(_tlc_e))[:300]
with open(_tlc_os.path.join({folder!r}, "status.json"), "w") as _tlc_f:
    _tlc_json.dump(_tlc_status, _tlc_f)
"""


@dataclass
class NotebookRun:
    """How executing one notebook went."""

    status: str = "ok"  # ok | timeout | died | memory | invalid
    message: str = ""
    seconds: float = 0.0
    cell_errors: list[str] = field(default_factory=list)
    exported: bool = False


class _Watchdog(threading.Thread):
    """Kills the kernel's process tree when it uses more than ``limit`` bytes."""

    def __init__(self, pid: int, limit: int):
        super().__init__(daemon=True)
        self.pid, self.limit, self.tripped, self._stop = pid, limit, False, threading.Event()

    def run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self._stop.wait(0.1):
            try:
                procs = [root] + root.children(recursive=True)
                used = sum(p.memory_info().rss for p in procs)
            except psutil.Error:
                return
            if used > self.limit:
                self.tripped = True
                for p in procs:
                    try:
                        p.kill()
                    except psutil.Error:
                        pass
                return

    def stop(self) -> None:
        self._stop.set()


def _boxed_kernel_manager(box: Sandbox, connection_file: Path):
    from jupyter_client import AsyncKernelManager

    class BoxedKernelManager(AsyncKernelManager):  # nbclient needs the async client to notice a dead kernel
        def format_kernel_cmd(self, extra_arguments=None):
            return box.prefix() + super().format_kernel_cmd(extra_arguments)

    # ipc transport: Unix sockets in the work folder, reachable although the box has no network
    return BoxedKernelManager(kernel_name="python3", transport="ipc", connection_file=str(connection_file))


def prepare_notebook(path: Path, parameters: dict) -> nbformat.NotebookNode:
    """Read a submission and inject the grading parameters after its ``parameters`` cell."""
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    return parameterize_notebook(load_notebook_node(str(path)), parameters)


def run_notebook(
    notebook: Path,
    work: Path,
    exports: Path,
    names: list[str],
    box: Sandbox,
    env: dict,
    timeout: float,
    memory_limit: int,
) -> NotebookRun:
    """Execute ``notebook`` (already copied into ``work``) boxed; export ``names`` along the way."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    run = NotebookRun()
    start = time.monotonic()
    try:
        nb = prepare_notebook(notebook, {"QUICK": True})
    except Exception as err:  # not JSON, not a notebook
        run.status, run.message = "invalid", f"not a readable notebook: {type(err).__name__}: {err}"[:300]
        return run
    km = _boxed_kernel_manager(box, work / ".kernel.json")
    client = NotebookClient(
        nb,
        km=km,
        timeout=max(1, int(timeout)),
        allow_errors=True,
        kernel_name="python3",
        resources={"metadata": {"path": str(work)}},
        startup_timeout=120,
    )
    watchdog = None
    try:
        with client.setup_kernel(env=env):
            watchdog = _Watchdog(km.provisioner.process.pid, memory_limit)
            watchdog.start()
            export_cell = nbformat.v4.new_code_cell(EXPORT.format(names=names, folder=str(exports)))
            student_cells = list(enumerate(nb.cells))
            nb.cells.append(export_cell)  # nbclient stores outputs by index: give the export cell its own
            export_index = len(nb.cells) - 1
            for index, cell in student_cells:
                if cell.cell_type != "code":
                    continue
                remaining = timeout - (time.monotonic() - start)
                if remaining <= 0:
                    raise CellTimeoutError("notebook deadline reached")
                client.timeout = max(1, int(remaining))
                client.execute_cell(cell, index)
                run.cell_errors += _errors(cell, index)
                if CHECK_CALL.search(cell.source):
                    client.timeout = 60
                    client.execute_cell(export_cell, export_index)
                    run.exported = True
            client.timeout = 60
            client.execute_cell(export_cell, export_index)
            run.exported = True
    except CellTimeoutError:
        run.status, run.message = "timeout", f"stopped after the {timeout:.0f} s limit (an endless loop?)"
    except DeadKernelError:
        run.status, run.message = "died", "the kernel died (sys.exit/os._exit, a crash, or it was killed)"
    except Exception as err:  # kernel failed to start, client errors: graded as a broken run
        run.status, run.message = "died", f"the notebook could not run: {type(err).__name__}: {err}"[:300]
    finally:
        if watchdog is not None:
            watchdog.stop()
            if watchdog.tripped:
                run.status = "memory"
                run.message = f"used more than {memory_limit / 2**30:.1f} GB of memory: stopped"
        _shutdown(km)
    run.seconds = time.monotonic() - start
    return run


def _errors(cell, index: int) -> list[str]:
    return [
        f"cell {index}: {o.get('ename')}: {o.get('evalue', '')}"[:200]
        for o in cell.get("outputs", [])
        if o.get("output_type") == "error"
    ]


def _shutdown(km) -> None:
    from jupyter_core.utils import run_sync

    try:
        if km.has_kernel:
            run_sync(km.shutdown_kernel)(now=True)
    except Exception:  # already dead
        pass


def copy_submission(folder: Path, work: Path) -> None:
    """A private copy of the student's folder: whatever the notebook does, the original is untouched."""
    shutil.copytree(folder, work, symlinks=True, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    os.chmod(work, 0o755)
