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


MAX_LABEL_BYTES = 200  # a label is a file name too (feedback/<label>.md): well under 255 bytes


def safe_name(name: str) -> str:
    """A student folder name as a label safe in file names, CSV and Markdown, one-to-one with the name.

    ASCII letters and digits and ``-_`` stay; every other character is %-encoded (UTF-8): no two
    names give the same label, and a label holds no link or address (``.``, ``:``, ``/`` and ``@``
    are encoded), no control or bidi character, nor a look-alike letter (``а``, Cyrillic, is not
    ``a``). A label longer than ``MAX_LABEL_BYTES`` keeps its start and ends in ``~`` and a hash of
    the whole name (``~`` never appears in a label otherwise), so it stays one-to-one (two names
    differing only after the cut get different suffixes).
    """
    out = []
    for c in name:
        if (c.isascii() and c.isalnum()) or c in "-_":
            out.append(c)
        else:
            out.append("".join(f"%{b:02X}" for b in c.encode("utf-8", "surrogateescape")))
    label = "".join(out) or "%00"
    if len(label) <= MAX_LABEL_BYTES:
        return label
    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    cut = MAX_LABEL_BYTES - 17
    while "%" in label[cut - 2 : cut]:  # never inside a %XX
        cut = label.rindex("%", 0, cut)
    return label[:cut] + "~" + digest


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


PARSER = Path(__file__).with_name("nbparse.py")
PARSE_MEMORY = 1 * 2**30  # address space of the parsing process
PARSE_CPU_SECONDS = 20
PARSE_SECONDS = 40  # wall clock (a busy machine)
MAX_PARSED = 16 * 2**20  # bytes of the parser's output (its caps keep it far below)


def _parser_limits() -> None:
    import resource

    for limit, value in ((resource.RLIMIT_AS, PARSE_MEMORY), (resource.RLIMIT_CPU, PARSE_CPU_SECONDS)):
        try:
            resource.setrlimit(limit, (value, value))
        except (ValueError, OSError):
            pass


def parse_notebook(data: bytes, name: str) -> Submission:
    """A notebook from bytes; the reason in a few words (never its contents) when it is not one.

    The bytes are parsed in a separate, limited process (``nbparse``): what comes back is only the
    cells' types, sources and tags, so a notebook built to exhaust a JSON parser (millions of
    objects, deep nesting) costs that process its limits, never the grader its memory.
    """
    import subprocess
    import sys

    try:
        proc = subprocess.run(
            [sys.executable, "-I", "-S", str(PARSER)],
            input=data,
            capture_output=True,
            timeout=PARSE_SECONDS,
            preexec_fn=_parser_limits,
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        )
    except subprocess.TimeoutExpired:
        return Submission("invalid", f"{name} could not be read in {PARSE_SECONDS} s: is it a notebook?")
    try:
        if proc.returncode != 0 or len(proc.stdout) > MAX_PARSED:
            raise ValueError
        stripped = json.loads(proc.stdout)
    except ValueError:
        return Submission("invalid", f"{name} is too large or too complex to read as a notebook")
    if "error" in stripped:
        return Submission("invalid", f"{name} is not a notebook we can grade ({stripped['error']})")
    nb = nbformat.v4.new_notebook()
    for cell in stripped["cells"]:
        kind, source = cell["cell_type"], cell["source"]
        new = {"code": nbformat.v4.new_code_cell, "markdown": nbformat.v4.new_markdown_cell}.get(
            kind, nbformat.v4.new_raw_cell
        )(source)
        new.metadata["tags"] = list(cell["tags"])
        nb.cells.append(new)
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
    from tlcourse import manifest
    from tlcourse.errors import CourseError
    from tlcourse.release import checkout_root
    from tlcourse.studentcopy import student_copy

    try:
        solutions = checkout_root() / "solutions"
    except CourseError:
        return {}
    return {
        path.stem: cells_fingerprint(student_copy(nbformat.read(path, as_version=4)))
        for path in manifest.notebooks_in(solutions)
    }


def unchanged_release(submission: Submission, lesson: str) -> bool:
    """Whether ``submission`` is ``lesson``'s released student copy with nothing written in it."""
    released = released_fingerprints().get(lesson)
    return bool(released) and submission.notebook is not None and cells_fingerprint(submission.notebook) == released
