"""Area-level validation results as lines of text, for the command line."""

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
