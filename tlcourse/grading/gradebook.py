"""Marks into the LMS: a roster, Canvas's and Moodle's gradebook import files, a per-exercise CSV.

The roster (``--roster FILE``) is a CSV with the header ``folder,name,id,sis_id,email,section``:
the student's submission folder and the identities the LMS keys on. ``--lms canvas`` writes
``OUT/gradebook-canvas.csv`` in the columns of Canvas's gradebook import (``Student``, ``ID``,
``SIS User ID``, ``SIS Login ID``, ``Section``, one column per lesson, and the ``Points Possible``
row Canvas exports); ``--lms moodle`` writes ``OUT/gradebook-moodle.csv`` for Moodle's "Import
grades from CSV" (``ID number`` and ``Email address`` to map users on, one column per lesson).
Both come with ``OUT/exercises.csv``: one row per student, one column per exercise.

Nobody is dropped silently: folders that are not on the roster and roster entries without a
folder are printed and written to ``OUT/roster-report.txt``; the latter get 0 points (nothing
was submitted) in the gradebook.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from tlcourse.checks import exercises_of, lessons
from tlcourse.errors import CourseError
from tlcourse.grading.judge import max_points
from tlcourse.grading.report import csv_cell

ROSTER_COLUMNS = ["folder", "name", "id", "sis_id", "email", "section"]
LMS = ("canvas", "moodle")
CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
MOODLE_COLUMNS = ["Full name", "ID number", "Email address"]


@dataclass(frozen=True)
class Student:
    folder: str
    name: str
    id: str
    sis_id: str
    email: str
    section: str


def read_roster(path: Path) -> list[Student]:
    """The roster's students, in file order; a CourseError naming the line for anything malformed."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")  # Excel writes a BOM
    except (OSError, UnicodeDecodeError) as err:
        raise CourseError(f"cannot read the roster {path}: {err}") from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if header != ROSTER_COLUMNS:
        raise CourseError(f"the roster {path} must start with the header {','.join(ROSTER_COLUMNS)}; it has {header}")
    students, seen = [], set()
    for line, row in enumerate(reader, start=2):
        if None in row or any(v is None for v in row.values()):
            raise CourseError(f"{path}, line {line}: expected {len(ROSTER_COLUMNS)} columns")
        student = Student(*(row[c].strip() for c in reader.fieldnames))
        if not student.folder:
            raise CourseError(f"{path}, line {line}: the folder column is empty")
        if student.folder in seen:
            raise CourseError(f"{path}, line {line}: folder {student.folder!r} is on the roster twice")
        seen.add(student.folder)
        students.append(student)
    return students


def lesson_title(lesson: str) -> str:
    """A gradebook column per lesson, e.g. ``Lesson 04 fine tuning strategies``."""
    number, _, words = lesson.partition("_")
    return f"Lesson {number} {words.replace('_', ' ')}"


def _totals(results) -> dict[str, dict[str, float]]:
    """student folder -> lesson -> points."""
    totals: dict[str, dict[str, float]] = {}
    for r in results:
        totals.setdefault(r.student, {})[r.lesson] = sum(fb.points for fb in r.feedback)
    return totals


def _write(rows: list[list], first: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(first)
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
    return buffer.getvalue()


def _points(value: float) -> str:
    return f"{value:g}"


def write_gradebook(results, roster: list[Student], lms: str | None, out: Path) -> list[str]:
    """Write the LMS file (if ``lms``), ``exercises.csv`` and the roster report; returns the report lines."""
    from tlcourse.cache import atomic_write_bytes

    folders = {r.student for r in results}
    on_roster = {s.folder for s in roster}
    report = [f"not on the roster (graded, but in no gradebook file): {f}" for f in sorted(folders - on_roster)]
    report += [
        f"on the roster without a submission folder (0 points): {s.folder}" for s in roster if s.folder not in folders
    ]
    totals = _totals(results)
    names = lessons()
    maxima = {lesson: sum(max_points(ex) for ex in exercises_of(lesson)) for lesson in names}
    scores = [[_points(totals.get(s.folder, {}).get(lesson, 0.0)) for lesson in names] for s in roster]
    if lms == "canvas":
        rows = [["    Points Possible", "", "", "", "", *(_points(maxima[lesson]) for lesson in names)]]
        rows += [[s.name, s.id, s.sis_id, s.email, s.section, *score] for s, score in zip(roster, scores)]
        atomic_write_bytes(
            out / "gradebook-canvas.csv", _write(rows, CANVAS_COLUMNS + [lesson_title(n) for n in names]).encode()
        )
    elif lms == "moodle":
        rows = [[s.name, s.sis_id, s.email, *score] for s, score in zip(roster, scores)]
        atomic_write_bytes(
            out / "gradebook-moodle.csv", _write(rows, MOODLE_COLUMNS + [lesson_title(n) for n in names]).encode()
        )
    elif lms is not None:
        raise CourseError(f"unknown LMS {lms!r}: use one of {', '.join(LMS)}")
    exercises = [ex for lesson in names for ex in exercises_of(lesson)]
    points = {(r.student, fb.exercise): fb.points for r in results for fb in r.feedback}
    rows = [
        [s.folder, s.name, s.id, s.sis_id, *(_points(points.get((s.folder, ex.id), 0.0)) for ex in exercises)]
        for s in roster
    ]
    header = ["folder", "name", "id", "sis_id"] + [f"{ex.id} ({max_points(ex):g})" for ex in exercises]
    atomic_write_bytes(out / "exercises.csv", _write(rows, header).encode())
    atomic_write_bytes(out / "roster-report.txt", ("\n".join(report) + "\n" if report else "").encode())
    return report
