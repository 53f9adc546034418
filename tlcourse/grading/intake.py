"""Taking in a class's submissions without trusting a byte of them.

One folder per student, holding lesson notebooks under their ``lessons/`` names (directly or in a
``lessons/`` subfolder). Symbolic links (a notebook, the ``lessons`` folder, the student's folder)
are refused with the reason, never followed; only regular files under a size cap are read (the
apparent and the allocated size are both checked before a byte is read, so a huge sparse file
costs nothing); only notebooks are read, nothing else is copied anywhere; error messages never
quote a file's contents. Student folder names become safe labels (``safe_name``) wherever they
are written.

A notebook whose cells are the released student copy's, unchanged (``unchanged_release``), is
recognised here, from its text alone: it has nothing to grade, so it is never run (a class hands
in many of them, and each run costs tens of seconds). Only zero marks can follow from that match.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import nbformat

MAX_NOTEBOOK_BYTES = 32 * 2**20


@dataclass
class Submission:
    """One student's notebook for one lesson: the parsed notebook, or why there is none."""

    status: str  # ok | missing | refused | invalid
    message: str = ""
    notebook: nbformat.NotebookNode | None = None
    digest: str = ""  # sha256 of the bytes read: a stored result is reused only for the same bytes


def safe_name(name: str) -> str:
    """A student folder name as a label safe in file names, CSV and Markdown (reversible).

    Letters, digits and ``-_.@`` stay; every other character is %-encoded (UTF-8), as is a leading
    dot, so two different folders never get the same label.
    """
    out = []
    for i, c in enumerate(name):
        if (c.isalnum() and c.isprintable()) or (c in "-_@" or (c == "." and i > 0)):
            out.append(c)
        else:
            out.append("".join(f"%{b:02X}" for b in c.encode("utf-8", "surrogateescape")))
    return "".join(out)[:200] or "%00"


def student_folders(submissions: Path) -> tuple[list[tuple[str, Path]], list[str]]:
    """``([(folder name, path)], [notes])``: every entry that stands for a student, sorted.

    Hidden entries (starting with a dot) and plain files are skipped with a note; a symbolic link
    still stands for a student (who is then graded as refused).
    """
    students, notes = [], []
    with os.scandir(submissions) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.name.startswith("."):
                continue
            if entry.is_symlink() or entry.is_dir(follow_symlinks=False):
                students.append((entry.name, Path(entry.path)))
            else:
                notes.append(f"skipped {safe_name(entry.name)}: not a folder")
    return students, notes


def _refuse_link(path: Path, what: str) -> Submission | None:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError:
        return Submission("refused", f"{what} cannot be read")
    if stat.S_ISLNK(info.st_mode):
        return Submission("refused", f"{what} is a symbolic link: submit the file itself, not a link")
    return None


def find_submission(student_dir: Path, lesson: str) -> Submission:
    """The student's notebook for ``lesson``, read and parsed, or why it cannot be."""
    refused = _refuse_link(student_dir, "your submission folder")
    if refused:
        return refused
    name = f"{lesson}.ipynb"
    refused = _refuse_link(student_dir / "lessons", "your lessons folder")
    candidates = [student_dir / name] + ([] if refused else [student_dir / "lessons" / name])
    for path in candidates:
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            continue
        except OSError:
            return Submission("refused", f"{name} cannot be read")
        if stat.S_ISLNK(info.st_mode):
            return Submission("refused", f"{name} is a symbolic link: submit the notebook itself, not a link")
        if not stat.S_ISREG(info.st_mode):
            return Submission("refused", f"{name} is not a regular file")
        if info.st_size > MAX_NOTEBOOK_BYTES or info.st_blocks * 512 > MAX_NOTEBOOK_BYTES + 2**20:
            return Submission(
                "refused", f"{name} is larger than {MAX_NOTEBOOK_BYTES // 2**20} MB: clear its outputs and submit again"
            )
        return _read(path, info, name)
    if refused:
        return refused
    return Submission("missing", f"{name} was not submitted")


def _read(path: Path, info: os.stat_result, name: str) -> Submission:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return Submission("refused", f"{name} cannot be opened")
    try:
        opened = os.fstat(fd)
        if (opened.st_ino, opened.st_dev) != (info.st_ino, info.st_dev) or not stat.S_ISREG(opened.st_mode):
            return Submission("refused", f"{name} changed while it was being read")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(MAX_NOTEBOOK_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_NOTEBOOK_BYTES:
        return Submission("refused", f"{name} is larger than {MAX_NOTEBOOK_BYTES // 2**20} MB")
    submission = parse_notebook(data, name)
    submission.digest = hashlib.sha256(data).hexdigest()
    return submission


def parse_notebook(data: bytes, name: str) -> Submission:
    """A notebook from bytes; the reason in a few words (never its contents) when it is not one."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return Submission("invalid", f"{name} is not a notebook (not UTF-8 text)")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        return Submission("invalid", f"{name} is not a notebook (not valid JSON, line {err.lineno})")
    except RecursionError:
        return Submission("invalid", f"{name} is not a notebook (nested too deeply)")
    if not isinstance(raw, dict) or not isinstance(raw.get("cells"), list) or raw.get("nbformat") != 4:
        return Submission("invalid", f"{name} is not a Jupyter notebook in nbformat 4")
    if not isinstance(raw.get("metadata", {}), dict):
        raw["metadata"] = {}
    try:
        nb = nbformat.from_dict(raw)
        for cell in nb.cells:
            if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
                raise ValueError
            source = cell.get("source", "")
            cell["source"] = "".join(source) if isinstance(source, list) else source
            if not isinstance(cell["source"], str) or not all(
                isinstance(s, str) for s in (source if isinstance(source, list) else [])
            ):
                raise ValueError
            if not isinstance(cell.get("metadata", {}), dict):
                cell["metadata"] = {}
            cell.setdefault("metadata", {})
            tags = cell["metadata"].get("tags")
            cell["metadata"]["tags"] = [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []
            if cell["cell_type"] == "code":
                cell["outputs"], cell["execution_count"] = [], None
    except (ValueError, TypeError, AttributeError):
        return Submission("invalid", f"{name} is not a Jupyter notebook (a cell is malformed)")
    return Submission("ok", notebook=nb)


def cells_fingerprint(nb) -> str:
    """What a student wrote in a notebook: every code and markdown cell's text, in order.

    Outputs, execution counts, cell ids and metadata are left out: running the released copy, or
    saving it with another Jupyter, changes none of what was written.
    """
    cells = [[c.get("cell_type"), c.get("source", "")] for c in nb.cells if c.get("cell_type") in ("code", "markdown")]
    return hashlib.sha256(json.dumps(cells).encode()).hexdigest()


@functools.cache
def released_fingerprints() -> dict[str, str]:
    """``{lesson: fingerprint}`` of each student copy as ``tlcourse lessons`` generates it from the masters.

    Empty where this installation has no masters (then every notebook is run, as before).
    """
    from tlcourse.errors import CourseError
    from tlcourse.release import checkout_root
    from tlcourse.studentcopy import student_copy

    try:
        solutions = checkout_root() / "solutions"
    except CourseError:
        return {}
    return {
        path.stem: cells_fingerprint(student_copy(nbformat.read(path, as_version=4)))
        for path in sorted(solutions.glob("[0-9]*.ipynb"))
    }


def unchanged_release(submission: Submission, lesson: str) -> bool:
    """Whether ``submission`` is ``lesson``'s released student copy with nothing written in it."""
    released = released_fingerprints().get(lesson)
    return bool(released) and submission.notebook is not None and cells_fingerprint(submission.notebook) == released
