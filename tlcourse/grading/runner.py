"""Execute one submitted notebook in a box, and bring back only its probes' plain reports.

The notebook's cells run in quick mode in a fresh kernel started inside the box
(``tlcourse.grading.box``), cell by cell, against one wall-clock deadline for the notebook that
output does not reset. After every cell that calls ``check("N.k", ...)`` a probe cell reports on
those exercises; at the end, exercises not probed yet (or whose answers were redefined since) are
probed, each against its own deadline. A probe report is the only thing taken from the kernel
(a display of one MIME type, from a probe cell only); the student cells' outputs are dropped,
except the names of the errors they raised. When the run ends, every process in the box ends.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from tlcourse.checks import Feedback
from tlcourse.checks.probe import MIME
from tlcourse.grading.box import BoxSpec, Limiter

CHECK_CALL = re.compile(r"""\bcheck\(\s*(?:exercise_id\s*=\s*)?["'](\d+\.\d+)["']""")
ANY_CHECK = re.compile(r"\bcheck\(")
# What the grader takes from a kernel is bounded in count and bytes, per cell and per notebook: a kernel
# is the student's, and it can send as many messages as it likes.
MAX_REPORT = 16 * 2**20  # characters of one probe report (a lesson's models take well under 1 MB)
MAX_REPORT_BYTES = 48 * 2**20  # characters of all the reports of one notebook
MAX_MESSAGE = 64 * 2**20  # bytes of any one message from the kernel (ZeroMQ drops the connection beyond)
MAX_ERROR = 200  # characters kept of an error a cell raised
MAX_CELL_ERRORS = 20  # errors kept per cell
MAX_NOTEBOOK_ERRORS = 100  # and per notebook


@dataclass
class NotebookRun:
    """How executing one notebook went, and what its probes reported (raw, untrusted text)."""

    status: str = "ok"  # ok | timeout | died | memory | invalid | missing | refused | unchanged
    message: str = ""
    seconds: float = 0.0
    cell_errors: list[str] = field(default_factory=list)
    reports: dict[str, str] = field(default_factory=dict)
    unprobed_reason: str = ""  # why exercises without a report have none (the run stopped early)
    timings: dict[str, float] = field(default_factory=dict)  # seconds: start, cells, checks, stop (judge: grader)


@dataclass
class NotebookResult:
    """One notebook graded: how its run went and the verdict on each exercise."""

    student: str  # the folder name as it is (outputs write it through ``safe_name``)
    lesson: str
    run: NotebookRun
    feedback: list[Feedback]


def _client_class():
    from nbclient import NotebookClient

    class BoxedClient(NotebookClient):
        """Keeps nothing a student cell prints; takes probe reports from probe cells only."""

        probe_cell: int | None = None
        reports: list[str] = []
        report_slots = 0  # reports still taken from the probe cell now running (one per exercise probed)
        report_bytes = 0  # characters of reports taken from this notebook so far

        def output(self, outs, msg, display_id, cell_index):
            msg_type = msg["msg_type"]
            content = msg.get("content", {})
            if cell_index == self.probe_cell:
                data = content.get("data") if msg_type == "display_data" else None
                text = data.get(MIME) if isinstance(data, dict) else None
                if (
                    isinstance(text, str)
                    and len(text) <= MAX_REPORT
                    and self.report_slots > 0
                    and self.report_bytes + len(text) <= MAX_REPORT_BYTES
                ):
                    self.reports.append(text)
                    self.report_slots -= 1
                    self.report_bytes += len(text)
                return None
            if msg_type == "error":
                name, value = str(content.get("ename", ""))[:80], str(content.get("evalue", ""))[:MAX_ERROR]
                out = nbformat.v4.new_output("error", ename=name, evalue=value, traceback=[])
                if len(outs) < MAX_CELL_ERRORS:
                    outs.append(out)
                return out
            return None

        def handle_comm_msg(self, outs, msg, cell_index):  # widgets: nothing to keep, nothing to answer
            return None

    return BoxedClient


def _kernel_manager(spec: BoxSpec):
    from jupyter_client import AsyncKernelManager

    class BoxedKernelManager(AsyncKernelManager):  # nbclient needs the async client to notice a dead kernel
        def format_kernel_cmd(self, extra_arguments=None):
            spec.share_with_box(Path(self.connection_file))  # written by now; the kernel reads it as nobody
            return spec.command(super().format_kernel_cmd(extra_arguments))

        async def start_kernel(self, **kwargs):
            spec.prepare()
            await super().start_kernel(**kwargs)
            await _sockets_ready(self)

        def client(self, **kwargs):
            kc = super().client(context=self.context, **kwargs)  # the context that never reconnects
            start = kc.start_channels

            def start_channels(*args, **kw):
                # No heartbeat: a late beat makes jupyter_client's HBChannel open and connect a new
                # socket, through whatever the box has put at the socket's path by then. A dead
                # kernel is seen by its process (a client made by its manager asks the manager).
                return start(*args, **{**kw, "hb": False})

            kc.start_channels = start_channels
            return kc

    import zmq
    import zmq.asyncio

    # The box can replace its socket files (say, by a link to another socket on this machine): the
    # client connects once, before any student code runs, and never reconnects.
    context = zmq.asyncio.Context()
    context.setsockopt(zmq.RECONNECT_IVL, -1)
    context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE)  # a larger message never reaches the grader's memory
    km = BoxedKernelManager(
        kernel_name="python3", transport="ipc", connection_file=str(spec.runtime / "kernel.json"), context=context
    )
    km.ip = str(spec.runtime / "kernel")  # ipc sockets: files in the runtime folder, reachable without a network
    return km


async def _sockets_ready(km, seconds: float = 120) -> None:
    """Wait until the boxed kernel has bound its sockets (before any student code can run).

    The client connects to them once and never reconnects, so a notebook that later swaps a socket
    file for a link to some other socket on this machine reaches nothing.
    """
    import asyncio
    import stat

    paths = [f"{km.ip}-{port}" for port in (km.shell_port, km.iopub_port, km.stdin_port, km.control_port, km.hb_port)]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if all(stat.S_ISSOCK(os.lstat(p).st_mode) for p in paths):
                return
        except FileNotFoundError:
            pass
        if not await km.is_alive():
            return
        await asyncio.sleep(0.05)


def prepare_notebook(nb) -> nbformat.NotebookNode:
    """The notebook with the grading parameters injected after its ``parameters`` cell."""
    import logging

    from papermill.parameterize import parameterize_notebook

    logging.getLogger("papermill").setLevel(logging.ERROR)  # "no cell tagged parameters": expected, not news

    nb.metadata["papermill"] = {"default_parameters": {}, "parameters": {}, "environment_variables": {}}
    for cell in nb.cells:  # what papermill's own loader adds
        cell.metadata.setdefault("papermill", {})
    nb = parameterize_notebook(nb, {"QUICK": True}, kernel_name="python3", language="python")
    nb.metadata.pop("widgets", None)
    return nb


def _probe_source(ids: list[str], final: bool, cases_file: str) -> str:
    call = "grading_probe_final" if final else "grading_probe"
    return f"import tlcourse.checks.probe as _tlc\n_tlc.{call}({ids!r}, globals(), {cases_file!r})"


def _errors(cell, index: int) -> list[str]:
    return [
        f"cell {index}: {o.get('ename')}: {o.get('evalue', '')}"
        for o in cell.get("outputs", [])
        if o.get("output_type") == "error"
    ]


def run_notebook(
    nb,
    exercise_ids: list[str],
    spec: BoxSpec,
    limiter: Limiter,
    timeout: float,
    check_timeout: float,
) -> NotebookRun:
    """Run ``nb`` in the box described by ``spec``; probe ``exercise_ids`` along the way."""
    from jupyter_core.utils import run_sync
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    run = NotebookRun()
    start = time.monotonic()
    deadline = start + timeout
    nb = prepare_notebook(nb)
    km = _kernel_manager(spec)
    client = _client_class()(
        nb,
        km=km,
        timeout=max(1, int(timeout)),
        allow_errors=True,
        kernel_name="python3",
        startup_timeout=120,
        store_widget_state=False,
        record_timing=False,
        iopub_timeout=10,
        resources={"metadata": {"path": spec.home if not spec.enabled else str(spec.runtime)}},
    )
    client.reports = []
    probe_cell = nbformat.v4.new_code_cell("")
    nb.cells.append(probe_cell)  # nbclient stores outputs by index: the probe cell has its own
    probe_index = len(nb.cells) - 1
    client.probe_cell = probe_index
    stage = "running your notebook"
    hard_stop = threading.Timer(timeout + check_timeout * (len(exercise_ids) + 1) + 60, limiter.kill_all)
    hard_stop.daemon = True

    def probe(ids: list[str], final: bool) -> None:
        nonlocal stage
        stage = f"checking exercise{'s' if len(ids) > 1 else ''} {', '.join(ids)}"
        probe_cell.source = _probe_source(ids, final, spec.cases_file())
        probe_cell.outputs = []
        client.report_slots = len(ids)
        client.timeout = max(1, int(check_timeout * (len(ids) if final else 1)))
        began = time.monotonic()
        try:
            client.execute_cell(probe_cell, probe_index)
        finally:
            run.timings["checks"] = run.timings.get("checks", 0.0) + time.monotonic() - began
        for text in client.reports:
            _keep_report(run, text, exercise_ids)
        client.reports.clear()

    try:
        with client.setup_kernel(env=spec.launch_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
            # The kernel has answered (it has read and rewritten its connection file) and no student
            # code has run: from here the box's only writable space is its tmpfs.
            spec.lock_runtime()
            limiter.start(km.provisioner.process.pid, spec.runtime)
            hard_stop.start()
            run.timings["start"] = time.monotonic() - start  # the box, the kernel, its sockets
            for index, cell in enumerate(nb.cells[:probe_index]):
                if cell.cell_type != "code":
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise CellTimeoutError("notebook deadline reached")
                client.timeout = max(1, int(remaining))
                stage = "running your notebook"
                began = time.monotonic()
                try:
                    client.execute_cell(cell, index)
                finally:
                    run.timings["cells"] = run.timings.get("cells", 0.0) + time.monotonic() - began
                run.cell_errors += _errors(cell, index)[: max(0, MAX_NOTEBOOK_ERRORS - len(run.cell_errors))]
                named = [i for i in dict.fromkeys(CHECK_CALL.findall(cell.source)) if i in exercise_ids]
                if named:
                    probe(named, final=False)
            probe(list(exercise_ids), final=True)
    except CellTimeoutError:
        limit = (
            f"the {timeout:.0f} s limit for the notebook"
            if stage.startswith("running")
            else f"the {check_timeout:.0f} s limit for a check"
        )
        run.status, run.message = "timeout", f"stopped after {limit} while {stage} (an endless loop?)"
    except DeadKernelError:
        run.status, run.message = (
            "died",
            f"the kernel died while {stage} (sys.exit/os._exit, a crash, or it was killed)",
        )
    except Exception as err:  # the kernel failed to start, client errors: graded as a broken run
        if os.environ.get("TLCOURSE_DEBUG"):
            import traceback

            traceback.print_exc()
        run.status, run.message = "died", f"the notebook could not run while {stage} ({type(err).__name__})"
    finally:
        hard_stop.cancel()
        try:
            if km.has_kernel:
                run_sync(km.shutdown_kernel)(now=True)
        except Exception:  # already dead
            pass
        limiter.end()
        if getattr(client, "kc", None) is not None:
            try:
                client.kc.stop_channels()
            except Exception:  # already stopped
                pass
        # Closing the kernel's zmq context waits up to a second (jupyter_client's 1 s linger) for messages
        # the dead kernel will never take; nothing of the box is left in it, so it closes beside the next
        # notebook instead of in its slot (the stop took 1.0 s of every notebook's seconds before).
        threading.Thread(target=km.context.destroy, kwargs={"linger": 0}, daemon=True).start()
        if limiter.tripped and limiter.reason == "disk":
            run.status = "disk"
            run.message = (
                f"stopped: the notebook wrote more than {limiter.limits.runtime_bytes // 2**20} MB where it may not"
            )
        elif limiter.tripped:
            run.status = "memory"
            run.message = f"stopped: the notebook held more than {limiter.limits.memory_bytes / 2**30:g} GB of memory"
    if run.status != "ok":
        run.unprobed_reason = run.message
    run.seconds = time.monotonic() - start
    run.timings["stop"] = max(0.0, run.seconds - sum(run.timings.values()))  # shutdown, cleanup
    return run


def _keep_report(run: NotebookRun, text: str, exercise_ids: list[str]) -> None:
    """File a raw report under the exercise it names (read as JSON only to find that name)."""
    import json

    try:
        exercise = json.loads(text).get("exercise")
    except (ValueError, AttributeError, RecursionError):
        return
    if isinstance(exercise, str) and exercise in exercise_ids:
        run.reports[exercise] = text
