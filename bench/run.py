"""Run every benchmark module in bench/ (each in its own process, each with a fresh database), or
only those named: `python -m bench.run influence_llm`."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
SKIP = {"run"}


def main(names: list[str] | None = None) -> int:
    failed = []
    modules = sorted(m.name for m in pkgutil.iter_modules([str(BENCH_DIR)]) if m.name not in SKIP)
    unknown = sorted(set(names or []) - set(modules))
    if unknown:
        print(
            f"no benchmark {', '.join(unknown)}; there are: {', '.join(modules)}", file=sys.stderr
        )
        return 2
    if names:
        modules = [m for m in modules if m in names]
    for name in modules:
        print(f"== bench.{name}", flush=True)
        code = subprocess.call([sys.executable, "-m", f"bench.{name}"], cwd=BENCH_DIR.parent)
        if code:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
