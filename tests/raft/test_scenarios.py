"""Scripted Raft scenarios: tests/raft/scenarios/*.txt, one line per command.

A tiny line language in the spirit of etcd raft's testdata interaction files. Blank lines
and ``#`` comments are ignored. Node lists are space separated ids.

Setup and faults::

    add-nodes N [voters=(1,2,3)] [learners=(4)] [join] [election=10] [pre-vote=true]
              [check-quorum=true] [lease=false] [max-size=N] [max-inflight=N] [bugs=a,b]
    set-log ID term=T [vote=V] [commit=C] 1/1 2/1 3/2    # replace ID's durable log, restart
    crash ID | restart ID | compact ID INDEX
    partition 1 2 | 3 | heal | isolate ID

Driving (the driver persists, sends, applies, advances; see `Harness.process_ready`)::

    campaign ID | propose ID DATA | propose-dropped ID DATA | read-index ID CTX
    conf-change ID add|add-learner|remove NODE | conf-change-dropped ...
    transfer-leader ID TO | tick ID.. [n=K] | tick-election ID.. | tick-heartbeat ID..
    process-ready [ID..] | deliver-msgs [from=X] [to=Y] [type=A,B] | drop-msgs [same]
    stabilize | repeat N CMD [; CMD..]

Assertions::

    expect [ID] role=leader term=2 leader=1 commit=3 applied=3 last=4 first=1 vote=1
                voters=(1,2) learners=() transferee=0     # no ID: every live node
    expect log ID = 1/1 2/1 3/2        # index/term of every entry first..last
    expect state ID = a b c            # applied data (no-ops and conf changes skipped)
    expect reads ID = ctx@index ..     # reads served so far, then forgotten
    expect progress ID PEER state=replicate match=3 next=4
    expect queued [from=X] [to=Y] [type=A] count=N   # messages waiting in the network
    log-state ID                       # print a node (debugging)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest

from gofish.log.memory import MemoryStorage
from gofish.raft import (
    ConfChange,
    ConfChangeType,
    Config,
    ConfState,
    Entry,
    EntryType,
    HardState,
    Message,
    MessageType,
    ProposalDroppedError,
    RawNode,
    decode_conf_change,
)

SCENARIOS = sorted((Path(__file__).parent / "scenarios").glob("*.txt"))
_SM = msgspec.msgpack.Decoder(list[tuple[int, bytes]])
_CC = {"add": ConfChangeType.ADD_NODE, "add-learner": ConfChangeType.ADD_LEARNER,
       "remove": ConfChangeType.REMOVE_NODE}


@dataclass
class HNode:
    id: int
    storage: MemoryStorage
    opts: dict[str, Any]
    boot: ConfState
    raw: RawNode | None = None
    sm: list[tuple[int, bytes]] = field(default_factory=list)  # (index, data) applied
    applied: int = 0
    reads: list[tuple[bytes, int]] = field(default_factory=list)
    served: list[str] = field(default_factory=list)

    def node(self) -> RawNode:
        assert self.raw is not None, f"node {self.id} is crashed"
        return self.raw


def _ids(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text))


def _kv(tokens: list[str]) -> tuple[list[str], dict[str, str]]:
    pos = [t for t in tokens if "=" not in t]
    return pos, dict(t.split("=", 1) for t in tokens if "=" in t)


class Harness:
    """A cluster of RawNodes over MemoryStorage with an in-order, partitionable network."""

    def __init__(self) -> None:
        self.nodes: dict[int, HNode] = {}
        self.net: list[Message] = []
        self.groups: list[set[int]] = []

    # --- nodes ----------------------------------------------------------------------------
    def add_nodes(self, n: int, kv: dict[str, str], join: bool) -> None:
        new = [max(self.nodes, default=0) + i + 1 for i in range(n)]
        voters = _ids(kv.get("voters", "")) or tuple(new)
        boot = ConfState() if join else ConfState(voters, _ids(kv.get("learners", "")))
        truth = {"true": True, "false": False}
        opts: dict[str, Any] = {
            "election_tick": int(kv.get("election", 10)),
            "heartbeat_tick": int(kv.get("heartbeat", 1)),
            "pre_vote": truth[kv.get("pre-vote", "true")],
            "check_quorum": truth[kv.get("check-quorum", "true")],
            "read_only_lease_based": truth[kv.get("lease", "false")],
            "max_size_per_msg": int(kv.get("max-size", 1 << 20)),
            "max_inflight_msgs": int(kv.get("max-inflight", 256)),
            "test_bugs": frozenset(b for b in kv.get("bugs", "").split(",") if b),
        }
        for i in new:
            self.nodes[i] = HNode(i, MemoryStorage(), opts, boot)
            self.restart(i)
            while self.process_ready([i]):
                pass

    def restart(self, i: int) -> None:
        h = self.nodes[i]
        snap = h.storage.snapshot()
        h.sm = list(_SM.decode(snap.data)) if snap.data else []
        h.applied = snap.metadata.index
        h.reads = []
        cfg = Config(id=i, voters=h.boot.voters, learners=h.boot.learners,
                     applied=h.applied, seed=i, **h.opts)
        h.raw = RawNode(cfg, h.storage)

    def set_log(self, i: int, kv: dict[str, str], ents: list[str]) -> None:
        h = self.nodes[i]
        st = MemoryStorage()
        st.append([Entry(term=int(t), index=int(x), data=f"{x}/{t}".encode())
                   for x, t in (e.split("/") for e in ents)])
        st.set_hard_state(HardState(term=int(kv["term"]), vote=int(kv.get("vote", 0)),
                                    commit=int(kv.get("commit", 0))))
        st.set_conf_state(h.boot)
        h.storage = st
        self.restart(i)

    def compact(self, i: int, index: int) -> None:
        h = self.nodes[i]
        assert index <= h.applied, f"compact {index} beyond applied {h.applied}"
        data = msgspec.msgpack.encode([e for e in h.sm if e[0] <= index])
        h.storage.create_snapshot(index, h.storage.conf_state, data)
        h.storage.compact(index)

    # --- the driver -----------------------------------------------------------------------
    def process_ready(self, ids: list[int] | None = None) -> bool:
        """Run one Ready on each given live node: persist, send, apply, advance."""
        done = False
        for i in ids or sorted(self.nodes):
            h = self.nodes[i]
            if h.raw is None or not h.raw.has_ready():
                continue
            done = True
            raw, st = h.raw, h.storage
            rd = raw.ready()
            if rd.snapshot is not None:
                st.apply_snapshot(rd.snapshot)
            st.append(rd.entries)
            if rd.hard_state is not None:
                st.set_hard_state(rd.hard_state)
            self.net.extend(rd.messages)
            if rd.snapshot is not None:
                h.sm = list(_SM.decode(rd.snapshot.data))
                h.applied = rd.snapshot.metadata.index
            for e in rd.committed_entries:
                assert e.index == h.applied + 1, f"node {i} applies {e.index} after {h.applied}"
                if e.type == EntryType.CONF_CHANGE:
                    st.set_conf_state(raw.apply_conf_change(decode_conf_change(e.data)))
                elif e.data:
                    h.sm.append((e.index, e.data))
                h.applied = e.index
            h.reads.extend((r.request_ctx, r.index) for r in rd.read_states)
            for ctx, idx in [r for r in h.reads if r[1] <= h.applied]:
                h.served.append(f"{ctx.decode()}@{idx}")
            h.reads = [r for r in h.reads if r[1] > h.applied]
            raw.advance(rd)
        return done

    def linked(self, a: int, b: int) -> bool:
        return not self.groups or any(a in g and b in g for g in self.groups)

    def deliver(self, kv: dict[str, str], drop: bool = False) -> bool:
        match = [m for m in self.net if _matches(m, kv)]
        self.net = [m for m in self.net if not _matches(m, kv)]
        for m in match:
            dst = self.nodes.get(m.to)
            ok = not drop and dst is not None and dst.raw is not None and self.linked(
                m.from_, m.to)
            if ok:
                dst.node().step(m)  # type: ignore[union-attr]
            src = self.nodes.get(m.from_)
            if m.type == MessageType.SNAPSHOT and src is not None and src.raw is not None:
                src.raw.report_snapshot(m.to, failed=not ok)
        return bool(match)

    def stabilize(self) -> None:
        for _ in range(10_000):
            if not (self.process_ready() | self.deliver({})):
                return
        raise AssertionError("stabilize did not converge")

    def tick(self, ids: tuple[int, ...], n: int) -> None:
        for _ in range(n):
            for i in ids:
                self.nodes[i].node().tick()

    def describe(self, i: int) -> str:
        h = self.nodes[i]
        if h.raw is None:
            return f"node {i}: crashed"
        s, log = h.raw.status(), h.raw.raft.log
        ents = " ".join(f"{e.index}/{e.term}" for e in log.slice(log.first_index(), 1 << 62))
        return (f"node {i}: {s.role.name} term={s.term} vote={s.vote} leader={s.leader} "
                f"commit={s.commit} applied={s.applied} conf={s.conf_state} "
                f"progress={s.progress} log=[{ents}]")


def _matches(m: Message, kv: dict[str, str]) -> bool:
    if "from" in kv and m.from_ != int(kv["from"]):
        return False
    if "to" in kv and m.to != int(kv["to"]):
        return False
    return "type" not in kv or m.type.name in kv["type"].upper().replace("-", "_").split(",")


def _check(label: str, got: object, want: str) -> None:
    assert str(got) == want, f"{label}: want {want}, got {got}"


def expect(h: Harness, args: list[str]) -> None:
    kind = args[0]
    if kind in ("log", "state", "reads"):
        i, want = int(args[1]), " ".join(args[3:])
        hn = h.nodes[i]
        if kind == "log":
            log = hn.node().raft.log
            got = " ".join(f"{e.index}/{e.term}" for e in log.slice(log.first_index(), 1 << 62))
        elif kind == "state":
            got = " ".join(d.decode() for _, d in hn.sm)
        else:
            got, hn.served = " ".join(hn.served), []
        _check(f"{kind} of node {i}", got, want)
    elif kind == "progress":
        pr = h.nodes[int(args[1])].node().raft.trk.progress[int(args[2])]
        fields = {"state": pr.state.name.lower(), "match": pr.match, "next": pr.next}
        for k, v in _kv(args[3:])[1].items():
            _check(f"progress {args[1]}->{args[2]} {k}", fields[k], v)
    elif kind == "queued":
        pos, kv = _kv(args[1:])
        count = kv.pop("count")
        _check(f"queued {kv}", sum(1 for m in h.net if _matches(m, kv)), count)
    else:
        pos, kv = _kv(args)
        ids = [int(pos[0])] if pos else [i for i, n in h.nodes.items() if n.raw is not None]
        for i in ids:
            s = h.nodes[i].node().status()
            fields = {
                "role": s.role.name.lower().replace("_", "-"), "term": s.term,
                "leader": s.leader, "commit": s.commit, "applied": s.applied,
                "last": s.last_index, "vote": s.vote, "transferee": s.lead_transferee,
                "first": h.nodes[i].node().raft.log.first_index(),
                "voters": "(" + ",".join(map(str, s.conf_state.voters)) + ")",
                "learners": "(" + ",".join(map(str, s.conf_state.learners)) + ")",
            }
            for k, v in kv.items():
                _check(f"node {i} {k}", fields[k], v)


def run_command(h: Harness, line: str) -> None:
    cmd, *args = line.split()
    if cmd == "repeat":
        for _ in range(int(args[0])):
            for part in " ".join(args[1:]).split(";"):
                run_command(h, part.strip())
        return
    pos, kv = _kv(args)
    ids = tuple(int(x) for x in pos if x.isdigit())
    if cmd == "add-nodes":
        h.add_nodes(int(pos[0]), kv, "join" in pos)
    elif cmd == "set-log":
        h.set_log(ids[0], kv, pos[1:])
    elif cmd == "crash":
        for i in ids:
            h.nodes[i].raw = None
    elif cmd == "restart":
        for i in ids:
            h.restart(i)
    elif cmd == "compact":
        h.compact(ids[0], ids[1])
    elif cmd == "partition":
        h.groups = [set(_ids(g)) for g in " ".join(args).split("|")]
    elif cmd == "isolate":
        h.groups = [{ids[0]}, set(h.nodes) - {ids[0]}]
    elif cmd == "heal":
        h.groups = []
    elif cmd == "campaign":
        h.nodes[ids[0]].node().campaign()
    elif cmd in ("propose", "propose-dropped"):
        node = h.nodes[ids[0]].node()
        if cmd == "propose":
            node.propose(pos[1].encode())
        else:
            with pytest.raises(ProposalDroppedError):
                node.propose(pos[1].encode())
    elif cmd in ("conf-change", "conf-change-dropped"):
        cc = ConfChange(_CC[pos[1]], int(pos[2]))
        node = h.nodes[ids[0]].node()
        if cmd == "conf-change":
            node.propose_conf_change(cc)
        else:
            with pytest.raises(ProposalDroppedError):
                node.propose_conf_change(cc)
    elif cmd == "read-index":
        h.nodes[ids[0]].node().read_index(pos[1].encode())
    elif cmd == "transfer-leader":
        h.nodes[ids[0]].node().transfer_leader(ids[1])
    elif cmd in ("tick", "tick-election", "tick-heartbeat"):
        cfg = h.nodes[ids[0]].node().raft.cfg
        n = {"tick": int(kv.get("n", 1)), "tick-election": cfg.election_tick,
             "tick-heartbeat": cfg.heartbeat_tick}[cmd]
        h.tick(ids, n)
    elif cmd == "process-ready":
        h.process_ready(list(ids) or None)
    elif cmd in ("deliver-msgs", "drop-msgs"):
        h.deliver(kv, drop=cmd == "drop-msgs")
    elif cmd == "stabilize":
        h.stabilize()
    elif cmd == "expect":
        expect(h, args)
    elif cmd == "log-state":
        for i in ids or tuple(h.nodes):
            print(h.describe(i))
    else:
        raise ValueError(f"unknown command {cmd!r}")


def run_script(text: str, name: str = "<script>") -> Harness:
    h = Harness()
    for no, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            run_command(h, line)
        except Exception as exc:
            state = "\n".join(h.describe(i) for i in sorted(h.nodes))
            raise AssertionError(f"{name}:{no}: {line}\n{exc}\n{state}") from exc
    return h


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario(path: Path) -> None:
    run_script(path.read_text(), path.name)


def test_scenarios_exist() -> None:
    assert len(SCENARIOS) >= 9
