"""Run the whole course: execute every lesson headless and report what it showed.

Each notebook runs with papermill in a fresh kernel (``QUICK`` set by parameter), into
``<out>/executed/`` (the kernel's own log beside it); the lessons record their numbers with
``tlcourse.results.record`` into ``<out>/results/``. The run shows a bar over lessons and cells,
then one table (seconds, peak memory, each lesson's headline claim with its numbers:
``tlcourse.headlines``) and writes ``<out>/results.json`` and ``<out>/report.html``. Peak memory
is the kernel's resident memory, children included: what a hub's per-student limit must allow.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path

from tlcourse import manifest
from tlcourse.cache import atomic_write_bytes
from tlcourse.errors import CourseError
from tlcourse.headlines import headline
from tlcourse.results import collect


def lesson_notebooks(folder: Path) -> list[Path]:
    """The notebooks of the lessons ``tlcourse.manifest`` lists that ``folder`` holds, in course order."""
    return manifest.notebooks_in(folder)


class PeakMemory:
    """The largest resident memory of this process's children (the kernel and what it starts), sampled."""

    def __init__(self, every: float = 0.2):
        self.every, self.peak = every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.wait(self.every):
            total = 0
            for child in me.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.Error:  # gone between listing and reading
                    pass
            self.peak = max(self.peak, total)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _kernel_manager_class(log):
    """Kernels on Unix sockets in a private folder, their stderr into the lesson's log file.

    Over TCP, ipykernel warns that it is "running over TCP without encryption"; over Unix sockets
    nothing is listening on the network at all. TensorFlow's start-up lines (oneDNN, absl) come
    from C++ before any setting can silence them: they go to ``executed/<lesson>.log``.
    """
    import tempfile

    from jupyter_client import AsyncKernelManager

    class CourseKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            self._socket_dir = tempfile.mkdtemp(prefix="tlcourse-kernel-")
            kwargs.setdefault("transport", "ipc")
            kwargs.setdefault("ip", os.path.join(self._socket_dir, "kernel"))
            super().__init__(**kwargs)

        async def start_kernel(self, **kwargs):
            kwargs.setdefault("stderr", log)
            kwargs.setdefault("stdout", log)
            await super().start_kernel(**kwargs)

        async def shutdown_kernel(self, *args, **kwargs):
            try:
                await super().shutdown_kernel(*args, **kwargs)
            finally:
                shutil.rmtree(self._socket_dir, ignore_errors=True)

    return CourseKernelManager


KERNEL_ENV = {
    "TLCOURSE_HEADLESS": "1",  # LiveHistory prints a line per epoch instead of a widget nobody sees
    "TF_CPP_MIN_LOG_LEVEL": "2",  # TensorFlow's C++ info and warning lines
}


def execute_notebook(
    notebook: Path, output: Path, parameters: dict, results: Path, timeout: int = 1800, progress: dict | None = None
) -> tuple[float, int]:
    """Run one notebook with papermill in its own folder; returns (wall seconds, peak kernel bytes).

    ``progress``: tqdm settings for papermill's bar over the cells (None: no bar). The kernel's own
    stderr goes to ``<output>.log`` (beside the executed notebook).
    """
    import papermill

    output.parent.mkdir(parents=True, exist_ok=True)
    env = {"TLCOURSE_RESULTS": str(results.resolve()), **KERNEL_ENV}  # the kernel inherits them
    previous = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    start = time.perf_counter()
    try:
        with open(output.with_suffix(".log"), "wb") as log, PeakMemory() as memory:
            papermill.execute_notebook(
                str(notebook),
                str(output),
                parameters=parameters,
                cwd=str(notebook.parent),
                kernel_name="python3",
                progress_bar=progress or False,
                execution_timeout=timeout,
                kernel_manager_class=_kernel_manager_class(log),
            )
    finally:
        for k, v in previous.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return time.perf_counter() - start, memory.peak


def format_table(summary: dict[str, dict]) -> str:
    """One row per lesson: seconds, peak kernel memory and the headline claim with its numbers."""
    rows = [("lesson", "s", "peak GB", "headline (all numbers: results.json, report.html)")]
    for lesson, numbers in summary.items():
        peak = numbers.get("peak_memory_mb")
        rows.append(
            (
                lesson,
                f"{numbers.get('seconds', float('nan')):.0f}",
                f"{peak / 1024:.1f}" if peak else "-",
                headline(lesson, numbers) or "(no headline numbers: did the lesson finish?)",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}" for r in rows]
    lines.insert(1, "-" * min(120, max(len(line) for line in lines)))
    return "\n".join(lines)


def report_html(summary: dict[str, dict], quick: bool) -> str:
    """``report.html``: the table, then every number each lesson recorded, with links to its notebook."""
    import html

    esc = html.escape
    rows = "".join(
        f"<tr><td><a href='#{esc(lesson)}'>{esc(lesson)}</a></td><td>{n.get('seconds', 0):.0f}</td>"
        f"<td>{n.get('peak_memory_mb', 0) / 1024:.1f}</td><td>{esc(headline(lesson, n))}</td></tr>"
        for lesson, n in summary.items()
    )
    sections = []
    for lesson, numbers in summary.items():
        metrics = "".join(f"<tr><td>{esc(k)}</td><td>{esc(str(v))}</td></tr>" for k, v in sorted(numbers.items()))
        sections.append(
            f"<h2 id='{esc(lesson)}'>{esc(lesson)}</h2><p>{esc(headline(lesson, numbers))}</p>"
            f"<p><a href='executed/{esc(lesson)}.ipynb'>executed notebook</a> · "
            f"<a href='executed/{esc(lesson)}.log'>kernel log</a></p><table>{metrics}</table>"
        )
    mode = "quick mode (the short CI version: small numbers, not the lessons' results)" if quick else "full run"
    return (
        "<!doctype html><meta charset='utf-8'><title>tlcourse: course run</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}</style>"
        f"<h1>The course, as run</h1><p>{esc(mode)}; {len(summary)} lessons, "
        f"{sum(n.get('seconds', 0) for n in summary.values()):.0f} s.</p>"
        f"<table><tr><th>lesson</th><th>s</th><th>peak GB</th><th>headline</th></tr>{rows}</table>" + "".join(sections)
    )


def run_course(lessons: Path, out: Path, quick: bool = False) -> int:
    """Execute every lesson with a progress bar; print the table, write results.json and report.html.

    Returns the exit code (1 when a lesson failed; the others still run).
    """
    notebooks = lesson_notebooks(lessons)
    if not notebooks:
        if not Path(lessons).is_dir():
            raise CourseError(f"no lessons folder at {lessons}: run from the course checkout")
        print(f"no lessons yet in {lessons}/: nothing to run")
        return 0
    out = Path(out)
    results_folder = out / "results"
    shutil.rmtree(results_folder, ignore_errors=True)  # numbers from an earlier (e.g. quick) run never mix in
    bar = sys.stdout.isatty()  # a bar on a terminal, one line per lesson in a log
    seconds, peaks, failures = {}, {}, []
    print(f"running {len(notebooks)} lessons{' in quick mode' if quick else ''} into {out / 'executed'}/", flush=True)
    for k, notebook in enumerate(notebooks, 1):
        label = f"[{k}/{len(notebooks)}] {notebook.stem}"
        executed = out / "executed" / notebook.name
        progress = {"desc": label, "file": sys.stdout, "leave": True, "unit": "cell"} if bar else None
        try:
            parameters = {"QUICK": quick, **(manifest.lesson(notebook.stem).quick if quick else {})}
            seconds[notebook.stem], peaks[notebook.stem] = execute_notebook(
                notebook, executed, parameters, results_folder, progress=progress
            )
            if not bar:
                print(f"{label}: {seconds[notebook.stem]:.0f} s", flush=True)
        except Exception as err:  # a failing lesson is reported; the others still run
            first = str(err).strip().splitlines()[-1] if str(err).strip() else ""
            failures.append(
                f"{notebook.name}: {type(err).__name__}: {first} (see {executed} and {executed.with_suffix('.log')})"
            )
            print(f"{label}: FAILED", flush=True)
    results = {k: v for k, v in collect(results_folder).items() if k in {n.stem for n in notebooks}}
    summary = {
        name: {
            **results.get(name, {}),
            "seconds": round(seconds[name], 1),
            "peak_memory_mb": round(peaks[name] / 2**20),
        }
        for name in seconds
    }
    atomic_write_bytes(out / "results.json", json.dumps(summary, indent=1, sort_keys=True).encode())
    atomic_write_bytes(out / "report.html", report_html(summary, quick).encode())
    print()
    print(format_table(summary))
    largest = max(peaks.values(), default=0)
    print(
        f"total {sum(seconds.values()):.0f} s; the largest lesson peaked at {largest / 2**30:.1f} GB of kernel memory"
        + (" (quick mode: the short version, not the lessons' results)" if quick else "")
    )
    print(f"wrote {out / 'results.json'} and {out / 'report.html'}")
    for failure in failures:
        print(f"FAILED {failure}")
    return 1 if failures else 0
