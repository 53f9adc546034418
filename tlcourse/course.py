"""Run the whole course: execute every lesson headless and gather its headline numbers.

Each notebook runs with papermill in a fresh kernel (``QUICK`` set by parameter), into
``<out>/executed/``; the lessons record their numbers with ``tlcourse.results.record``
into ``<out>/results/``; the run prints one table and writes ``<out>/results.json``,
with each lesson's seconds and peak memory (the kernel's resident memory, children included:
what a hub's per-student memory limit must allow).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path

from tlcourse.cache import atomic_write_bytes
from tlcourse.errors import CourseError
from tlcourse.results import collect


def lesson_notebooks(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).glob("*.ipynb") if not p.name.startswith("."))


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


def execute_notebook(
    notebook: Path, output: Path, parameters: dict, results: Path, timeout: int = 1800
) -> tuple[float, int]:
    """Run one notebook with papermill in its own folder; returns (wall seconds, peak kernel bytes)."""
    import papermill

    output.parent.mkdir(parents=True, exist_ok=True)
    previous = os.environ.get("TLCOURSE_RESULTS")
    os.environ["TLCOURSE_RESULTS"] = str(results.resolve())  # the kernel inherits it
    start = time.perf_counter()
    try:
        with PeakMemory() as memory:
            papermill.execute_notebook(
                str(notebook),
                str(output),
                parameters=parameters,
                cwd=str(notebook.parent),
                kernel_name="python3",
                progress_bar=False,
                execution_timeout=timeout,
            )
    finally:
        if previous is None:
            os.environ.pop("TLCOURSE_RESULTS", None)
        else:
            os.environ["TLCOURSE_RESULTS"] = previous
    return time.perf_counter() - start, memory.peak


def format_table(results: dict[str, dict], seconds: dict[str, float], peaks: dict[str, int] | None = None) -> str:
    lines = []
    for lesson in sorted(set(results) | set(seconds)):
        peak = (peaks or {}).get(lesson)
        memory = f", peak memory {peak / 2**30:.1f} GB" if peak else ""
        lines.append(f"{lesson}  ({seconds.get(lesson, float('nan')):.0f} s{memory})")
        for metric, value in results.get(lesson, {}).items():
            lines.append(f"    {metric:<36} {value}")
    return "\n".join(lines)


def run_course(lessons: Path, out: Path, quick: bool = False) -> int:
    """Execute every lesson; print and write the table. Returns the exit code."""
    notebooks = lesson_notebooks(lessons)
    if not notebooks:
        if not Path(lessons).is_dir():
            raise CourseError(f"no lessons folder at {lessons}: run from the course checkout")
        print(f"no lessons yet in {lessons}/: nothing to run")
        return 0
    out = Path(out)
    results_folder = out / "results"
    shutil.rmtree(results_folder, ignore_errors=True)  # numbers from an earlier (e.g. quick) run never mix in
    seconds, peaks, failures = {}, {}, []
    for notebook in notebooks:
        print(f"running {notebook.name}{' (quick)' if quick else ''} ...", flush=True)
        try:
            seconds[notebook.stem], peaks[notebook.stem] = execute_notebook(
                notebook, out / "executed" / notebook.name, {"QUICK": quick}, results_folder
            )
        except Exception as err:  # a failing lesson is reported; the others still run
            failures.append(f"{notebook.name}: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
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
    print(format_table(results, seconds, peaks))
    largest = max(peaks.values(), default=0)
    print(
        f"total {sum(seconds.values()):.0f} s; the largest lesson peaked at {largest / 2**30:.1f} GB of kernel memory; "
        f"results in {out / 'results.json'}"
    )
    for failure in failures:
        print(f"FAILED {failure}")
    return 1 if failures else 0
