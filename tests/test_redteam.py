"""The grader against a hostile class: one submission per attack, each must get exactly its honest score.

Every hostile notebook is a short lesson-2 submission: honest answers where the attack should not
matter, deliberately wrong ones where only the attack could earn points. The batch runs once, as
an instructor would run it (the CLI, two jobs, a secret in the environment, a root-only key file
on disk), then each test reads one thing off it: the marks, the files, the processes left.
Attack classes follow issue 11 / ../shared/notes/grading-threat-model.md; issue 28 added a class of
attacks each (``MORE_HOSTILE``: claims written in the kernel, resources outside the box, root's file
rights, outputs), written against the grader before its fix and kept here.
"""

from __future__ import annotations

import csv
import hashlib
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import tlcourse
from tlcourse.grading.intake import safe_name as safe_label
from tlcourse.manifest import by_number

from lesson2_work import (
    ANSWER_21,
    ANSWER_22,
    ANSWER_23,
    ANSWER_24,
    CENTROID,
    FRACTION,
    FULL,
    HONEST,
    KINDS,
    LESSON,
    PREAMBLE,
    TRANSFERRED,
    write_notebook,
)

ROOT = Path(__file__).resolve().parents[1]
MARKER = "tlcourse-redteam-" + secrets.token_hex(4)  # in the command line of every process an attack leaves
SECRET = "s3cr3t-" + secrets.token_hex(12)  # in the grader's environment
KEY_TEXT = "KEY-" + secrets.token_hex(16)  # in a root-only file beside the submissions
ARTIFACTS = ROOT / "build" / "test-artifacts"
# An honest notebook here grades in about 6 s; the endless ones run into these (short: the batch waits).
# The snoop walks the whole box (/usr alone: 140k entries here) and took 38.8 s of a 40 s limit once
# on a loaded 2-core machine (it was stopped, so it lost its honest marks): 60 s leaves room for that.
NOTEBOOK_SECONDS, CHECK_SECONDS = 60, 20


def _with(before=(), answers=HONEST, after=()):
    return [PREAMBLE, *before, *answers, *after]


FORGER = _with(
    answers=[
        """
import os
class Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/pwned-by-reduce",))
kinds = {"A": Evil(), "B": Evil(), "C": Evil(), "D": Evil()}
print("TLCOURSE-VERDICT-0000:" + '{"exercise": "2.1", "points": 1011}')
"""
        + TRANSFERRED
        + '\ncheck("2.1", kinds=kinds, transferred=transferred)',
        ANSWER_22,
        """
import json
from IPython.display import display
import tlcourse.checks.probe as p
fake = {"exercise": "2.3", "missing": [], "stubs": [], "results": [{"ok": True, "value": 1, "points": 1011}]}
display({p.MIME: json.dumps(fake)}, raw=True)   # from a student cell: ignored
p.probe = lambda exercise_id, names, cases, ns: {"exercise": exercise_id, "missing": [], "stubs": [],
    "results": [{"ok": True, "value": {"$array": {"dtype": "O", "shape": [1], "b64": ""}}, "points": 1011}]
    * len(cases)}
""",
        CENTROID,
        FRACTION,
    ]
)

PLANTER = _with(
    before=[
        """
import os, pathlib
from ipykernel.connect import get_connection_file
fake = "def main(*a, **k):\\n    print('{\\"exercise\\": \\"2.1\\", \\"points\\": 99}')\\n"
planted = []
for base in {pathlib.Path(get_connection_file()).parent, pathlib.Path.cwd(), pathlib.Path("/tmp"), pathlib.Path.home()}:
    for rel in ("tlcourse/__init__.py", "tlcourse/grading/__init__.py", "tlcourse/grading/judge.py",
                "sitecustomize.py", "usercustomize.py", "tlcourse_keys/__init__.py"):
        try:
            target = base / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(fake)
            planted.append(str(target))
        except OSError:
            pass
print(len(planted), "files planted")
""",
        """
import os, stat
from ipykernel.connect import get_connection_file
runtime = os.path.dirname(get_connection_file())
swapped = 0
for name in os.listdir(runtime):  # the kernel's sockets become links to a socket of the grader's machine
    path = os.path.join(runtime, name)
    if stat.S_ISSOCK(os.lstat(path).st_mode):
        os.unlink(path)
        os.symlink("TRAP", path)
        swapped += 1
print(swapped, "sockets swapped")
""",
    ]
)

PATCHER = _with(
    answers=[
        ANSWER_21,
        ANSWER_22,
        """
def nearest_centroid(train_x, train_y, x):
    import tlcourse.checks as c
    c.Marker.criterion.__code__ = (lambda self, ok, right, wrong, points=1.0: True).__code__
    c.verdict = lambda *a, **k: c.Feedback("2.3", "", 99, 3, "pass")
    train_x, train_y, x = np.asarray(train_x, float), np.asarray(train_y), np.asarray(x, float)
    labels = np.unique(train_y)
    centroids = np.stack([train_x[train_y == label].mean(axis=0) for label in labels])
    return labels[np.argmin(((x[:, None, :] - centroids[None]) ** 2).sum(-1), axis=1)]
check("2.3", nearest_centroid=nearest_centroid)""",
        """
def trainable_fraction(model):
    import tlcourse.checks as c
    c.Marker.criterion = lambda self, ok, right, wrong, points=1.0: setattr(self, "points", 99) or True
    return 1000.0
check("2.4", trainable_fraction=trainable_fraction)""",
    ]
)

LIAR = _with(
    answers=[
        """
import builtins
class Equal(str):
    def __eq__(self, other): return True
    __hash__ = str.__hash__
class Yes(float):
    def __eq__(self, other): return True
    def __sub__(self, other): return 0.0
    __rsub__ = __sub__
    __hash__ = float.__hash__
builtins.abs = lambda x: 0.0
np.allclose = np.array_equal = lambda *a, **k: True
kinds = {k: Equal("anything") for k in "ABCD"}
"""
        + TRANSFERRED
        + '\ncheck("2.1", kinds=kinds, transferred=transferred)',
        ANSWER_22,
        """
def nearest_centroid(train_x, train_y, x):
    return np.array([Equal("x") for _ in range(len(x))], dtype=object)
check("2.3", nearest_centroid=nearest_centroid)""",
        """
def trainable_fraction(model):
    return Yes(0.5)
check("2.4", trainable_fraction=trainable_fraction)""",
    ]
)

SNOOP = _with(
    answers=[
        """
import glob, json, os, pathlib
found = []
for attempt in ("import tlcourse_keys", "from tlcourse.checks.lesson02 import KINDS",
                "from tlcourse_keys.lesson02 import KINDS", "import tlcourse.checks.hidden"):
    try:
        exec(attempt)
        found.append(attempt)
    except Exception:
        pass
for top, dirs, files in os.walk("/"):
    dirs[:] = [d for d in dirs if top != "/" or d not in ("proc", "sys", "dev")]
    wanted = ("tlcourse_keys", "solutions", "hidden.py")
    found += [os.path.join(top, n) for n in dirs + files if n in wanted]
    for n in files:
        if n.endswith((".py", ".json")) and "tlcourse" in top:
            try:
                if "differs from the source task (1000" in open(os.path.join(top, n)).read():
                    found.append(os.path.join(top, n))
            except OSError:
                pass
for pattern in ("SUBMISSIONS/*/*.ipynb", "OUT/*", "ROOT/solutions/*"):
    found += glob.glob(pattern)
for path in glob.glob("/proc/*/environ"):
    try:
        if "SECRET" in open(path).read():
            found.append(path)
    except OSError:
        pass
kinds = {k: f"found {len(found)}" for k in "ABCD"}
transferred = {"A": "instances", "E": "relational", "F": "parameters"}
check("2.1", kinds=kinds, transferred=transferred)""",
        ANSWER_22,
        ANSWER_23,
        ANSWER_24,
    ]
)

# The breakout runs before the preamble imports Keras: its fork bomb tests the box's process limit either
# way, and 500 forks of a kernel that holds TensorFlow took 39 s of the batch here.
BREAKOUT = [
    f"""
import os, subprocess, pathlib
report = {{}}
def attempt(name, fn):
    try:
        fn(); report[name] = "DONE"
    except Exception as err:
        report[name] = type(err).__name__
for cmd in (["umount", "-l", "/usr"], ["mount", "-o", "remount,rw", "/"], ["mount", "-t", "tmpfs", "x", "/usr"]):
    attempt(" ".join(cmd), lambda cmd=cmd: subprocess.run(cmd, check=True, capture_output=True))
for path in ("SUBMISSIONS/worked/{LESSON}.ipynb", "OUT/grades.csv", "ROOT/README.md", "ROOT/tlcourse/__init__.py",
             "/tmp/{MARKER}", "/dev/shm/{MARKER}", str(pathlib.Path(tlcourse_file := __import__("tlcourse").__file__))):
    attempt("write " + path, lambda path=path: pathlib.Path(path).write_text("owned"))
attempt("rm checkout", lambda: __import__("shutil").rmtree("ROOT/solutions"))
attempt("setsid", lambda: subprocess.Popen(["setsid", "sh", "-c", "sleep 30; echo 0 > OUT/grades.csv #{MARKER}"]))
attempt("nohup", lambda: subprocess.Popen(["sh", "-c", "exec sleep 3600 #{MARKER}"], start_new_session=True))
children = []
for _ in range(3000):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        import time
        time.sleep(3600)
        os._exit(0)
    children.append(pid)
report["forks"] = len(children)
for pid in children:  # the limit held; give the kernel its threads back for the honest answers
    os.kill(pid, 9)
    os.waitpid(pid, 0)
print(report)
""",
    *_with(),
]

KILLER = _with(
    answers=[
        ANSWER_21,
        "import os, signal\ntry:\n    os.kill(-1, signal.SIGKILL)  # everything it may signal: only its own box\n"
        "except OSError:\n    pass\nos.kill(os.getpid(), signal.SIGKILL)",
        ANSWER_22,
        ANSWER_23,
        ANSWER_24,
    ]
)

DOTTER = _with(
    answers=[
        ANSWER_21,
        ANSWER_22,
        """
import time
def nearest_centroid(train_x, train_y, x):
    while True:
        try:
            print(".", end="", flush=True)
            time.sleep(0.5)
        except BaseException:
            pass
check("2.3", nearest_centroid=nearest_centroid)""",
        ANSWER_24,
    ]
)

LEAKER = _with(
    answers=[
        KINDS + '\nimport os\ntransferred = {k: os.environ.get("TLCOURSE_REDTEAM_SECRET", "none") for k in "AEF"}'
        '\ncheck("2.1", kinds=kinds, transferred=transferred)',
        ANSWER_22,
        ANSWER_23,
        ANSWER_24,
    ],
    after=[
        "import os\nprint(dict(os.environ))\nprint(open('/proc/self/environ').read(), open('/proc/1/environ').read())",
        "raise RuntimeError(str(dict(os.environ)))",
        "raise RuntimeError(open('KEYFILE').read())",
    ],
)

HOG = _with(
    answers=[
        ANSWER_21,
        f"""
import os, time
with open("/dev/shm/fill-{MARKER}", "wb") as f:
    for _ in range(1536):
        f.write(b"x" * 2**20)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        held = bytearray(1536 * 2**20)
        for i in range(0, len(held), 4096):
            held[i] = 1
        time.sleep(3600)
    os._exit(0)
time.sleep(30)
""",
        ANSWER_22,
        ANSWER_23,
        ANSWER_24,
    ]
)

HOSTILE = {
    "forger": (FORGER, {"2.1": 2, "2.2": 4, "2.3": 0, "2.4": 0}),
    "planter": (PLANTER, FULL),
    "patcher": (PATCHER, {"2.1": 4, "2.2": 4, "2.3": 3, "2.4": 0}),
    "liar": (LIAR, {"2.1": 2, "2.2": 4, "2.3": 0, "2.4": 0}),
    "snoop": (SNOOP, {"2.1": 0, "2.2": 4, "2.3": 3, "2.4": 3}),
    "breakout": (BREAKOUT, FULL),
    "killer": (KILLER, {"2.1": 4, "2.2": 0, "2.3": 0, "2.4": 0}),
    "dotter": (DOTTER, {"2.1": 4, "2.2": 4, "2.3": 0, "2.4": 0}),
    "leaker": (LEAKER, {"2.1": 2, "2.2": 4, "2.3": 3, "2.4": 3}),
    "hog": (HOG, {"2.1": 4, "2.2": 0, "2.3": 0, "2.4": 0}),
}
# --------------------------------------------------------------------------- issue 28's attacks
# Each is a student who did no work (or honest work) and attacks one more part of the grader.

ROOT_KEY = "ROOTKEY-" + secrets.token_hex(12)  # in a root-only (0600) file on a path the box can see
L1, L3, L4, L5, L6 = (
    by_number(1).name,
    by_number(3).name,
    by_number(4).name,
    by_number(5).name,
    by_number(6).name,
)
FORGE_OBSERVERS = """
import numpy as np
import keras
import tlcourse.checks.probe as probe
from tlcourse.checks import check

def forge(make_report):  # whatever the kernel reports about the student's objects, make it say "all right"
    class Forged:
        def before(self, args):
            return None
        def after(self, args, returned, state):
            return make_report(args)
    for name in list(getattr(probe, "OBSERVERS", {})):
        probe.OBSERVERS[name] = Forged
    run_case = probe.run_case
    def forged_run_case(case, namespace, *a, **k):
        outcome = run_case(case, namespace, *a, **k)
        if case.get("after"):  # artefacts of the arguments after the call: claim they came back untouched
            outcome["after"] = probe.plain.encode(case.get("args"))
        return outcome
    probe.run_case = forged_run_case
"""
CLAIMER = {  # no work at all, and every report of the kernel forged: a mark here is a mark for a claim
    L3: [
        FORGE_OBSERVERS,
        "forge(lambda args: True)\ndef lite_preprocess(pixels):\n    return 0\n"
        'check("3.2", lite_preprocess=lite_preprocess)',
    ],
    L4: [
        FORGE_OBSERVERS,
        """
from tlcourse.freeze import block_of, find_base
def ideal(args):
    model, blocks, lr = args[0], set(args[1]), args[2]
    rows = []
    for layer in find_base(model).layers:
        if layer.weights:
            bn = isinstance(layer, keras.layers.BatchNormalization)
            trains = block_of(layer.name) in blocks and not bn
            rows.append([layer.name, bn, trains, trains, trains])
    return {"layers": rows, "head_trainable": 2, "new_optimizer": True, "learning_rate": lr / 30,
            "changed": True, "moved": [r[0] for r in rows if r[2]], "fit_error": None}
forge(ideal)
def prepare_fine_tuning(model, train_blocks, head_lr):
    return 0
check("4.3", prepare_fine_tuning=prepare_fine_tuning)""",
    ],
    L5: [
        FORGE_OBSERVERS,
        """
import tlcourse.checks.lesson05 as l5
def ideal(args):
    seed, k = getattr(args[0][0], "_tlcourse_probe", {}).get("seed", 0), int(args[1])
    labels = l5.toy_task(seed, getattr(l5, "TOY_TEST", 48), k, "test")[1]  # the held-out labels, regenerated
    return {"model": True, "base_inside": True, "base_trainable_weights": 0, "probabilities": np.eye(k)[labels],
            "predict_error": None, "head_trainable_weights": 2, "base_changed": 0}
forge(ideal)
def build_and_train_head(backbone, num_classes, x_train, y_train, epochs, *more):
    return 0
check("5.5", build_and_train_head=build_and_train_head)""",
    ],
    L6: [
        FORGE_OBSERVERS,
        """
forge(lambda args: {"model": True, "base_inside": True, "base_trainable_weights": 0, "features": None,
                    "predict_error": None})
def feature_extractor(backbone):
    return 0
check("6.5", feature_extractor=feature_extractor)""",
    ],
}
FLOODER = _with(  # honest, but from 2.4 on its probe also sends 96 reports of 4 MB each
    answers=[
        ANSWER_21,
        ANSWER_22,
        ANSWER_23,
        """
import json
from IPython.display import display
import tlcourse.checks.probe as p
real = p.grading_probe
def flood(exercise_ids, namespace, cases_file, final=False):
    if "2.4" in exercise_ids:
        blob = "x" * (4 * 2**20)
        for _ in range(96):
            display({p.MIME: json.dumps({"exercise": "2.4", "pad": blob})}, raw=True)
    real(exercise_ids, namespace, cases_file, final)
p.grading_probe = flood
""",
        ANSWER_24,
    ]
)
BURNER = {  # a model that fits the parameter budget and costs the judge minutes (and gigabytes) to call
    L1: [
        "import keras\nfrom tlcourse.checks import check",
        """
small_cnn = keras.Sequential(
    [keras.Input((128, 128, 3)), keras.layers.Resizing(1536, 1536)]
    + [keras.layers.Conv2D(48, 3, padding="same", activation="relu") for _ in range(24)]
    + [keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2, activation="softmax")]
)  # no check() here: in the notebook the student's own kernel would pay (and run out of memory)""",
    ]
}
FILLER = _with(  # honest, and it reserves gigabytes on the host's disk through the kernel's runtime folder
    before=[
        f"""
import os
from ipykernel.connect import get_connection_file
for n in range(2):
    try:
        path = os.path.join(os.path.dirname(get_connection_file()), "fill-{MARKER}-%d" % n)
        fd = os.open(path, os.O_CREAT | os.O_WRONLY)
        os.posix_fallocate(fd, 0, 3 * 2**29)
        os.close(fd)
    except OSError as err:
        print(type(err).__name__)
"""
    ]
)
ROOT_READER = _with(
    answers=[
        KINDS
        + "\ntry:\n    found = open('PRIVATEPATH').read()\nexcept OSError:\n    found = 'none'\n"
        + 'transferred = {k: found for k in "AEF"}\ncheck("2.1", kinds=kinds, transferred=transferred)',
        ANSWER_22,
        ANSWER_23,
        ANSWER_24,
    ]
)
LINKS = "see https://evil.example/login or www.evil.example, mail boss@evil.example \x85\u202e\u2066gnp.exe"
LINKER = _with(  # honest but for 2.1, whose answers and errors carry links, addresses, C1 and bidi characters
    answers=[
        f'kinds = {{k: {LINKS!r} for k in "ABCD"}}\n{TRANSFERRED}\ncheck("2.1", kinds=kinds, transferred=transferred)',
        ANSWER_22,
        ANSWER_23,
        ANSWER_24,
    ],
    after=[f"raise RuntimeError({LINKS!r})"],
)
LONG = "s" * 240  # two folder names that differ only after 240 characters
MORE_HOSTILE = {  # student -> ({lesson: cells, or raw bytes}, {exercise: the honest points}); others 0
    "claimer": (CLAIMER, {}),
    "flooder": ({LESSON: FLOODER}, {"2.1": 4, "2.2": 4, "2.3": 3}),
    "burner": (BURNER, {"1.3": 3}),  # its shapes and convolutions are measured; it is never called
    "filler": ({LESSON: FILLER}, FULL),
    "rootreader": ({LESSON: ROOT_READER}, {"2.1": 2, "2.2": 4, "2.3": 3, "2.4": 3}),
    LONG + "-one": ({LESSON: LINKER}, {"2.1": 2, "2.2": 4, "2.3": 3, "2.4": 3}),
    LONG + "-two": ({LESSON: LINKER}, {"2.1": 2, "2.2": 4, "2.3": 3, "2.4": 3}),
}


def _bomb() -> bytes:
    """A notebook of 30 MB holding ten million empty JSON objects (gigabytes once parsed into objects)."""
    return b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {"x": [' + b"{}," * 10_000_000 + b'{}]}, "cells": []}'


def _deep() -> bytes:
    """A notebook nested 600 levels deep: within JSON's recursion limit, beyond what a recursive walk survives."""
    return b'{"nbformat": 4, "nbformat_minor": 5, "cells": [], "metadata": ' + b'{"a": ' * 600 + b"1" + b"}" * 601


INTAKE_BOMBS = {"bomb": _bomb, "deep": _deep}  # refused at intake as what they are, not read into the grader


WEIRD = '=1+2,"x"\n<b>'  # a folder name made to break CSV cells, Markdown and file names
REFUSED = ("link_master", "link_lessons", "link_folder", "link_key", "sparse_notebook")


def _digest(folder: Path) -> str:
    """Names, link targets and contents of everything under ``folder`` (links not followed)."""
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if "__pycache__" in p.parts:  # the grader's own Python may compile a module it imports first
            continue
        h.update(str(p.relative_to(folder)).encode())
        if p.is_symlink():
            h.update(os.readlink(p).encode())
        elif p.is_file() and p.stat().st_size < 2**24:
            h.update(p.read_bytes())
    return h.hexdigest()


def _processes_with(text: str) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if text in line and "ps -eo" not in line]


def _box_cgroups(grader_pid: int) -> list[str]:
    """The cgroups of this grader's boxes (named for its PID; another test's grader may be running)."""
    found = []
    for root in ("/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids", "/sys/fs/cgroup"):
        if os.path.isdir(root):
            found += [str(p) for p in Path(root).rglob(f"tlcourse-box-{grader_pid}-*")]
    return found


class _Watch:
    """Samples, while the grader runs, its own peak memory (VmHWM) and the free disk where it writes."""

    def __init__(self, pid: int, folder: Path):
        self.pid, self.folder = pid, folder
        self.peak_memory = 0
        self.free_before = self._free()
        self.least_free = self.free_before
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _free(self) -> int:
        st = os.statvfs(self.folder)
        return st.f_bavail * st.f_frsize

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            try:
                for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        self.peak_memory = max(self.peak_memory, int(line.split()[1]) * 1024)
            except OSError:  # it has ended
                pass
            self.least_free = min(self.least_free, self._free())

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def disk_drop(self) -> int:
        return self.free_before - self.least_free


@pytest.fixture(scope="module")
def hostile_batch(tmp_path_factory):
    base = tmp_path_factory.mktemp("redteam")
    submissions, out = base / "submissions", base / "out"
    key = base / "instructor.key"
    key.write_text(KEY_TEXT)
    key.chmod(0o600)

    trap = base / "trap.sock"  # a socket on the grader's machine that no one should ever connect to
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(trap))
    server.listen(16)
    server.settimeout(0.2)
    connections, stop = [], threading.Event()

    def accept():
        while not stop.is_set():
            try:
                connections.append(server.accept()[0])
            except OSError:
                pass

    threading.Thread(target=accept, daemon=True).start()

    from tlcourse.cache import cache_dir

    root_file = cache_dir() / f"redteam-{MARKER}.key"  # a path every box can see (read-only): root's file
    root_file.write_text(ROOT_KEY)
    root_file.chmod(0o600)

    def fill(cells):
        replace = {
            "SUBMISSIONS": str(submissions),
            "OUT": str(out),
            "ROOT": str(ROOT),
            "KEYFILE": str(key),
            "TRAP": str(trap),
            "PRIVATEPATH": str(root_file),
        }
        filled = []
        for cell in cells:
            for old, new in replace.items():
                cell = cell.replace(old, new)
            filled.append(cell)
        return filled

    (submissions / "worked").mkdir(parents=True)
    write_notebook(submissions / "worked" / f"{LESSON}.ipynb", fill(_with()))
    for student, (cells, _) in HOSTILE.items():
        (submissions / student).mkdir()
        write_notebook(submissions / student / f"{LESSON}.ipynb", fill(cells))
    for student, (notebooks, _) in MORE_HOSTILE.items():
        (submissions / student).mkdir()
        for lesson, cells in notebooks.items():
            write_notebook(submissions / student / f"{lesson}.ipynb", fill(cells))
    for student, make in INTAKE_BOMBS.items():
        (submissions / student).mkdir()
        (submissions / student / f"{LESSON}.ipynb").write_bytes(make())
    weird = submissions / WEIRD
    weird.mkdir()
    write_notebook(weird / f"{LESSON}.ipynb", fill(_with()))
    with open(weird / "big.bin", "wb") as f:  # 2 GiB apparent, nothing allocated: must never be read or copied
        f.truncate(2 * 2**30)
    (submissions / "link_master").mkdir()
    (submissions / "link_master" / f"{LESSON}.ipynb").symlink_to(ROOT / "solutions" / f"{LESSON}.ipynb")
    (submissions / "link_lessons").mkdir()
    (submissions / "link_lessons" / "lessons").symlink_to(submissions / "worked")
    (submissions / "link_folder").symlink_to(submissions / "worked")
    (submissions / "link_key").mkdir()
    (submissions / "link_key" / f"{LESSON}.ipynb").symlink_to(key)
    (submissions / "sparse_notebook").mkdir()
    with open(submissions / "sparse_notebook" / f"{LESSON}.ipynb", "wb") as f:
        f.truncate(2 * 2**30)

    watched = {
        "submissions": submissions,
        "package": Path(tlcourse.__file__).parent,
        "solutions": ROOT / "solutions",
        "keys": ROOT / "tlcourse_keys",
    }
    before = {name: _digest(path) for name, path in watched.items()}
    tmp_before, shm_before = set(os.listdir("/tmp")), set(os.listdir("/dev/shm"))
    # The grader's own temporary folders go to a folder of their own: other tests may run beside this
    # one (pytest-xdist) and write to /tmp, so what the batch leaves is read there and by name.
    grader_tmp = tmp_path_factory.mktemp("redteam-tmp")
    env = {**os.environ, "TLCOURSE_REDTEAM_SECRET": SECRET, "TMPDIR": str(grader_tmp)}
    started = time.monotonic()
    grader = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tlcourse",
            "grade",
            str(submissions),
            "--out",
            str(out),
            "--jobs",
            "2",
            "--timeout",
            str(NOTEBOOK_SECONDS),
            "--check-timeout",
            str(CHECK_SECONDS),
            "--memory-gb",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    watch = _Watch(grader.pid, grader_tmp)
    stdout, stderr = grader.communicate(timeout=1800)
    watch.stop()
    result = subprocess.CompletedProcess(grader.args, grader.returncode, stdout, stderr)
    seconds = time.monotonic() - started
    root_file.unlink()
    stop.set()
    server.close()
    left_processes = _processes_with(MARKER)
    left_cgroups = _box_cgroups(grader.pid)
    grades_right_after = (out / "grades.csv").read_text() if (out / "grades.csv").exists() else ""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "grade-redteam.txt").write_text(result.stdout + "\n--- stderr ---\n" + result.stderr[-(2**20) :])
    for name in ("grades.csv", "runs.csv"):
        if (out / name).exists():
            (ARTIFACTS / f"grade-redteam-{name}").write_text((out / name).read_text())
    (ARTIFACTS / "grade-redteam-resources.txt").write_text(
        f"grader peak memory (VmHWM): {watch.peak_memory / 2**20:.0f} MB\n"
        f"host free disk, largest drop during the batch: {watch.disk_drop / 2**20:.0f} MB\n"
        f"batch: {seconds:.1f} s\n"
    )
    time.sleep(3)  # a process left behind would now rewrite grades.csv
    with open(out / "grades.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    with open(out / "runs.csv", newline="") as f:
        all_runs = list(csv.DictReader(f))
    runs = {r["student"]: r for r in all_runs if r["notebook"] == f"{LESSON}.ipynb"}
    return {
        "result": result,
        "seconds": seconds,
        "rows": rows,
        "grades": {(r["student"], r["exercise"]): r for r in rows},
        "runs": runs,
        "out": out,
        "before": before,
        "after": {name: _digest(path) for name, path in watched.items()},
        "tmp": (tmp_before, set(os.listdir("/tmp"))),
        "grader_tmp": sorted(os.listdir(grader_tmp)),
        "shm": (shm_before, set(os.listdir("/dev/shm"))),
        "left_processes": left_processes,
        "left_cgroups": left_cgroups,
        "grades_right_after": grades_right_after,
        "trap_connections": len(connections),
        "peak_memory": watch.peak_memory,
        "disk_drop": watch.disk_drop,
        "all_runs": all_runs,
        "runs_of": lambda student, lesson: next(
            r for r in all_runs if r["student"] == student and r["notebook"] == f"{lesson}.ipynb"
        ),
    }


def _points(batch, student):
    return {ex: float(batch["grades"][(student, ex)]["points"]) for ex in FULL}


def test_the_batch_finishes_with_every_student_graded_and_exit_code_0(hostile_batch):
    result = hostile_batch["result"]
    assert result.returncode == 0, result.stderr[-3000:]
    students = {r["student"] for r in hostile_batch["rows"]}
    expected = len(HOSTILE) + len(REFUSED) + len(MORE_HOSTILE) + len(INTAKE_BOMBS) + 2
    assert {"worked", *HOSTILE, *REFUSED, "claimer", "burner", *INTAKE_BOMBS} <= students
    assert len(students) == expected, sorted(students)
    assert "isolation: bubblewrap box" in result.stdout and "by cgroup" in result.stdout


def test_honest_work_gets_full_marks(hostile_batch):
    assert _points(hostile_batch, "worked") == FULL


@pytest.mark.parametrize("student", sorted(HOSTILE))
def test_every_hostile_submission_gets_exactly_its_honest_score(hostile_batch, student):
    assert _points(hostile_batch, student) == HOSTILE[student][1], [
        hostile_batch["grades"][(student, ex)] for ex in FULL
    ]


def test_points_never_exceed_the_maximum(hostile_batch):
    for row in hostile_batch["rows"]:
        assert 0 <= float(row["points"]) <= float(row["max_points"]), row


def test_forged_reports_and_unpickling_gain_nothing(hostile_batch):
    grades = hostile_batch["grades"]
    assert "could not be read for grading" in grades[("forger", "2.3")]["message"]
    assert "Evil" in grades[("forger", "2.1")]["message"]  # an object of an unknown type: judged as data
    assert not Path("/tmp/pwned-by-reduce").exists()


def test_swapped_kernel_sockets_lead_nowhere(hostile_batch):
    assert hostile_batch["trap_connections"] == 0
    assert _points(hostile_batch, "planter") == FULL  # its kernel still answered on the sockets it had


def test_patching_the_checks_inside_the_kernel_changes_no_verdict(hostile_batch):
    assert "not a percentage" in hostile_batch["grades"][("patcher", "2.4")]["message"]


def test_lying_objects_are_judged_by_their_type(hostile_batch):
    message = hostile_batch["grades"][("liar", "2.1")]["message"]
    assert "Equal" in message and "use one of" in message


def test_answer_keys_solutions_and_other_students_are_out_of_reach(hostile_batch):
    message = hostile_batch["grades"][("snoop", "2.1")]["message"]
    assert "found 0" in message, message


def test_nothing_outside_out_changes(hostile_batch):
    assert hostile_batch["after"] == hostile_batch["before"]
    assert hostile_batch["grader_tmp"] == [], "the grader left temporary files behind"
    # Every write an attack tries outside its box is named with MARKER (or "pwned"); other tests running
    # beside this one may add their own files to /tmp and /dev/shm.
    for before, after in (hostile_batch["tmp"], hostile_batch["shm"]):
        assert not {n for n in after - before if MARKER in n or "pwned" in n}, after - before
    assert MARKER not in " ".join(os.listdir("/tmp") + os.listdir("/dev/shm"))


def test_no_process_or_cgroup_outlives_the_grader(hostile_batch):
    assert hostile_batch["left_processes"] == []
    assert hostile_batch["left_cgroups"] == [], [
        (p, os.listdir(p)[:0], Path(p, "cgroup.procs").read_text()) for p in hostile_batch["left_cgroups"]
    ]
    assert (hostile_batch["out"] / "grades.csv").read_text() == hostile_batch["grades_right_after"]


def test_a_kernel_killed_from_inside_keeps_the_marks_earned_before(hostile_batch):
    assert hostile_batch["runs"]["killer"]["status"] == "died"
    assert hostile_batch["grades"][("killer", "2.2")]["status"] == "died"


def test_deadlines_hold_although_the_answer_prints_all_the_time(hostile_batch):
    run = hostile_batch["runs"]["dotter"]
    assert run["status"] == "timeout" and float(run["seconds"]) < NOTEBOOK_SECONDS + 2 * CHECK_SECONDS, run
    assert hostile_batch["grades"][("dotter", "2.3")]["status"] == "timeout"


def test_memory_counts_everything_the_box_holds(hostile_batch):
    assert hostile_batch["runs"]["hog"]["status"] == "memory", hostile_batch["runs"]["hog"]
    assert hostile_batch["grades"][("hog", "2.3")]["status"] == "memory"


def test_no_secret_reaches_any_output(hostile_batch):
    out = hostile_batch["out"]
    texts = [hostile_batch["result"].stdout, hostile_batch["result"].stderr]
    texts += [p.read_text(errors="replace") for p in out.rglob("*") if p.is_file() and p.name != ".grading-secret"]
    for text in texts:
        assert SECRET not in text and KEY_TEXT[:12] not in text
    assert "none" in hostile_batch["grades"][("leaker", "2.1")]["message"]


@pytest.mark.parametrize("student", REFUSED)
def test_links_and_oversized_notebooks_are_refused_with_the_reason(hostile_batch, student):
    row = hostile_batch["grades"][(student, "2.1")]
    assert row["status"] == "refused" and float(row["points"]) == 0, row
    expected = "larger than" if student == "sparse_notebook" else "symbolic link"
    assert expected in row["message"], row


def test_a_folder_name_cannot_inject_into_csv_markdown_or_file_names(hostile_batch):
    rows, out = hostile_batch["rows"], hostile_batch["out"]
    label = next(r["student"] for r in rows if r["student"].startswith("%3D"))
    assert "\n" not in label and "," not in label and "<" not in label
    assert _points(hostile_batch, label) == FULL  # graded normally; its 2 GiB sparse file was never read
    for row in rows:
        for cell in row.values():
            assert cell[:1] not in ("=", "+", "-", "@", "\t", "\r"), row
    page = (out / "feedback" / f"{label}.md").read_text()
    assert page.startswith("# Feedback for ") and "<b>" not in page and "\n\n" in page
    assert all(p.parent == out / "feedback" for p in (out / "feedback").iterdir())


# --------------------------------------------------------------------------- issue 28's attacks


def _all_points(batch, student) -> dict[str, float]:
    return {ex: float(row["points"]) for (who, ex), row in batch["grades"].items() if who == student}


@pytest.mark.parametrize("student", sorted(MORE_HOSTILE))
def test_every_new_attack_gets_exactly_its_honest_score(hostile_batch, student):
    got = _all_points(hostile_batch, safe_label(student))
    want = {ex: float(MORE_HOSTILE[student][1].get(ex, 0)) for ex in got}
    messages = {ex: hostile_batch["grades"][(safe_label(student), ex)]["message"] for ex in got}
    assert got == want, {ex: messages[ex] for ex in got if got[ex] != want[ex]}


def test_claims_written_in_the_kernel_earn_nothing(hostile_batch):
    """No work, every report of the kernel forged (its observers, its artefacts): 0 on 3.2, 4.3, 5.5 and 6.5."""
    for ex in ("3.2", "4.3", "5.5", "6.5"):
        row = hostile_batch["grades"][("claimer", ex)]
        assert float(row["points"]) == 0, row


@pytest.mark.parametrize("student", sorted(INTAKE_BOMBS))
def test_a_notebook_built_to_exhaust_the_parser_is_refused_and_costs_the_grader_nothing(hostile_batch, student):
    row = hostile_batch["grades"][(student, "2.1")]
    assert row["status"] == "invalid" and float(row["points"]) == 0, row
    assert "too" in row["message"] or "nested" in row["message"], row


def test_the_grader_stays_small_and_the_host_disk_stays_free(hostile_batch):
    assert hostile_batch["peak_memory"] <= 2 * 2**30, hostile_batch["peak_memory"] / 2**30
    assert hostile_batch["disk_drop"] <= 1 * 2**30, hostile_batch["disk_drop"] / 2**30


def test_no_judge_is_busy_more_than_a_minute_on_one_notebook(hostile_batch):
    for run in hostile_batch["all_runs"]:
        assert not run["judge_s"] or float(run["judge_s"]) <= 60, run
    row = hostile_batch["grades"][("burner", "1.3")]
    assert "was not run" in row["message"] and "GFLOP" in row["message"], row
    assert float(hostile_batch["runs_of"]("burner", L1)["judge_s"]) < 30


def test_a_flood_of_probe_reports_is_capped(hostile_batch):
    row = hostile_batch["grades"][("flooder", "2.4")]
    assert float(row["points"]) == 0 and row["status"] == "error", row


def test_the_runtime_folder_cannot_fill_the_host_disk(hostile_batch):
    assert hostile_batch["runs"]["filler"]["status"] == "ok", hostile_batch["runs"]["filler"]


def test_a_root_only_file_on_a_bound_path_is_unreadable_in_the_box(hostile_batch):
    message = hostile_batch["grades"][("rootreader", "2.1")]["message"]
    assert "none" in message and ROOT_KEY not in message


def test_the_box_is_nobody_on_the_host_and_root_only_files_stay_closed(tmp_path):
    """The box itself, without a notebook: a root-only 0600 file on a bound path cannot be read.

    The control: a 0644 file beside it can, so the failure is the file's rights, not a missing bind.
    """
    from tlcourse.cache import cache_dir
    from tlcourse.grading.box import BoxSpec

    closed, open_ = cache_dir() / f"box-closed-{MARKER}", cache_dir() / f"box-open-{MARKER}"
    closed.write_text(ROOT_KEY)
    closed.chmod(0o600)
    open_.write_text("readable")
    open_.chmod(0o644)
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    spec = BoxSpec(runtime=runtime)
    spec.prepare()
    script = f"id -u; cat {open_}; echo; cat {closed} || echo refused"
    try:
        proc = subprocess.run(spec.command(["/bin/sh", "-c", script]), capture_output=True, text=True, timeout=60)
    finally:
        closed.unlink()
        open_.unlink()
    lines = proc.stdout.split()
    assert lines and lines[0] != "0", proc  # not root inside
    assert "readable" in lines and "refused" in lines and ROOT_KEY not in proc.stdout, proc
    if os.geteuid() == 0:  # a root grader: the box is a real unprivileged host uid, the one that owns its folder
        assert int(lines[0]) == os.stat(runtime).st_uid != 0, proc


def test_outputs_carry_no_links_addresses_or_control_characters(hostile_batch):
    out = hostile_batch["out"]
    texts = [p.read_text(errors="replace") for p in out.rglob("*") if p.is_file() and p.suffix in (".csv", ".md")]
    for text in texts:
        for bad in ("https://", "www.evil", "boss@evil", "\x85", "\u202e", "\u2066"):
            assert bad not in text, bad


def test_long_names_keep_their_own_labels_and_feedback(hostile_batch):
    one, two = safe_label(LONG + "-one"), safe_label(LONG + "-two")
    assert one != two
    pages = {p.name for p in (hostile_batch["out"] / "feedback").iterdir()}
    assert {f"{one}.md", f"{two}.md"} <= pages
