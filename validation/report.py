"""Validation results as lines of text, for the command line: the held-out design
(`holdout_lines`) and the area-level designs (`design_lines`)."""

from __future__ import annotations


def _num(x, spec=".2f") -> str:
    return "none" if x is None else format(x, spec)


def design_lines(metrics: dict) -> list[str]:
    """Every figure of an area-level design's metrics, worded."""
    design = metrics.get("design")
    lines = [f"Design: {design} on {metrics.get('question')}"]
    if design == "subsample":
        lines.append(
            f"{len(metrics['states'])} states with a known truth ({metrics['truth']}); fits on "
            f"{metrics['subsample_size']} of {metrics['respondents']} respondents, "
            f"poststratified to {metrics['poststratification']}."
        )
        for run in metrics["runs"]:
            lines.append(
                f"  seed {run['seed']}: model MAE {_num(run['model']['mae_points'])} pts, "
                f"coverage {_num(run['model']['coverage'], '.0%')}; raw subsample MAE "
                f"{_num(run['raw_subsample']['mae_points'])} pts "
                f"({len(run['raw_subsample']['states_without_estimate'])} states without one)"
            )
        for method, s in metrics["summary"].items():
            lines.append(
                f"  {method}: mean state MAE {_num(s['mae_points_mean'])} pts "
                f"(sd {_num(s['mae_points_sd'])}), 95% interval coverage "
                f"{_num(s['coverage_mean'], '.0%')}"
            )
    elif design == "leave_areas_out":
        for run in metrics["runs"]:
            lines.append(
                f"  seed {run['seed']}, held out {', '.join(run['held_out'])}: MAE with area "
                f"predictors {_num(run['with_area_predictors']['mae_points'])}, without "
                f"{_num(run['without_area_predictors']['mae_points'])}, lift "
                f"{_num(run['lift_points'])} pts"
            )
        s = metrics["summary"]
        lines.append(
            f"  environmental lift: {_num(s['lift_points_mean'])} pts (sd "
            f"{_num(s['lift_points_sd'])}), positive in {s['lift_positive_in']}"
        )
        for method in ("with_area_predictors", "without_area_predictors"):
            lines.append(
                f"  {method}: coverage of held-out states {_num(s[method]['coverage_mean'], '.0%')}"
            )
    elif design == "official_results":
        lines.append(
            f"Option '{metrics['option']}' against the {metrics['party']} {metrics['shares']} "
            f"share, {metrics['election_year']}"
        )
        for label in ("model", "raw_poll"):
            c = metrics[label]
            lines.append(
                f"  {label}: r {_num(c['pearson_r'], '.3f')}, MAE {_num(c['mae_points'])} pts, "
                f"bias {_num(c['bias_points'])} pts, slope {_num(c['slope'], '.2f')}, "
                f"{c['areas_compared']} areas"
            )
        for row in metrics["model"]["areas"]:
            lines.append(
                f"    {row['area']}: estimate {row['estimate']:.1f}, official "
                f"{row['official']:.1f}, error {row['error']:+.1f}"
            )
    return lines


DISTANCE_COLUMNS = (("mae_points", "MAE pts", ".2f"), ("total_variation", "TVD", ".3f"),
                    ("js_distance", "JS", ".3f"), ("representativeness", "repr", ".3f"))  # fmt: skip


def _method_table(methods: dict, *, ranks: bool) -> list[str]:
    head = "".join(f"{title:>9}" for _, title, _ in DISTANCE_COLUMNS)
    head += f"{'rank r':>9}" * ranks + f"{'coverage':>10}"
    lines = [f"    {'method':<28}{head}"]
    for method, s in methods.items():
        row = "".join(f"{_num(s[key], spec):>9}" for key, _, spec in DISTANCE_COLUMNS)
        if ranks:
            row += f"{_num(s['rank_correlation_first_option'], '.3f'):>9}"
        row += f"{_num(s['coverage'], '.0%'):>10}"
        lines.append(f"    {method:<28}{row}")
    return lines


def holdout_lines(run) -> list[str]:
    """Every figure of a held-out validation run, worded: per method the distances, rank
    correlation and coverage over the whole held-out sample and by dimension, over all groups and
    over the groups of at least min_group respondents."""
    m = run.metrics
    question = run.question
    lines = [
        f"Validation #{run.id}: {question.poll.slug}/{question.code}, {run.n_train:,} trained "
        f"on, {run.n_test:,} held out (seed {run.seed}); options {', '.join(m['options'])}",
        "Methods:",
        *(f"  {name:<28}{label}" for name, label in m["method_labels"].items()),
    ]
    for name, reason in m.get("unavailable", {}).items():
        lines.append(f"  {name:<28}not scored: {reason}")
    fitted = m.get("poll_model")
    if fitted:
        predictors = ", ".join(f"{k} ({v})" for k, v in fitted["area_predictors"].items())
        lines.append(
            f"poll_model fitted on {fitted['respondents']:,} respondents: "
            f"{', '.join(fitted['dimensions'])}; state scale {fitted['state_scale']:g}, "
            f"interaction scale {fitted['interaction_scale']:g}; area predictors: "
            f"{predictors or 'none'}"
        )
    overall = m["overall"]
    lines.append(
        f"Whole held-out sample (n {overall['n']:,}, effective n {overall['n_effective']:,.1f}):"
    )
    methods = {
        name: {**s, "coverage": m["coverage"][name]["whole_sample"]}
        for name, s in overall["methods"].items()
    }
    lines += _method_table(methods, ranks=False)
    min_group = m["min_group"]
    for dimension, d in m["by_dimension"].items():
        small = d["small_groups"]
        head = f"By {dimension}: {len(d['groups'])} groups"
        head += (
            f"; small (n < {min_group}, included in 'all groups'): "
            + ", ".join(f"{g} {n}" for g, n in small.items())
            if small
            else f", none under {min_group}"
        )
        if d["without_value"]:
            head += f"; {d['without_value']:,} held-out respondents without a value"
        lines.append(head)
        if small:
            for scope, s in d["summary"].items():
                lines.append(
                    f"  {scope} ({s['description']}; {s['groups']} groups, "
                    f"{s['respondents']:,} respondents)"
                )
                lines += _method_table(s["methods"], ranks=True)
        else:
            s = d["summary"]["all_groups"]
            lines.append(
                f"  all_groups, the same as large_groups ({s['groups']} groups, "
                f"{s['respondents']:,} respondents)"
            )
            lines += _method_table(s["methods"], ranks=True)
    lines.append(
        "Coverage of 95% intervals, pooled over (group, option) pairs "
        "(whole sample / all groups / groups n >= "
        f"{min_group}):"
    )
    for name, c in m["coverage"].items():
        lines.append(
            f"  {name:<28}{_num(c['whole_sample'], '.0%'):>6} {_num(c['all_groups'], '.0%'):>6} "
            f"{_num(c['large_groups'], '.0%'):>6}"
        )
    if "calibration" in m:
        lines.append("Calibration (expected calibration error; bins: count, predicted → observed):")
        for name, c in m["calibration"].items():
            cells = ", ".join(
                f"{b['count']}: {b['mean_predicted']:.2f} → {b['observed_frequency']:.2f}"
                for b in c["bins"]
            )
            lines.append(f"  {name:<28}ECE {_num(c['ece'], '.3f')}  [{cells}]")
    lines.append(f"coverage: {m['definitions']['coverage']}.")
    lines.append(f"rank r: {m['definitions']['rank_correlation_first_option']}.")
    return lines
