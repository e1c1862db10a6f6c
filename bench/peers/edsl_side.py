"""The EDSL side of the race (run with bench/peers/.venv/bin/python, which has `edsl`; nothing of
Persona Lab is imported). N agents with persona traits answer a survey of 4 questions (two free-text
questions, on what matters to them and on their area, and two multiple-choice items: 4 model calls
per agent, as many as Persona Lab's engine makes per persona) against the local server
given by --base-url, fully local (no remote inference or cache), with at most --in-flight model
calls at once. The same job is then run again with the same in-memory cache: the cached re-run.
Prints one JSON line: wall, CPU and peak memory of each run, and the answers' validity.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import time

AREAS = ["Dallas, TX", "Detroit, MI", "Minneapolis, MN", "Phoenix, AZ"]
TRAITS = {
    "age_bracket": ["18-24", "25-34", "35-44", "45-54", "55-64", "65+"],
    "sex": ["female", "male"],
    "race_ethnicity": ["White", "Black", "Hispanic", "Asian", "Other or multiple"],
    "education": ["less than high school", "high school", "some college", "bachelor's", "graduate"],
    "income": ["under $25k", "$25k-50k", "$50k-75k", "$75k-100k", "$100k-150k", "over $150k"],
}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True, help="the server's OpenAI base URL (…/v1)")
    parser.add_argument("--personas", type=int, default=1000)
    parser.add_argument("--in-flight", type=int, default=50)
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args()

    # EDSL reads these when it is imported.
    os.environ["OPENAI_COMPATIBLE_BASE_URL"] = args.base_url
    os.environ["OPENAI_COMPATIBLE_API_KEY"] = "sk-bench-not-a-real-key"
    os.environ["EDSL_MAX_CONCURRENT_TASKS"] = str(args.in_flight)
    started_import = time.perf_counter()
    from edsl import (
        Agent,
        AgentList,
        Cache,
        Model,
        QuestionFreeText,
        QuestionMultipleChoice,
        Survey,
    )

    import_seconds = time.perf_counter() - started_import

    rng = random.Random(args.seed)
    agents = AgentList(
        [
            Agent(
                traits={
                    "area": rng.choice(AREAS),
                    **{name: rng.choice(values) for name, values in TRAITS.items()},
                    "persona_id": n,
                }
            )
            for n in range(args.personas)
        ]
    )
    survey = Survey(
        [
            QuestionFreeText(
                question_name="attributes",
                question_text="Which of your circumstances matter most to how you would answer "
                "questions on health coverage and public transit?",
            ),
            QuestionFreeText(
                question_name="context",
                question_text="In two sentences: how does life in your area shape your views on "
                "local policy?",
            ),
            QuestionMultipleChoice(
                question_name="coverage",
                question_text="Should employers be allowed to decline coverage of abortions in "
                "insurance plans?",
                question_options=["Support", "Oppose"],
                use_code=True,
            ),
            QuestionMultipleChoice(
                question_name="levy",
                question_text="Would you vote for a half-cent sales tax to pay for more buses?",
                question_options=["Yes", "No"],
                use_code=True,
            ),
        ]
    )
    # Its request and token rates far above what the run needs: EDSL paces calls to the model's
    # rpm (1,000 a minute by default, which would set the pace instead of the in-flight limit).
    model = Model(
        "gpt-bench",
        service_name="openai_compatible",
        temperature=0,
        rpm=1_000_000,
        tpm=1_000_000_000,
    )
    cache = Cache()

    def run() -> dict:
        cpu, wall = _cpu_seconds(), time.perf_counter()
        results = (
            survey.by(agents)
            .by(model)
            .run(
                cache=cache,
                disable_remote_cache=True,
                disable_remote_inference=True,
                progress_bar=False,
                # The local runner's worker count: at most this many model calls at once.
                max_concurrency=args.in_flight,
                print_exceptions=bool(os.environ.get("EDSL_BENCH_DEBUG")),
            )
        )
        wall, cpu = time.perf_counter() - wall, _cpu_seconds() - cpu
        questions = ("attributes", "context", "coverage", "levy")
        answers = [tuple(r["answer"][q] for q in questions) for r in results]
        return {
            "wall_seconds": round(wall, 2),
            "cpu_seconds": round(cpu, 2),
            "interviews": len(answers),
            "complete_interviews": sum(all(a is not None for a in row) for row in answers),
            "coverage_answers": sorted({str(a[2]) for a in answers}),
        }

    first = run()
    cached = run()
    print(
        json.dumps(
            {
                "tool": "edsl",
                "version": __import__("edsl").__version__,
                "python": sys.version.split()[0],
                "import_seconds": round(import_seconds, 2),
                "first_run": first,
                "cached_rerun": cached,
                "peak_memory_mb": round(_peak_mb(), 1),
                "max_concurrency": args.in_flight,
                "model_rpm": model.rpm,
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
