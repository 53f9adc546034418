"""Gradebook files against the columns Canvas and Moodle document; the roster never drops anyone."""

import csv

import pytest

from tlcourse.checks import Feedback, exercises_of, lessons
from tlcourse.errors import CourseError
from tlcourse.grading import NotebookResult
from tlcourse.grading.gradebook import (
    CANVAS_COLUMNS,
    MOODLE_COLUMNS,
    ROSTER_COLUMNS,
    lesson_title,
    read_roster,
    write_gradebook,
)
from tlcourse.grading.judge import max_points
from tlcourse.grading.runner import NotebookRun

ROSTER = """folder,name,id,sis_id,email,section
ada,"Lovelace, Ada",101,S-1,ada@uni.example,A
bob,"=HYPERLINK(""x"")",102,S-2,bob@uni.example,B
cyd,"Cyd, Absent",103,S-3,cyd@uni.example,A
"""


def _results(student: str, points: float) -> list[NotebookResult]:
    """Every lesson of ``student``, each exercise at ``points`` (capped at its maximum)."""
    out = []
    for lesson in lessons():
        feedback = [
            Feedback(ex.id, ex.title, min(points, max_points(ex)), max_points(ex), "pass")
            for ex in exercises_of(lesson)
        ]
        out.append(NotebookResult(student, lesson, NotebookRun(), feedback))
    return out


@pytest.fixture
def written(tmp_path):
    (tmp_path / "roster.csv").write_text(ROSTER)
    roster = read_roster(tmp_path / "roster.csv")
    results = _results("ada", 100) + _results("bob", 1) + _results("eve", 1)  # eve: not on the roster
    report = {lms: write_gradebook(results, roster, lms, tmp_path) for lms in ("canvas", "moodle")}
    return tmp_path, report["canvas"]


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_canvas_file_has_its_columns_points_possible_and_one_column_per_lesson(written):
    out, _ = written
    rows = _rows(out / "gradebook-canvas.csv")
    assert rows[0] == CANVAS_COLUMNS + [lesson_title(n) for n in lessons()]
    assert rows[1][0].strip() == "Points Possible"
    maxima = [sum(max_points(ex) for ex in exercises_of(n)) for n in lessons()]
    assert [float(v) for v in rows[1][5:]] == maxima
    ada = rows[2]
    assert ada[:5] == ["Lovelace, Ada", "101", "S-1", "ada@uni.example", "A"]
    assert [float(v) for v in ada[5:]] == maxima  # full marks, lesson by lesson
    assert rows[3][1] == "102" and [float(v) for v in rows[3][5:]] == [len(exercises_of(n)) for n in lessons()]
    assert rows[3][0].startswith("'=")  # a name a spreadsheet would run as a formula is made text
    assert rows[4][:2] == ["Cyd, Absent", "103"] and all(float(v) == 0 for v in rows[4][5:])


def test_moodle_file_maps_users_by_id_number_and_email(written):
    out, _ = written
    rows = _rows(out / "gradebook-moodle.csv")
    assert rows[0] == MOODLE_COLUMNS + [lesson_title(n) for n in lessons()]
    assert rows[1][1:3] == ["S-1", "ada@uni.example"] and len(rows) == 4  # header + the roster's three


def test_nobody_is_dropped_silently(written):
    out, report = written
    assert any("not on the roster" in line and line.endswith("eve") for line in report)
    assert any("without a submission" in line and line.endswith("cyd") for line in report)
    assert (out / "roster-report.txt").read_text().count("\n") == 2
    exercises = _rows(out / "exercises.csv")
    assert exercises[0][:4] == ["folder", "name", "id", "sis_id"] and len(exercises[0]) == 4 + sum(
        len(exercises_of(n)) for n in lessons()
    )


@pytest.mark.parametrize(
    "text, message",
    [
        ("name,folder\nx,y\n", "must start with the header"),
        (",".join(ROSTER_COLUMNS) + "\nada,A,1,2,3\n", "line 2"),
        (",".join(ROSTER_COLUMNS) + "\nada,A,1,2,3,4\nada,B,5,6,7,8\n", "twice"),
        (",".join(ROSTER_COLUMNS) + "\n,A,1,2,3,4\n", "folder column is empty"),
    ],
)
def test_a_malformed_roster_is_refused_naming_the_problem(tmp_path, text, message):
    (tmp_path / "roster.csv").write_text(text)
    with pytest.raises(CourseError, match=message):
        read_roster(tmp_path / "roster.csv")


def test_a_roster_saved_by_excel_with_a_bom_reads(tmp_path):
    (tmp_path / "roster.csv").write_bytes(b"\xef\xbb\xbf" + ROSTER.encode())
    assert [s.folder for s in read_roster(tmp_path / "roster.csv")] == ["ada", "bob", "cyd"]
