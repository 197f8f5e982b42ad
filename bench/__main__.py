"""Every benchmark, one after another, in one command: one table, and ``bench/results.json``.

    .venv/bin/python -m bench [--quick] [--only NAME ...]

Each benchmark runs as its own process (``python -m bench.NAME``), starting what it needs
itself (the test control plane, the deployer, the local GitHub API server, git repos), so
one's leftovers cannot skew the next. Their markdown tables are read back and merged into
one table of (benchmark, figure, values); the raw output, the command and the wall time of
each are kept in ``bench/results.json``. ``--quick`` runs smaller sizes (a smoke run: the
figures are not comparable with the full run's). Benchmarks are not tests: nothing here
asserts a time.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

#: name -> (full-size arguments, quick arguments).
BENCHES: dict[str, tuple[list[str], list[str]]] = {
    "receiver": (["--requests", "400"], ["--requests", "50"]),
    "sync": (["--apps", "30"], ["--apps", "3"]),
    "big_app": (["--objects", "500", "--rounds", "3"], ["--objects", "50", "--rounds", "1"]),
    "merge_to_status": (["--rounds", "15"], ["--rounds", "3"]),
    "merge_floor": (["--rounds", "15"], ["--rounds", "3"]),
    "fleet": (["--apps", "1000"], ["--apps", "50"]),
    "fleet_config": (["--apps", "5000", "--repos", "50"], ["--apps", "500", "--repos", "10"]),
}


def tables(output: str) -> list[dict[str, Any]]:
    """The markdown tables in ``output``: each a header and its rows of cells."""
    found: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for line in output.splitlines():
        line = line.strip()
        if not (line.startswith("|") and line.endswith("|")):
            current = None
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if current is None:
            current = {"header": cells, "rows": []}
            found.append(current)
        elif not all(set(c) <= set("-: ") for c in cells):
            current["rows"].append(cells)
    return found


def merged(results: dict[str, Any]) -> str:
    """One table: a row per row of every benchmark's tables."""
    lines = ["| benchmark | figure | values |", "|---|---|---|"]
    for name, result in results.items():
        if result["exit"] != 0:
            lines.append(f"| {name} | FAILED (exit {result['exit']}) | see results.json |")
            continue
        for table in result["tables"]:
            header = table["header"]
            for row in table["rows"]:
                values = ", ".join(
                    f"{h}: {v}" if h else v for h, v in zip(header[1:], row[1:], strict=False) if v
                )
                lines.append(f"| {name} | {row[0]} | {values} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    parser.add_argument("--only", nargs="*", choices=sorted(BENCHES), help="run just these")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.json")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    for name, (full, quick) in BENCHES.items():
        if args.only and name not in args.only:
            continue
        command = [sys.executable, "-m", f"bench.{name}", *(quick if args.quick else full)]
        print(f"== {' '.join(command[1:])}", file=sys.stderr, flush=True)
        start = time.monotonic()
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        results[name] = {
            "command": " ".join(["python", *command[1:]]),
            "exit": done.returncode,
            "seconds": round(time.monotonic() - start, 1),
            "tables": tables(done.stdout),
            "stdout": done.stdout,
            "stderr_tail": done.stderr[-3000:],
        }
        print(done.stdout, file=sys.stderr, flush=True)
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": _cpus(),
            "load_average": [round(x, 2) for x in _load()],
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "quick": args.quick,
        "benchmarks": results,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(merged(results))
    sys.exit(0 if all(r["exit"] == 0 for r in results.values()) else 1)


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


def _load() -> tuple[float, float, float]:
    import os

    return os.getloadavg()


if __name__ == "__main__":
    main()
