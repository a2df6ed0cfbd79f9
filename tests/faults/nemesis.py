"""Nemeses: the faults a fault-injection run inflicts on a `cluster.harness.Cluster`, and a
log of what happened when.

A `Nemesis` has ``start`` (inject the fault) and ``stop`` (heal what ``start`` did; safe to
call when ``start`` failed half-way). The faults:

==================  ===========================================================================
name                fault
==================  ===========================================================================
kill, kill-leader   SIGKILL a random member (or the leader); ``stop`` restarts it on its data
pause, pause-leader SIGSTOP a random member (or the leader); ``stop`` sends SIGCONT
partition-leader    cut every link of the leader (the proxy; client ports stay reachable)
partition-halves    cut every link between a random minority and the rest
bridge              two halves that cannot talk, and one node that talks to both
transfer            ``RAFT TRANSFER`` of leadership to a random other member (no ``stop``)
membership          start a new node with ``--join``, ``RAFT ADD`` it, wait until it votes,
                    then ``RAFT REMOVE`` a random member (an old one or the new one)
==================  ===========================================================================

Rules:

- **Clock.** `NemesisLog` stamps events with `time.monotonic_ns`, the clock of
  `faults.history.History`, so the two logs interleave.
- **Members.** Nemeses act on ``Node.member`` nodes. A node removed by ``RAFT REMOVE`` (it exits
  on its own) and a joined node whose ``RAFT ADD`` did not happen are marked
  ``member = False``, dropped from the clients' `Targets` and killed.
- **Joined nodes' inbound links.** A node added by the membership nemesis dials the others
  through per-link proxies (``harness.Cluster.add_node``), but all members dial it at one
  address (the one given to ``RAFT ADD``), which is the proxy link ``(0, id)``. Cutting that
  link cuts every message *to* the node, so partitions cut it only when the node is alone on
  its side (``isolate``); otherwise a joined node keeps hearing from the other side.
- **Failures.** A nemesis step that fails (an admin command erroring, no leader in time) is
  logged as ``error`` and the run goes on; a node that does not come back after a restart is
  recorded in `NemesisContext.problems` (a finding: the run is reported invalid).
- **Bounds.** Every admin command has a socket timeout, every wait an explicit timeout, and a
  schedule stops at the run's deadline.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis
from cluster.harness import HOST, Cluster, ClusterError, raft_ids
from redis.backoff import NoBackoff
from redis.retry import Retry

from .clients import NOT_APPLIED, Targets, error_code

__all__ = [
    "NEMESES",
    "Event",
    "Nemesis",
    "NemesisContext",
    "NemesisLog",
    "heal_all",
    "make_nemeses",
    "random_schedule",
]

ADMIN_TIMEOUT = 15.0


# --- the log --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Event:
    """One line of the nemesis log: ``action`` is start, stop, info or error."""

    time: int
    nemesis: str
    action: str
    detail: str = ""

    def format(self, t0: int = 0) -> str:
        return f"+{(self.time - t0) / 1e9:8.3f}s {self.nemesis:<17} {self.action:<5} {self.detail}"


class NemesisLog:
    """Thread-safe, append-only list of `Event` (monotonic ns, the history's clock)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[Event] = []

    def add(self, nemesis: str, action: str, detail: str = "") -> Event:
        with self._lock:
            ev = Event(time.monotonic_ns(), nemesis, action, detail)
            self._events.append(ev)
            return ev

    @property
    def events(self) -> list[Event]:
        with self._lock:
            return list(self._events)

    def dumps(self) -> str:
        """JSON lines, one event per line."""
        return "".join(
            json.dumps({"time": e.time, "nemesis": e.nemesis, "action": e.action,
                        "detail": e.detail}) + "\n"
            for e in self.events
        )

    def format(self, t0: int = 0) -> str:
        return "\n".join(e.format(t0) for e in self.events)


# --- the context ----------------------------------------------------------------------------
@dataclass
class NemesisContext:
    """What nemeses and scripts act on. ``deadline`` is the run's end (monotonic s)."""

    cluster: Cluster
    log: NemesisLog
    targets: Targets
    rng: random.Random
    deadline: float
    problems: list[str] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)  # nodes removed from the cluster

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def sleep(self, seconds: float) -> bool:
        """Sleep ``seconds`` but not past the deadline; False if the deadline was reached."""
        left = self.remaining()
        time.sleep(min(seconds, left))
        return seconds < left

    def members(self) -> list[int]:
        return sorted(i for i, n in self.cluster.nodes.items() if n.member)

    def leader(self, timeout: float = 5.0) -> int | None:
        """The leader the serving members agree on, waited for up to ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                lead = self.cluster.leader_among()
            except (redis.RedisError, OSError):
                lead = None
            if lead is not None or time.monotonic() >= deadline:
                return lead
            time.sleep(0.05)

    def pick(self, target: str) -> int | None:
        """``leader`` (else a random serving member) or ``random`` serving member."""
        if target == "leader":
            lead = self.leader()
            if lead is not None:
                return lead
        serving = self.cluster.serving()
        return self.rng.choice(serving) if serving else None

    def admin(self, node: int, *args: Any, timeout: float = ADMIN_TIMEOUT) -> Any:
        """Run one admin command on ``node`` (a fresh connection); returns the reply or the
        exception it raised (never raises for Redis/socket errors)."""
        c = redis.Redis(
            host=HOST, port=self.cluster.nodes[node].port, protocol=2,
            socket_timeout=timeout, socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
        try:
            return c.execute_command(*args)  # type: ignore[no-untyped-call]
        except (redis.RedisError, OSError) as e:
            return e
        finally:
            c.close()

    def config(self) -> tuple[list[int], list[int]] | None:
        """(voters, learners) as the leader reports them, or None without a leader."""
        lead = self.leader()
        if lead is None:
            return None
        try:
            info = self.cluster.info_raft(lead)
        except (redis.RedisError, OSError):
            return None
        return raft_ids(info.get("members")), raft_ids(info.get("learners"))

    def retire(self, node: int, why: str) -> None:
        """``node`` is no longer a member: stop sending to it, kill it, never restart it."""
        n = self.cluster.nodes[node]
        n.member = False
        self.targets.remove(node)
        self.cluster.kill(node)
        if node not in self.removed:
            self.removed.append(node)
        self.log.add("cluster", "info", f"node {node} retired: {why}")


def _ok(reply: Any) -> bool:
    return reply is True or reply in (b"OK", "OK")


def _not_applied(e: redis.ResponseError) -> bool:
    """An error reply that means the command was not applied (CLUSTERDOWN, TRYAGAIN...)."""
    return error_code(e) in NOT_APPLIED


def _show(reply: Any) -> str:
    if isinstance(reply, BaseException):
        return f"{type(reply).__name__}: {reply}"
    return repr(reply)


# --- nemeses --------------------------------------------------------------------------------
class Nemesis:
    """A fault: `start` injects it, `stop` heals it (see the module docstring)."""

    name = "nemesis"

    def start(self, ctx: NemesisContext) -> None:
        raise NotImplementedError

    def stop(self, ctx: NemesisContext) -> None:
        """Heal; default: nothing to heal."""


class Kill(Nemesis):
    def __init__(self, target: str = "random") -> None:
        self.target = target
        self.name = "kill-leader" if target == "leader" else "kill"
        self.killed: list[int] = []

    def start(self, ctx: NemesisContext) -> None:
        node = ctx.pick(self.target)
        if node is None:
            ctx.log.add(self.name, "error", "no serving node")
            return
        ctx.cluster.kill(node)
        self.killed.append(node)
        ctx.log.add(self.name, "start", f"SIGKILL node {node}")

    def stop(self, ctx: NemesisContext) -> None:
        while self.killed:
            node = self.killed.pop()
            restart(ctx, node, self.name)


def restart(ctx: NemesisContext, node: int, who: str) -> None:
    """Start a dead member again and wait until it serves; a failure is a problem."""
    n = ctx.cluster.nodes[node]
    if not n.member or n.alive:
        return
    t0 = time.monotonic()
    try:
        ctx.cluster.start(node)
    except ClusterError as e:
        ctx.problems.append(f"node {node} did not restart: {e}")
        ctx.log.add(who, "error", f"node {node} did not restart")
        return
    ctx.log.add(who, "stop", f"node {node} restarted, ready in {time.monotonic() - t0:.2f}s")


class Pause(Nemesis):
    def __init__(self, target: str = "random") -> None:
        self.target = target
        self.name = "pause-leader" if target == "leader" else "pause"
        self.paused: list[int] = []

    def start(self, ctx: NemesisContext) -> None:
        node = ctx.pick(self.target)
        if node is None:
            ctx.log.add(self.name, "error", "no serving node")
            return
        ctx.cluster.stop(node)
        self.paused.append(node)
        ctx.log.add(self.name, "start", f"SIGSTOP node {node}")

    def stop(self, ctx: NemesisContext) -> None:
        while self.paused:
            node = self.paused.pop()
            n = ctx.cluster.nodes[node]
            if n.alive and n.stopped:
                ctx.cluster.cont(node)
                ctx.log.add(self.name, "stop", f"SIGCONT node {node}")


def cut_groups(ctx: NemesisContext, groups: list[list[int]]) -> None:
    """Cut every link between different ``groups`` (see the module docstring for joined
    nodes' inbound links)."""
    proxy = ctx.cluster.proxy
    proxy.partition(*groups)
    alone = {g[0] for g in groups if len(g) == 1}
    for src, dst in proxy.links():
        if src == 0 and dst in alone:
            proxy.cut(src, dst)


class Partition(Nemesis):
    def __init__(self, mode: str) -> None:
        if mode not in ("leader", "halves", "bridge"):
            raise ValueError(f"unknown partition mode {mode!r}")
        self.mode = mode
        self.name = {"leader": "partition-leader", "halves": "partition-halves",
                     "bridge": "bridge"}[mode]

    def start(self, ctx: NemesisContext) -> None:
        members = ctx.members()
        if self.mode == "leader":
            lead = ctx.pick("leader")
            if lead is None:
                ctx.log.add(self.name, "error", "no serving node")
                return
            groups = [[lead], [i for i in members if i != lead]]
        elif self.mode == "halves":
            shuffled = ctx.rng.sample(members, len(members))
            k = len(shuffled) // 2
            groups = [sorted(shuffled[:k]), sorted(shuffled[k:])]
        else:
            shuffled = ctx.rng.sample(members, len(members))
            k = (len(shuffled) - 1) // 2
            bridge = shuffled[k]
            groups = [sorted(shuffled[:k]), sorted(shuffled[k + 1:])]
            ctx.log.add(self.name, "info", f"node {bridge} sees both sides")
        if self.mode == "leader":
            ctx.cluster.proxy.isolate(groups[0][0])
        else:
            cut_groups(ctx, groups)
        ctx.log.add(self.name, "start", f"cut {groups[0]} | {groups[1]}")

    def stop(self, ctx: NemesisContext) -> None:
        ctx.cluster.proxy.heal_all()
        ctx.log.add(self.name, "stop", "healed every link")


class Transfer(Nemesis):
    name = "transfer"

    def start(self, ctx: NemesisContext) -> None:
        lead = ctx.leader()
        if lead is None:
            ctx.log.add(self.name, "error", "no leader")
            return
        config = ctx.config()
        voters = config[0] if config else ctx.members()
        others = [i for i in voters if i != lead and ctx.cluster.nodes[i].serving]
        if not others:
            ctx.log.add(self.name, "error", "no other serving voter")
            return
        to = ctx.rng.choice(others)
        via = ctx.rng.choice(ctx.cluster.serving())
        t0 = time.monotonic()
        reply = ctx.admin(via, "RAFT", "TRANSFER", to)
        took = time.monotonic() - t0
        action = "start" if _ok(reply) else "error"
        ctx.log.add(self.name, action,
                    f"RAFT TRANSFER {lead} -> {to} via node {via}: {_show(reply)} in {took:.2f}s")


class Membership(Nemesis):
    name = "membership"

    def __init__(self, remove: str = "random") -> None:
        if remove not in ("random", "new", "old"):
            raise ValueError(f"unknown removal choice {remove!r}")
        self.remove = remove

    def start(self, ctx: NemesisContext) -> None:
        c = ctx.cluster
        old = ctx.members()
        new = max(c.nodes) + 1
        node = c.add_node(new)
        inbound = c.proxy.add_link(0, new, (HOST, node.peer_port))
        ctx.log.add(self.name, "info", f"node {new} started with --join")
        vias = [i for i in old if c.nodes[i].serving]
        if not vias:
            ctx.retire(new, "no member to send RAFT ADD to")
            return
        via = ctx.rng.choice(vias)
        t0 = time.monotonic()
        reply = ctx.admin(via, "RAFT", "ADD", new, f"{HOST}:{inbound}")
        ctx.log.add(self.name, "start" if _ok(reply) else "error",
                    f"RAFT ADD {new} via node {via}: {_show(reply)} "
                    f"in {time.monotonic() - t0:.2f}s")
        if isinstance(reply, redis.ResponseError) and _not_applied(reply):
            ctx.retire(new, "RAFT ADD refused")
            return
        if not self._wait_voter(ctx, new):
            config = ctx.config()
            if config is None or new not in config[0] + config[1]:
                ctx.retire(new, "not added")
                return
            victim = new  # a learner that did not catch up: take it out again
        else:
            ctx.targets.add(new)
            choices = {"random": [*old, new], "new": [new], "old": old}[self.remove]
            victim = ctx.rng.choice(choices)
        self._remove(ctx, victim)

    def _wait_voter(self, ctx: NemesisContext, node: int) -> bool:
        deadline = time.monotonic() + min(15.0, max(5.0, ctx.remaining()))
        while time.monotonic() < deadline:
            config = ctx.config()
            if config is not None and node in config[0]:
                ctx.log.add(self.name, "info", f"node {node} is a voter: {config[0]}")
                return True
            time.sleep(0.1)
        ctx.log.add(self.name, "error", f"node {node} did not become a voter")
        return False

    def _remove(self, ctx: NemesisContext, victim: int) -> None:
        vias = [i for i in ctx.cluster.serving() if i != victim]
        if not vias:
            ctx.log.add(self.name, "error", "no node to send RAFT REMOVE to")
            return
        via = ctx.rng.choice(vias)
        t0 = time.monotonic()
        reply = ctx.admin(via, "RAFT", "REMOVE", victim)
        ctx.log.add(self.name, "info" if _ok(reply) else "error",
                    f"RAFT REMOVE {victim} via node {via}: {_show(reply)} "
                    f"in {time.monotonic() - t0:.2f}s")
        if _ok(reply):
            ctx.retire(victim, "removed")
            return
        config = ctx.config()  # the outcome is unknown: ask the leader
        if config is not None and victim not in config[0] + config[1]:
            ctx.retire(victim, "removed (seen in the configuration)")


def heal_all(ctx: NemesisContext, timeout: float = 30.0) -> int | None:
    """Undo every fault: heal links, SIGCONT stopped members, restart dead ones, retire
    nodes the leader's configuration no longer lists; returns the leader (or None)."""
    c = ctx.cluster
    c.proxy.heal_all()
    for i, n in sorted(c.nodes.items()):
        if n.alive and n.stopped:
            c.cont(i)
    config = ctx.config()
    if config is not None:
        for i in ctx.members():
            if i not in config[0] + config[1]:
                ctx.retire(i, "not in the leader's configuration")
    for i in ctx.members():
        restart(ctx, i, "heal")
    try:
        lead = c.wait_leader(timeout=timeout)
    except ClusterError as e:
        ctx.problems.append(f"no leader {timeout}s after healing everything: {e}")
        ctx.log.add("heal", "error", "no leader after healing")
        return None
    ctx.log.add("heal", "info", f"everything healed; leader {lead}")
    return lead


# --- schedules ----------------------------------------------------------------------------
NEMESES: dict[str, Callable[[], Nemesis]] = {
    "kill": lambda: Kill("random"),
    "kill-leader": lambda: Kill("leader"),
    "pause": lambda: Pause("random"),
    "pause-leader": lambda: Pause("leader"),
    "partition-leader": lambda: Partition("leader"),
    "partition-halves": lambda: Partition("halves"),
    "bridge": lambda: Partition("bridge"),
    "transfer": Transfer,
    "membership": Membership,
}


def make_nemeses(names: list[str]) -> list[Nemesis]:
    unknown = [n for n in names if n not in NEMESES]
    if unknown:
        raise ValueError(f"unknown nemeses {unknown}; known: {sorted(NEMESES)}")
    return [NEMESES[n]() for n in names]


Script = Callable[[NemesisContext], None]


def random_schedule(
    names: list[str],
    *,
    quiet: tuple[float, float] = (0.5, 1.5),
    hold: tuple[float, float] = (1.0, 3.0),
) -> Script:
    """A script that, until the deadline, waits a quiet time, starts a random nemesis of
    ``names``, holds it, and heals it (one fault at a time; times drawn from ``ctx.rng``).
    The last fault is healed at least 1 s before the deadline."""
    nemeses = make_nemeses(names)

    def script(ctx: NemesisContext) -> None:
        while ctx.remaining() > quiet[0] + 1.0:
            ctx.sleep(ctx.rng.uniform(*quiet))
            if ctx.remaining() < 1.5:
                break
            nem = ctx.rng.choice(nemeses)
            try:
                nem.start(ctx)
            except Exception as e:  # a harness failure: logged, the run goes on
                ctx.log.add(nem.name, "error", f"start failed: {type(e).__name__}: {e}")
            ctx.sleep(min(ctx.rng.uniform(*hold), max(0.0, ctx.remaining() - 1.0)))
            try:
                nem.stop(ctx)
            except Exception as e:
                ctx.log.add(nem.name, "error", f"stop failed: {type(e).__name__}: {e}")

    return script
