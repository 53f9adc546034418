"""The ``tlcourse`` command: a thin shell over the functions the lessons call.

Every problem a user can fix ends with one line on stderr that says what to do, and
exit code 2. ``tlcourse fit`` prints one JSON object as the last line of stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tlcourse.errors import CourseError


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    # no Keras: --help stays fast
    from tlcourse.catalogue import ALL_STRATEGIES, CATALOGUE, DEFAULT_BACKBONE, IMAGE_SIZE, SCHEDULES, Recipe

    recipe = Recipe()  # lesson 4's: the defaults of fit
    parser = argparse.ArgumentParser(prog="tlcourse", description="Transfer learning course tools.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("predict", help="top-k ImageNet classes of photos (offline)")
    p.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    p.add_argument("--backbone", default=DEFAULT_BACKBONE, help=f"one of {', '.join(CATALOGUE)}")
    p.add_argument("--top", type=_positive, default=5)
    p.add_argument("--image-size", type=_positive, default=None, help="default: the backbone's native size")

    p = sub.add_parser(
        "fit",
        help="train a classifier on a data set or a folder of class folders (lesson 4's recipe)",
        description="Train one model with the course's engine (tlcourse.experiments), lesson 4's recipe by default: "
        "the head on cached features, then the strategy's blocks unfrozen (BatchNormalization frozen) with a new "
        "optimizer at a lower, cosine-falling rate; the best validation epoch of each phase kept; numbers on a test "
        "split (half the validation images, or the data set's own) that no choice sees. Defaults: lesson 4's "
        "(tlcourse.catalogue.Recipe says where each comes from).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("data", help="hymenoptera, elpv, or a folder of class subfolders")
    p.add_argument("--backbone", default=recipe.backbone, help=f"one of {', '.join(CATALOGUE)}")
    p.add_argument("--strategy", default=recipe.strategy, choices=ALL_STRATEGIES, help="what trains after the head")
    p.add_argument(
        "--epochs", type=_positive, default=recipe.head_epochs, help="phase 1: the head (scratch: the CNN's epochs)"
    )
    p.add_argument("--fine-tune-epochs", type=int, default=recipe.fine_tune_epochs, help="phase 2, for some/most/full")
    p.add_argument("--image-size", type=_positive, default=IMAGE_SIZE, help="pixels per side")
    p.add_argument("--per-class", type=_positive, default=None, help="training images per class")
    p.add_argument("--lr", type=float, default=recipe.head_lr, help="phase 1's learning rate (scratch: the CNN's)")
    p.add_argument("--fine-tune-lr", type=float, default=recipe.fine_tune_lr, help="phase 2's (a new optimizer)")
    p.add_argument("--schedule", choices=SCHEDULES, default=recipe.schedule, help="phase 2's rate over its epochs")
    p.add_argument("--batch-size", type=_positive, default=recipe.batch_size, help="images per step")
    p.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        default=recipe.augment,
        help="random flips/rotations/zooms, every phase through the base (--no-augment: on cached features and "
        "activations cached at the cut)",
    )
    p.add_argument("--seed", type=int, default=recipe.seed, help="initial head, batches, dropout (and --per-class)")
    p.add_argument("--out", type=Path, default=None, help="folder for the model, history and checkpoints")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from its last checkpoint")

    p = sub.add_parser("run", help="execute every lesson and print their headline numbers")
    p.add_argument("--quick", action="store_true", help="the short CI version of every lesson")
    p.add_argument("--lessons", type=Path, default=Path("lessons"))
    p.add_argument("--out", type=Path, default=Path("build"))
    p = sub.add_parser("grade", help="grade students' notebooks: grades.csv and feedback per student")
    p.add_argument("submissions", type=Path, help="one folder per student, holding their lesson notebooks")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--timeout", type=float, default=300, help="seconds per notebook (default 300)")
    p.add_argument("--jobs", type=_positive, default=1, help="notebooks graded at once")
    p.add_argument("--memory-gb", type=float, default=4.0, help="memory limit per notebook (all its box holds)")
    p.add_argument("--check-timeout", type=float, default=60, help="seconds for checking one exercise (default 60)")
    p.add_argument("--hidden-tests", type=Path, default=None, help="a Python file with more @hidden_test checks")
    p.add_argument("--regrade", action="store_true", help="grade every notebook again (default: reuse stored results)")
    p.add_argument("--roster", type=Path, default=None, help="CSV: folder,name,id,sis_id,email,section")
    p.add_argument("--scheduler", default=None, help="a Dask scheduler (tcp://host:8786): grade on its workers")
    p.add_argument("--lms", choices=("canvas", "moodle"), default=None, help="also write that LMS's gradebook import")
    p.add_argument(
        "--no-sandbox",
        action="store_true",
        help="run notebooks without the bubblewrap box (only for notebooks you trust)",
    )

    p = sub.add_parser("bench", help="measure speed and accuracy on this machine; print tables, write JSON")
    p.add_argument("--quick", action="store_true", help="shorter runs; skips the default-mode course run")
    p.add_argument("--out", type=Path, default=Path("build/bench.json"))
    p.add_argument("--lessons", type=Path, default=Path("lessons"))

    p = sub.add_parser("links", help="launch links for every lesson (JupyterHub via nbgitpuller, Colab, Binder)")
    p.add_argument("--repo", required=True, help="URL of the git repository students pull (the student edition)")
    p.add_argument("--hub", default=None, help="the JupyterHub's URL, for nbgitpuller links")
    p.add_argument("--branch", default="main")

    p = sub.add_parser("site", help="the course as a static website (Jupyter Book) from a run's executed lessons")
    p.add_argument("--executed", type=Path, default=Path("build/executed"), help="executed notebooks (tlcourse run)")
    p.add_argument("--results", type=Path, default=None, help="the run's results.json (default: beside --executed)")
    p.add_argument("--out", type=Path, default=Path("build/site"))
    p.add_argument("--repo", default=None, help="the student edition's git URL: launch links on every page")
    p.add_argument("--hub", default=None, help="the JupyterHub's URL, for nbgitpuller links")
    p.add_argument("--branch", default="main")
    p.add_argument("--solutions", action="store_true", help="the self-study edition (executed masters)")
    p.add_argument("--quick", action="store_true", default=None, help="say the numbers come from a quick run")

    p = sub.add_parser("release", help="write the student (or self-study) edition of the course into a new folder")
    p.add_argument("target", type=Path, help="a new, empty folder")
    p.add_argument("--edition", choices=("student", "self-study"), default="student")
    p.add_argument("--repo", help="the git URL the edition will be published at (the Colab cells install from it)")

    p = sub.add_parser("lessons", help="regenerate the student copies in lessons/ from solutions/")
    p.add_argument("--check", action="store_true", help="only report stale copies (exit 1 if any)")
    p.add_argument("--solutions", type=Path, default=Path("solutions"))
    p.add_argument("--lessons", type=Path, default=Path("lessons"))
    return parser


def cmd_lessons(args) -> int:
    from tlcourse.checks import PUBLIC_FILE, write_public_results
    from tlcourse.studentcopy import generate, strip_masters

    if args.check:
        stale = generate(args.solutions, args.lessons, check=True)
        for name in stale:
            print(f"stale: {args.lessons / name} (run: tlcourse lessons)")
        if write_public_results(check=True):
            stale.append(PUBLIC_FILE.name)
            print(f"stale: {PUBLIC_FILE} (run: tlcourse lessons)")
        return 1 if stale else 0
    _import_tensorflow_quietly()  # the public results build the checks' toy models ...
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # ... one after another: TensorFlow's retracing warnings are expected
    for name in strip_masters(args.solutions):
        print(f"cleared outputs: {args.solutions / name}")
    for name in generate(args.solutions, args.lessons):
        print(f"wrote {args.lessons / name}")
    if write_public_results():
        print(f"wrote {PUBLIC_FILE}")
    return 0


def cmd_links(args) -> int:
    from tlcourse.checks import lessons
    from tlcourse.links import links_markdown

    print(links_markdown(lessons(), args.repo, args.hub, args.branch), end="")
    return 0


def cmd_site(args) -> int:
    from tlcourse.site import build_site

    home = build_site(
        args.executed, args.out, args.results, args.repo, args.hub, args.branch, args.solutions, args.quick
    )
    print(f"wrote the site: {home}")
    return 0


def cmd_release(args) -> int:
    from tlcourse.release import release

    written = release(args.target, args.edition, args.repo)
    print(f"wrote the {args.edition} edition to {args.target}: {', '.join(written)}")
    return 0


def cmd_bench(args) -> int:
    _import_tensorflow_quietly()
    from tlcourse.bench import run_bench

    run_bench(args.quick, args.out, args.lessons)
    return 0


def cmd_grade(args) -> int:
    from tlcourse.grading import GradeOptions, grade

    if args.hidden_tests and not args.hidden_tests.is_file():
        raise CourseError(f"no hidden-tests file at {args.hidden_tests}")
    if args.memory_gb <= 0 or args.timeout <= 0 or args.check_timeout <= 0:
        raise CourseError("--memory-gb, --timeout and --check-timeout must be positive")
    options = GradeOptions(
        args.timeout,
        args.jobs,
        args.memory_gb,
        args.hidden_tests,
        args.check_timeout,
        sandbox=not args.no_sandbox,
        regrade=args.regrade,
        roster=args.roster,
        lms=args.lms,
        scheduler=args.scheduler,
    )
    grade(args.submissions, args.out, options)
    return 0


def cmd_predict(args) -> int:
    _import_tensorflow_quietly()
    from tlcourse.imagenet import classify, load_classifier, prepare

    classifier = load_classifier(args.backbone, args.image_size)
    size = classifier.model.input_shape[1]
    failed = 0
    for path in args.images:
        try:
            image = prepare(path, size)
        except ValueError as err:
            print(f"tlcourse: skipped {err}", file=sys.stderr)
            failed += 1
            continue
        top = classify(classifier, [image], args.top)[0]
        print(path)
        for i, (name, p) in enumerate(top, start=1):
            print(f"  {i}. {name:<36} {p:6.1%}")
    return 2 if failed else 0


# TensorFlow's C++ start-up lines, printed while it loads whatever TF_CPP_MIN_LOG_LEVEL says (absl logs
# before it is initialised): "WARNING: All log messages before absl::InitializeLog() ...", oneDNN's notice,
# the CPU instruction sets.
_STARTUP_NOISE = ("All log messages before absl::InitializeLog()", "oneDNN custom operations", "cpu_feature_guard")


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow with its start-up lines kept off the terminal; any other line it prints still shows.

    The lines come from C++ at import time, before any Python setting applies, so stderr's file
    descriptor points at a temporary file while TensorFlow loads.
    """
    import os
    import tempfile

    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            lines = caught.read().decode(errors="replace").splitlines(keepends=True)
    noise = [i for i, line in enumerate(lines) if any(n in line for n in _STARTUP_NOISE)]
    drop = set(noise) | {i + 1 for i in noise if "cpu_feature_guard" in lines[i]}  # its "To enable ..." line
    sys.stderr.write("".join(line for i, line in enumerate(lines) if i not in drop))


def cmd_fit(args) -> int:
    from tlcourse.catalogue import TEST_FRACTION, TEST_SEED, Recipe, backbone_info, check_input_shape
    from tlcourse.checkpoint import has_checkpoint
    from tlcourse.datasets import load_dataset

    # (argparse already checked --strategy) a mistyped backbone, a bad size, rate or folder costs no TensorFlow start
    recipe = Recipe(
        strategy=args.strategy,
        backbone=args.backbone,
        head_epochs=args.epochs,
        fine_tune_epochs=args.fine_tune_epochs,
        head_lr=args.lr,
        fine_tune_lr=args.fine_tune_lr,
        schedule=args.schedule,
        augment=args.augment,
        seed=args.seed,
        batch_size=args.batch_size,
    )
    if args.strategy != "scratch":
        check_input_shape(backbone_info(args.backbone), (args.image_size, args.image_size, 3))
    out = args.out or Path("runs") / f"{Path(str(args.data)).name}-{args.strategy}-seed{args.seed}"
    if args.resume and not has_checkpoint(out):
        raise CourseError(f"nothing to resume in {out}: no checkpoint there (run without --resume)")
    if has_checkpoint(out) and not args.resume:
        print(f"note: starting over in {out}; add --resume to continue the earlier run", file=sys.stderr)
    data = load_dataset(args.data, args.image_size, per_class=args.per_class, seed=args.seed)
    if data.test is None:  # lesson 4's test split: half the validation images, the same ones for every seed
        data = data.with_test_split(TEST_FRACTION, seed=TEST_SEED)
        test_split = f"validation images held out: with_test_split({TEST_FRACTION}, seed={TEST_SEED})"
    else:
        test_split = "the data set's own test split"
    _import_tensorflow_quietly()
    from tlcourse.experiments import train_recipe  # TensorFlow from here on
    from tlcourse.train import save_run

    trained = train_recipe(data, recipe, checkpoint_dir=out, resume=args.resume)
    summary = {
        "data": str(args.data),
        **trained.summary(),
        "test_split": test_split,
        "skipped_files": [s.path for s in data.skipped],
        "model": str(out / "model.keras"),
    }
    save_run(trained.model, trained.history, summary, out)
    run = trained.run
    test = f", test {run.test.accuracy:.3f} (balanced {run.test.balanced:.3f})" if run.test else ""
    print(
        f"val accuracy {run.val.accuracy:.3f} (balanced {run.val.balanced:.3f}){test} at the kept epoch "
        f"{run.best_epoch} of {len(run.history['loss'])}, {summary['epochs']} epochs in {trained.seconds:.1f} s; "
        f"model saved to {out / 'model.keras'}"
    )
    print(json.dumps(summary))
    return 0


def cmd_run(args) -> int:
    from tlcourse.course import run_course

    return run_course(args.lessons, args.out, quick=args.quick)


COMMANDS = {
    "predict": cmd_predict,
    "fit": cmd_fit,
    "run": cmd_run,
    "lessons": cmd_lessons,
    "links": cmd_links,
    "site": cmd_site,
    "release": cmd_release,
    "grade": cmd_grade,
    "bench": cmd_bench,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except CourseError as err:
        print(f"tlcourse: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tlcourse: interrupted", file=sys.stderr)
        return 130
