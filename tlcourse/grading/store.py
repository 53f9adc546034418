"""One file per graded notebook, written as it finishes: a killed batch resumes where it stopped.

``OUT/results/<student>/<lesson>.json`` holds the judge's verdicts for one notebook and the
key they were computed for: the notebook's bytes, the checks, keys and grading code, the hidden
tests and the limits. Running the same command again reuses a result whose key still matches and
grades the rest; ``--regrade`` grades everything. Each file is written atomically (a kill leaves
the old file or the new one), so a killed batch loses at most the notebooks in flight.

What is stored is the grader's own output (verdicts and run status), never a student's probe
reports; it is read back as plain JSON, field by field, and anything unexpected means "grade again".
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

from tlcourse.cache import atomic_write_bytes
from tlcourse.checks import Feedback
from tlcourse.grading.intake import Submission, safe_name
from tlcourse.grading.runner import NotebookResult, NotebookRun

FORMAT = 1
FEEDBACK_FIELDS = {"exercise": str, "title": str, "status": str, "hint": str}


def grading_version(options) -> str:
    """What every result depends on besides the notebook: the code that grades and its settings."""
    from tlcourse import __version__
    from tlcourse.checks import sources_digest
    from tlcourse.grading.intake import released_fingerprints

    h = hashlib.sha256(sources_digest(Path(__file__).parent).encode())
    h.update(json.dumps(released_fingerprints(), sort_keys=True).encode())  # what "unchanged" means
    if options.hidden_file:
        h.update(Path(options.hidden_file).read_bytes())
    limits = (options.timeout, options.check_timeout, options.memory_gb, options.sandbox, __version__)
    h.update(repr(limits).encode())
    return h.hexdigest()


def result_key(submission: Submission, version: str) -> str:
    """The key of one notebook's result: the bytes submitted (or why there are none) and the version."""
    what = submission.digest or f"{submission.status}:{submission.message}"
    return hashlib.sha256(f"{version}\0{what}".encode()).hexdigest()


def result_path(out: Path, student: str, lesson: str) -> Path:
    return Path(out) / "results" / safe_name(student) / f"{lesson}.json"


def to_record(result, key: str) -> dict:
    """One notebook's result as plain JSON-able data (what a cluster worker sends back)."""
    run = result.run
    return {
        "format": FORMAT,
        "key": key,
        "student": result.student,
        "lesson": result.lesson,
        "run": {
            "status": run.status,
            "message": run.message,
            "seconds": run.seconds,
            "cell_errors": run.cell_errors,
            "timings": run.timings,
        },
        "feedback": [asdict(fb) for fb in result.feedback],
    }


def from_record(record: dict, student: str, lesson: str, key: str | None = None):
    """The result in ``record`` if it is well-formed, for this notebook (and ``key``); else None."""
    try:
        if record.get("format") != FORMAT or (key is not None and record.get("key") != key):
            return None
        if record["student"] != student or record["lesson"] != lesson:
            return None
        r = record["run"]
        run = NotebookRun(str(r["status"]), str(r["message"]), float(r["seconds"]), [str(e) for e in r["cell_errors"]])
        run.timings = {str(k): float(v) for k, v in r.get("timings", {}).items()}
        feedback = [_feedback(f) for f in record["feedback"]]
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return NotebookResult(student, lesson, run, feedback)


def save_record(out: Path, record: dict) -> None:
    """Write one notebook's result (atomically)."""
    atomic_write_bytes(result_path(out, record["student"], record["lesson"]), json.dumps(record).encode())


def load(out: Path, student: str, lesson: str, key: str):
    """The stored result for this notebook if it was graded with ``key``; else None."""
    try:
        record = json.loads(result_path(out, student, lesson).read_text())
    except (OSError, ValueError):
        return None
    return from_record(record, student, lesson, key) if isinstance(record, dict) else None


def _feedback(f: dict) -> Feedback:
    for name, kind in FEEDBACK_FIELDS.items():
        if not isinstance(f[name], kind):
            raise TypeError(name)
    return Feedback(
        f["exercise"],
        f["title"],
        float(f["points"]),
        float(f["max_points"]),
        f["status"],
        [str(x) for x in f["right"]],
        [str(x) for x in f["wrong"]],
        f["hint"],
    )
