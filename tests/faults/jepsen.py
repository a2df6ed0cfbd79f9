"""Long fault-injection runs and re-checks of saved histories (the ``make jepsen`` entry).

    .venv/bin/python -m tests.faults.jepsen --seeds 20 --first-seed 1 --duration 15 --nodes 3
    .venv/bin/python -m tests.faults.jepsen --check /tmp/gofish-faults/RUN/history.jsonl

A run per seed (`faults.runner.run`, random nemesis schedule from the seed); one summary line
per run (ops ok/fail/info, anomalies by kind, lost acknowledged writes, failed writes seen
later), the full report and the saved directory of every run that is not valid, and a total.
``--check`` loads a history saved by a run and prints the checker's report plus the explicit
checks. Exit status: 0 if every run/check is valid, 1 otherwise, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the `faults` and `cluster` packages

from faults.checker import check_history  # noqa: E402
from faults.clients import Workload  # noqa: E402
from faults.history import History  # noqa: E402
from faults.nemesis import NEMESES  # noqa: E402
from faults.runner import DEFAULT_NEMESES, RESULTS, explicit_checks, run  # noqa: E402


def check_file(path: Path) -> bool:
    history = History.load(path)
    report = check_history(history)
    lost, visible, failed = explicit_checks(history)
    print(report)
    print(f"lost acknowledged writes: {len(lost)}; failed writes: {failed} "
          f"(visible later: {len(visible)})")
    for line in lost + visible:
        print(f"  {line}")
    return report.valid is True and not lost and not visible


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.faults.jepsen", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", type=Path, metavar="FILE", help="re-check a saved history")
    p.add_argument("--seeds", type=int, default=10, help="number of runs (default 10)")
    p.add_argument("--first-seed", type=int, default=1)
    p.add_argument("--duration", type=float, default=15.0, help="seconds per run")
    p.add_argument("--nodes", type=int, choices=(3, 5), default=3)
    p.add_argument("--nemeses", default=",".join(DEFAULT_NEMESES),
                   help=f"comma-separated, of {', '.join(sorted(NEMESES))} "
                        "(default: %(default)s)")
    p.add_argument("--clients", type=int, default=5)
    p.add_argument("--consistency", choices=("linearizable", "lease", "mixed"),
                   default="linearizable")
    p.add_argument("--own-counters", action="store_true",
                   help="also per-client counters (replies crossed between clients)")
    p.add_argument("--results", type=Path, default=RESULTS,
                   help="where failing runs are saved (default: %(default)s)")
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                   help="environment for the servers, e.g. GOFISH_TEST_BUGS=local-reads")
    a = p.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the running cluster's processes are killed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if a.check is not None:
        return 0 if check_file(a.check) else 1
    nemeses = [n for n in a.nemeses.split(",") if n]
    unknown = [n for n in nemeses if n not in NEMESES]
    if unknown:
        p.error(f"unknown nemeses {unknown}")
    env = dict(kv.split("=", 1) for kv in a.env)
    workload = Workload(clients=a.clients, consistency=a.consistency,
                        own_counters=a.own_counters)
    totals = {"ok": 0, "fail": 0, "info": 0}
    bad: list[str] = []
    for seed in range(a.first_seed, a.first_seed + a.seeds):
        report = run(seed, a.duration, a.nodes, workload, nemeses, env=env, name="jepsen",
                     results=a.results, verbose=False)
        print(report.summary() if report.valid else str(report), flush=True)
        for k in totals:
            totals[k] += report.counts.get(k, 0)
        if not report.valid:
            bad.append(f"seed {seed}: {report.path}")
    print(f"{a.seeds} runs, {a.seeds - len(bad)} valid; ops ok={totals['ok']} "
          f"fail={totals['fail']} info={totals['info']}")
    for line in bad:
        print(f"  not valid: {line}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
