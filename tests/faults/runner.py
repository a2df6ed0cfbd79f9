"""One fault-injection run: a real cluster, client threads recording a history, a nemesis,
then the linearizability checker.

`run` does, in order:

1. start a `cluster.harness.Cluster` of ``nodes`` processes (3 or 5; every peer link through
   the fault proxy; ``env`` is added to the servers' environment, e.g. planted bugs) and wait
   for a leader;
2. start ``workload.clients`` `faults.clients.Worker` threads and run the nemesis script (a
   `faults.nemesis.random_schedule` of ``nemeses``, or ``script``) in this thread until
   ``duration`` seconds have passed; then stop the clients (each stops within one operation,
   bounded by its socket timeouts);
3. heal everything (`faults.nemesis.heal_all`), wait for a leader, and read every key once
   from the leader with linearizable reads, recorded in the history (the *final read*);
4. keep the last lines of each node's log, stop the cluster;
5. check: `faults.checker.check_history` plus explicit checks on the final read and the failed
   operations (`explicit_checks`): acknowledged appends/increments missing at the end (*lost
   acknowledged writes*), failed writes whose value was later read (*failed writes visible*);
6. on any anomaly (or ``save="always"``) save the history (``history.jsonl``), the nemesis
   log (``nemesis.jsonl``, ``nemesis.txt``), the node each operation went to (``nodes.json``:
   invoke index -> node id), the report and the node log tails (``node<i>.log``) in a new
   directory under ``results``, and print its path and the replay command.

A run is *valid* (`RunReport.valid`) when the checker says valid for every key, the explicit
checks find nothing, no reply was of the wrong shape or an unexpected error, every node came
back when healed, and the final read read every key.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cluster.harness import Cluster

from .checker import Report, check_history
from .clients import ClientStats, Targets, Worker, Workload, key_model
from .history import History
from .nemesis import NemesisContext, NemesisLog, Script, heal_all, random_schedule

__all__ = ["DEFAULT_NEMESES", "RESULTS", "RunReport", "explicit_checks", "run"]

RESULTS = Path(os.environ.get("GOFISH_FAULTS_RESULTS", "/tmp/gofish-faults"))
DEFAULT_NEMESES = ("kill", "kill-leader", "pause", "pause-leader", "partition-leader",
                   "partition-halves", "bridge", "transfer", "membership")
LOG_TAIL = 400  # node log lines kept in a saved run
FINAL_READ_TIMEOUT = 30.0
REPLAY = ".venv/bin/python -m tests.faults.jepsen --check {path}"
_env_lock = threading.Lock()


class EnvCluster(Cluster):
    """`Cluster` whose server processes get ``env`` added to their environment.

    The harness passes ``os.environ`` to every process it spawns, so this sets ``env`` in
    ``os.environ`` around each spawn (spawns happen in the runner's thread only)."""

    def __init__(self, n: int, *, env: Mapping[str, str] | None = None, **kw: Any) -> None:
        super().__init__(n, **kw)
        self.env = dict(env or {})

    def spawn(self, key: int) -> None:
        with _env_lock, _environ(self.env):
            super().spawn(key)


@contextmanager
def _environ(env: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dataclass
class RunReport:
    """What a run did and found; ``str()`` is a readable summary."""

    name: str
    seed: int
    nodes: int
    duration: float
    nemeses: list[str]
    check: Report
    lost_acked: list[str] = field(default_factory=list)
    failed_visible: list[str] = field(default_factory=list)
    failed_writes: int = 0
    write_fails: dict[str, int] = field(default_factory=dict)  # why writes failed
    crossed: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    final_read: bool = False
    nemesis_log: str = ""
    op_nodes: dict[int, int] = field(default_factory=dict, repr=False)  # invoke index -> node
    faults: dict[str, int] = field(default_factory=dict)  # nemesis name -> faults started
    path: Path | None = None
    history: History | None = None

    @property
    def counts(self) -> dict[str, int]:
        return self.check.counts

    @property
    def anomaly_kinds(self) -> Counter[str]:
        """Checker anomalies by kind (``stale-read``, ``lost-append``, ...)."""
        return Counter(a.kind for a in self.check.anomalies)

    @property
    def valid(self) -> bool:
        return (
            self.check.valid is True
            and self.final_read
            and not (self.lost_acked or self.failed_visible or self.crossed
                     or self.unexpected or self.problems)
        )

    def summary(self) -> str:
        """One line: outcome, op counts, anomalies."""
        c = self.counts
        verdict = "valid" if self.valid else (
            "UNKNOWN" if self.check.valid is None and not self.problems else "INVALID")
        kinds = ", ".join(f"{k}×{n}" for k, n in sorted(self.anomaly_kinds.items())) or "none"
        why = ", ".join(f"{k} {n}" for k, n in sorted(self.write_fails.items())) or "none"
        return (
            f"{self.name} seed={self.seed} nodes={self.nodes} {verdict}: "
            f"ops ok={c.get('ok', 0)} fail={c.get('fail', 0)} info={c.get('info', 0)}; "
            f"anomalies: {kinds}; lost acknowledged writes: {len(self.lost_acked)}; "
            f"failed writes: {self.failed_writes} ({why}; visible later: "
            f"{len(self.failed_visible)}); "
            f"faults: {', '.join(f'{k}×{n}' for k, n in sorted(self.faults.items())) or 'none'}"
        )

    def __str__(self) -> str:
        lines = [self.summary(), f"nemeses: {', '.join(self.nemeses) or '(script)'}"]
        if self.check.valid is not True:
            lines.append(str(self.check))
        for title, items in (("lost acknowledged writes", self.lost_acked),
                             ("failed writes visible later", self.failed_visible),
                             ("replies of the wrong shape (crossed?)", self.crossed),
                             ("unexpected error replies", self.unexpected),
                             ("harness problems", self.problems)):
            if items:
                lines.append(f"{title} ({len(items)}):")
                lines += [f"  {x}" for x in items[:20]]
        if not self.final_read:
            lines.append("the final read did not read every key")
        if self.path is not None:
            lines.append(f"saved in {self.path}")
            lines.append("replay: " + REPLAY.format(path=self.path / "history.jsonl"))
        return "\n".join(lines)


def explicit_checks(history: History) -> tuple[list[str], list[str], int]:
    """(lost acknowledged writes, failed writes visible later, number of failed writes).

    The *final read* of a key is its last ok read invoked after every other operation on the
    key had completed (the runner's final read; none if it failed). Lost: an ok append
    missing from the final read of its list; a counter whose final read is below its ok
    increments. Visible: a register value or list element whose write/CAS/append failed,
    seen by any ok read; a counter whose final read exceeds its ok and unknown increments (a
    failed increment applied, or one applied twice)."""
    lost: list[str] = []
    visible: list[str] = []
    failed = 0
    for key, pairs in history.by_key().items():
        model = key_model(key)
        done = [(inv, comp) for inv, comp in pairs if comp is not None]
        updates = [(inv, comp) for inv, comp in done if inv.f not in ("read", "read-list")]
        failed += sum(1 for _, comp in updates if comp.kind == "fail")
        reads = [(inv, comp) for inv, comp in done
                 if comp.kind == "ok" and inv.f in ("read", "read-list")]
        quiet = max((comp.index for _, comp in updates), default=-1)
        finals = [comp.value for inv, comp in reads if inv.index > quiet]
        has_final = bool(finals) and len(done) == len(pairs)
        final = finals[-1] if finals else None
        if model == "list":
            seen = {e for _, comp in reads for e in (comp.value or ())}
            for inv, comp in updates:
                if comp.kind == "ok" and has_final and inv.value not in (final or ()):
                    lost.append(f"{key}: ok append of {inv.value!r} (#{inv.index}) "
                                "missing from the final read")
                if comp.kind == "fail" and inv.value in seen:
                    visible.append(f"{key}: failed append of {inv.value!r} (#{inv.index}) "
                                   "was read")
        elif model == "counter":
            ok = sum(1 for inv, comp in updates if inv.f == "incr" and comp.kind == "ok")
            maybe = sum(1 for inv, comp in updates if inv.f == "incr" and comp.kind == "info")
            if has_final and isinstance(final, int | None):
                value = final or 0
                if value < ok:
                    lost.append(f"{key}: final read {value} < {ok} acknowledged increments")
                if value > ok + maybe:
                    visible.append(f"{key}: final read {value} > {ok} acknowledged + {maybe} "
                                   "unknown increments")
        else:
            values = {comp.value for _, comp in reads}
            for inv, comp in updates:
                if comp.kind != "fail":
                    continue
                new = inv.value if inv.f == "write" else inv.value[1]
                if new in values:
                    visible.append(f"{key}: failed {inv.f} of {new!r} (#{inv.index}) was read")
    return lost, visible, failed


def final_read(cluster: Cluster, node: int, history: History, keys: Sequence[str],
               stats: ClientStats, timeout: float = FINAL_READ_TIMEOUT) -> bool:
    """Read every key from ``node`` (linearizable), retrying failed reads until ``timeout``;
    True if every key was read."""
    targets = Targets(lambda i: cluster.nodes[i].port, [node])
    reader = Worker(-1, history, targets, Workload(timeout=5.0), 0, threading.Event(),
                    time.monotonic() + timeout, stats)
    deadline = time.monotonic() + timeout
    try:
        for key in keys:
            while reader.read(key) != "ok":
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.1)
    finally:
        reader.conns.close()
    return True


def run(
    seed: int = 0,
    duration: float = 15.0,
    nodes: int = 3,
    workload: Workload | None = None,
    nemeses: Sequence[str] = DEFAULT_NEMESES,
    *,
    script: Script | None = None,
    env: Mapping[str, str] | None = None,
    name: str = "run",
    results: Path | None = None,
    save: str = "on-failure",
    verbose: bool = True,
) -> RunReport:
    """Run one fault-injection test (see the module docstring) and return its report.

    ``script`` replaces the random schedule of ``nemeses``; ``save`` is ``on-failure``,
    ``always`` or ``never``."""
    w = workload or Workload()
    rng = random.Random(seed)
    history = History()
    log = NemesisLog()
    stats = ClientStats()
    problems: list[str] = []
    tails: dict[int, str] = {}
    read_all = False
    with EnvCluster(nodes, env=env) as c:
        c.wait_leader(timeout=30)
        targets = Targets(lambda i: c.nodes[i].port, sorted(c.nodes))
        deadline = time.monotonic() + duration
        ctx = NemesisContext(c, log, targets, rng, deadline)
        stop = threading.Event()
        workers = [Worker(t, history, targets, w, seed, stop, deadline, stats)
                   for t in range(w.clients)]
        threads = [threading.Thread(target=wk.run, name=f"client-{wk.thread}", daemon=True)
                   for wk in workers]
        log.add("run", "info", f"seed {seed}, {nodes} nodes, {duration}s, {w}")
        for t in threads:
            t.start()
        try:
            (script or random_schedule(list(nemeses)))(ctx)
            ctx.sleep(ctx.remaining())
        finally:
            stop.set()
            for t in threads:
                t.join(30)
            stuck = [t.name for t in threads if t.is_alive()]
            if stuck:
                problems.append(f"client threads still running 30s after the end: {stuck}")
        log.add("run", "info", f"clients stopped after {sum(wk.ops for wk in workers)} ops")
        lead = heal_all(ctx)
        if lead is not None:
            read_all = final_read(c, lead, history, w.keys(), stats)
            log.add("run", "info", f"final read on node {lead}: "
                    f"{'complete' if read_all else 'INCOMPLETE'}")
        problems += ctx.problems
        tails = {i: "".join(b.decode(errors="replace") for b in list(n.log)[-LOG_TAIL:])
                 for i, n in sorted(c.nodes.items())}
    lost, visible, failed = explicit_checks(history)
    report = RunReport(
        name=name, seed=seed, nodes=nodes, duration=duration,
        nemeses=[] if script else list(nemeses), check=check_history(history),
        lost_acked=lost, failed_visible=visible, failed_writes=failed,
        write_fails=dict(stats.write_fails), crossed=list(stats.crossed),
        unexpected=list(stats.unexpected), problems=problems,
        final_read=read_all, nemesis_log=log.format(history[0].time if len(history) else 0),
        history=history, op_nodes=dict(stats.op_nodes),
        faults=dict(Counter(e.nemesis for e in log.events if e.action == "start")),
    )
    if save == "always" or (save == "on-failure" and not report.valid):
        report.path = save_run(report, history, log, tails, results or RESULTS)
    if verbose:
        print(report.summary() if report.valid else str(report), flush=True)
    return report


def save_run(report: RunReport, history: History, log: NemesisLog, tails: dict[int, str],
             results: Path) -> Path:
    """Write the run's files in a new directory under ``results``; returns it."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = results / f"{report.name}-seed{report.seed}-{stamp}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    path.mkdir(parents=True)
    history.save(path / "history.jsonl")
    (path / "nemesis.jsonl").write_text(log.dumps())
    (path / "nemesis.txt").write_text(report.nemesis_log + "\n")
    (path / "nodes.json").write_text(json.dumps({str(k): v for k, v in report.op_nodes.items()}))
    for i, text in tails.items():
        (path / f"node{i}.log").write_text(text)
    report.path = path
    (path / "report.txt").write_text(str(report) + "\n")
    return path
