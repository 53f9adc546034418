"""Each lesson's headline claim, stated from the numbers the lesson recorded (``tlcourse.results``).

One function per lesson, named in the lesson's entry of ``tlcourse.manifest``.

The course run's table prints one line per lesson: what it set out to show, with the numbers it
measured. The wording follows the numbers (a quick run's "pretrained does not beat scratch" is
said as such), so a line never claims what its own numbers contradict. A clause whose numbers
are missing (a lesson that stopped early) is left out.
"""

from __future__ import annotations

from collections.abc import Callable


def _beats(a: float, b: float, plural: bool = False) -> str:
    if a > b:
        return "beat" if plural else "beats"
    return "do not beat" if plural else "does not beat"


def _verdict(in_se: float) -> str:
    """A difference in standard errors, in words: beyond about two it is evidence, within it noise."""
    return "beats" if in_se > 2 else "loses to" if in_se < -2 else "ties"


def why_scratch_is_hard(m: dict) -> list[str]:
    out = []
    if "scratch_val_accuracy_all" in m and "pretrained_val_accuracy_large" in m:
        out.append(
            f"a CNN from scratch on every photo: {m['scratch_val_accuracy_all']:.2f} val. accuracy, "
            f"pretrained {m['pretrained_val_accuracy_large']:.2f}"
        )
    if "scratch_gflops" in m and "lite0_gflops" in m:
        out.append(f"{m['scratch_gflops']:.2f} vs {m['lite0_gflops']:.2f} GFLOPs per image (scratch CNN vs Lite0)")
    return out


def what_is_transfer_learning(m: dict) -> list[str]:
    keys = ("logreg_features_val_accuracy", "logreg_pixels_val_accuracy", "logreg_random_weights_val_accuracy")
    if not all(k in m for k in keys):
        return []
    features, pixels, random = (m[k] for k in keys)
    return [
        f"ImageNet features {_beats(features, max(pixels, random), plural=True)} raw pixels and random weights "
        f"(logistic regression): {features:.2f} vs {pixels:.2f} / {random:.2f}"
    ]


def imagenet_and_pretrained_models(m: dict) -> list[str]:
    out = []
    if "coffee_espresso_prob_right" in m and "coffee_espresso_prob_raw" in m:
        out.append(
            f"the right preprocessing matters: p(espresso) {m['coffee_espresso_prob_right']:.2f} "
            f"vs {m['coffee_espresso_prob_raw']:.2f} on raw 0..255 pixels"
        )
    if "ants_bees_imagenet_top5" in m:
        out.append(f"ImageNet's own classes name ants/bees in the top 5 for {m['ants_bees_imagenet_top5']:.0%}")
    return out


TARGET_NAMES = {"solar": "solar cells", "antsbees": "ants/bees", "fashion": "Fashion-MNIST"}


def fine_tuning_strategies(m: dict) -> list[str]:
    out = []
    for key, name in TARGET_NAMES.items():
        best = m.get(f"finetune_{key}_best_strategy")
        head = m.get(f"finetune_{key}_head_test_balanced_accuracy")
        if best is None or head is None or f"finetune_{key}_gain_balanced_in_se" not in m:
            continue
        tuned = m[f"finetune_{key}_{best}_test_balanced_accuracy"]
        in_se = m[f"finetune_{key}_gain_balanced_in_se"]
        verdict = _verdict(in_se)
        seeds = m.get(f"finetune_{key}_seeds", m.get("finetune_seeds", "?"))  # a target may run its own seeds
        out.append(
            f"{name} ({m.get(f'finetune_{key}_n_train', '?')} train, {m.get(f'finetune_{key}_image_size', '?')} px, "
            f"{seeds} seed{'' if seeds == 1 else 's'}, test balanced acc.): {best} {tuned:.2f} {verdict} "
            f"head {head:.2f} ({in_se:+.1f} s.e.)"
        )
    if "bn_inference_val_accuracy" in m and "bn_batch_stats_val_accuracy" in m:
        out.append(
            f"BN in inference mode {m['bn_inference_val_accuracy']:.2f} vs batch statistics "
            f"{m['bn_batch_stats_val_accuracy']:.2f}"
        )
    return out


def _at_one_size(m: dict) -> str:
    """The words ', every contestant at N px' when lesson 5 recorded one image size for all (issue 29's fair table)."""
    sizes = {v for k, v in m.items() if k.startswith("image_size_")}
    return f", every contestant at {sizes.pop()} px" if len(sizes) == 1 else ""


def scratch_vs_pretrained(m: dict) -> list[str]:
    if not all(k in m for k in ("test_accuracy_frozen", "test_accuracy_scratch")):
        return []
    seeds = int(m.get("seeds", 1))
    frozen, scratch = m["test_accuracy_frozen"], m["test_accuracy_scratch"]
    spread = f" ± {m['test_accuracy_frozen_se']:.3f}" if seeds > 1 and "test_accuracy_frozen_se" in m else ""
    verdict = _verdict(m["frozen_minus_scratch_se"]) if "frozen_minus_scratch_se" in m else _beats(frozen, scratch)
    out = [
        f"frozen pretrained {verdict} scratch (test balanced acc.): {frozen:.3f}{spread} vs {scratch:.3f}, "
        f"{seeds} seed{'s' if seeds > 1 else ''} on ants/bees{_at_one_size(m)} (ImageNet's own photos: an upper bound)"
    ]
    if "same_architecture_scratch_accuracy" in m:
        out.append(f"Lite0 from random weights {m['same_architecture_scratch_accuracy']:.2f}")
    if "test_accuracy_finetuned" in m:
        out.append(f"fine-tuned {m['test_accuracy_finetuned']:.2f}")
    solar = ("solar_test_accuracy_frozen", "solar_test_accuracy_scratch", "solar_frozen_minus_scratch_se")
    if all(k in m for k in solar):
        out.append(
            f"solar cells (not in ImageNet, {m.get('solar_n_train', '?')} train): frozen {m[solar[0]]:.2f} "
            f"{_verdict(m[solar[2]])} scratch {m[solar[1]]:.2f} ({m[solar[2]]:+.1f} s.e.)"
        )
    return out


def when_to_transfer(m: dict) -> list[str]:
    out = []
    models = {"frozen_lite0": "frozen", "finetuned_some": "fine-tuned", "scratch_cnn": "scratch"}
    for target in ("antsbees", "solar_cells"):
        found = {
            name: m[f"{target}_{key}_balanced_accuracy"]
            for key, name in models.items()
            if f"{target}_{key}_balanced_accuracy" in m
        }
        if found:
            out.append(f"{target}: " + ", ".join(f"{name} {v:.2f}" for name, v in found.items()))
    pixels = m.get("digits_every_training_image_64_raw_pixels_logistic_regression_accuracy")
    features = m.get("digits_every_training_image_lite0_features_logistic_regression_accuracy")
    if pixels is not None and features is not None:
        out.append(
            f"8x8 digits: ImageNet features {_beats(features, pixels, plural=True)} raw pixels "
            f"({features:.2f} vs {pixels:.2f})"
        )
    return out


def headlines() -> dict[str, Callable[[dict], list[str]]]:
    """Lesson name -> its headline function, as ``tlcourse.manifest`` pairs them."""
    from tlcourse import manifest

    return {lesson.name: globals()[lesson.headline] for lesson in manifest.LESSONS if lesson.headline}


def headline(lesson: str, metrics: dict) -> str:
    """The lesson's claim with its numbers, in one line ('' when nothing it needs was recorded)."""
    func = headlines().get(lesson)
    if func is None:
        return ""
    try:
        return "; ".join(func(metrics))
    except (TypeError, ValueError, KeyError):  # a number of an unexpected type: no headline, not a crash
        return ""
