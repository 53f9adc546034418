"""Progress over a class's notebooks: done / running / left, rate and time left.

On a terminal, one tqdm bar (it computes rate and ETA); elsewhere (CI logs, a cron job, a file),
one plain line per finished notebook, so a log shows where a batch stood when it stopped.
"""

from __future__ import annotations

import sys
import time


class Progress:
    """``start(n_reused)``, then ``finished(label)`` per graded notebook; ``close()``."""

    def __init__(self, total: int, jobs: int, stream=None):
        self.total, self.jobs = total, jobs
        self.stream = stream or sys.stderr
        self.done = self.reused = 0
        self.started = time.monotonic()
        self.bar = None
        if getattr(self.stream, "isatty", lambda: False)():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc="grading", unit="notebook", file=self.stream)

    def start(self, reused: int) -> None:
        """``reused`` notebooks come from stored results: counted as done, not in the rate."""
        self.reused = self.done = reused
        if self.bar is not None:
            self.bar.update(reused)
        elif reused:
            print(f"grading: {reused}/{self.total} notebooks already graded (stored results reused)", file=self.stream)
        self._postfix()

    def _running(self) -> int:
        return min(self.jobs, self.total - self.done)

    def _postfix(self) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"running {self._running()}, reused {self.reused}")

    def finished(self, label: str) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
            self._postfix()
            return
        graded = self.done - self.reused
        elapsed = time.monotonic() - self.started
        rate = graded / elapsed * 60 if elapsed > 0 else 0.0
        left = self.total - self.done
        eta = f"{left / rate:.1f} min left" if rate > 0 else "?"
        print(
            f"grading: {self.done}/{self.total} done, {self._running()} running, {left - self._running()} waiting; "
            f"{rate:.1f} notebooks/min, {eta} — {label}",
            file=self.stream,
            flush=True,
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
