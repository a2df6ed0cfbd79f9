"""INFO: the server's state as Redis 7.0's ``# Section`` / ``field:value`` text.

Rules:

- ``INFO`` and ``INFO default`` give the default sections; ``all`` and ``everything`` give
  every section; section names are case-insensitive, several may be given, unknown ones add
  nothing. Sections always come in the fixed order of `SECTIONS`, whatever the order asked.
- The text is ``# Name\\r\\n`` then ``field:value\\r\\n`` lines, sections separated by an
  empty line. RESP2 sends it as a bulk string, RESP3 as a verbatim ``txt`` string.
- Sections gofish has nothing for (modules, commandstats, errorstats, latencystats) are
  sent as a header alone, as Redis does for an empty section. ``keyspace`` lists ``db0``
  only when it holds keys. The ``gofish`` section (a default section) reports the partitions
  and the log: first/last index, commit and applied index. The ``raft`` section (only when
  asked for by name, so ``all`` keeps Redis's list) reports the node's Raft state: role,
  ids, term, indexes, members and the driver's durability counters.
- Memory comes from ``/proc/self/statm``: ``used_memory`` is resident anonymous memory
  (resident minus file-backed pages), ``used_memory_rss`` the whole resident set.
- Per-node counters INFO needs beyond the dispatcher's live in a `ServerStats` attached to the
  node (run id, ops/sec samples taken every 100 ms once INFO has been called, peak memory, the
  base CONFIG RESETSTAT subtracts); weakly keyed by the `Node`, not the `Dispatcher`: the
  dispatcher's class is compiled with mypyc (ADR 0014) and cannot be weakly referenced.
"""

from __future__ import annotations

import asyncio
import collections
import os
import platform
import resource
import sys
import time
import weakref
from collections.abc import Callable, Iterable
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from gofish._native import compiled_modules
from gofish.reply import Reply, Verbatim
from gofish.statemachine.registry import CommandSpec, command

if TYPE_CHECKING:
    from gofish.node.app import Node
    from gofish.node.config import Config
    from gofish.node.dispatch import Dispatcher, Session

REDIS_VERSION = "7.0.15"
SAMPLE_INTERVAL = 0.1
SAMPLES = 16


@lru_cache(maxsize=1)
def gofish_version() -> str:
    try:
        return version("gofish")
    except PackageNotFoundError:
        return "0.0.0"


class ServerStats:
    """INFO's per-node bookkeeping."""

    def __init__(self, d: Dispatcher) -> None:
        self.run_id = os.urandom(20).hex()
        self.replid = os.urandom(20).hex()
        self.samples: collections.deque[tuple[float, int]] = collections.deque(maxlen=SAMPLES)
        self.peak_memory = 0
        self.connections_base = 0
        self.max_id = 0
        self.sampling = False
        self._node = weakref.ref(d.node)

    def start_sampling(self) -> None:
        """Sample the command counter every 100 ms from now on (for instantaneous ops/sec)."""
        if self.sampling:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self.sampling = True
        self._tick(loop)

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        node = self._node()
        if node is None or loop.is_closed():
            self.sampling = False
            return
        self.samples.append((time.monotonic(), node.dispatcher.stats_commands))
        loop.call_later(SAMPLE_INTERVAL, self._tick, loop)

    def ops_per_sec(self) -> int:
        if len(self.samples) < 2:
            return 0
        (t0, c0), (t1, c1) = self.samples[0], self.samples[-1]
        if t1 <= t0 or c1 < c0:
            return 0
        return round((c1 - c0) / (t1 - t0))


_STATS: weakref.WeakKeyDictionary[Node, ServerStats] = weakref.WeakKeyDictionary()


def server_stats(d: Dispatcher) -> ServerStats:
    st = _STATS.get(d.node)
    if st is None:
        st = _STATS[d.node] = ServerStats(d)
    return st


def total_connections(d: Dispatcher) -> int:
    """Connections accepted since start (or since CONFIG RESETSTAT).

    Uses the server's ``total_connections`` when it has one; otherwise the highest
    connection id seen (ids count up from 1 per server), which can only undercount when the
    newest connections are already gone.
    """
    st = server_stats(d)
    total = getattr(d.node.server, "total_connections", None)
    if not isinstance(total, int):
        st.max_id = max(st.max_id, max(d.sessions, default=0))
        total = st.max_id
    return total - st.connections_base


def reset_stats(d: Dispatcher) -> None:
    """CONFIG RESETSTAT: zero the counters INFO reports."""
    st = server_stats(d)
    st.connections_base = 0
    st.connections_base = total_connections(d)
    st.samples.clear()
    st.peak_memory = 0
    d.stats_commands = 0
    d.stats_rejected = 0
    d.node.expired_keys = 0


# --- numbers -------------------------------------------------------------------------------
def bytes_to_human(n: int) -> str:
    """Redis's ``bytesToHuman``: 1023B, 1.00K, 1.50M, ..."""
    if n < 1024:
        return f"{n}B"
    for i, unit in enumerate("KMGTP", 1):
        if n < 1024 ** (i + 1) or unit == "P":
            return f"{n / 1024**i:.2f}{unit}"
    return f"{n}B"  # pragma: no cover


def process_memory() -> tuple[int, int]:
    """(used memory estimate, resident set size) of this process, in bytes."""
    try:
        with open("/proc/self/statm") as f:
            fields = f.read().split()
        page = os.sysconf("SC_PAGE_SIZE")
        resident, shared = int(fields[1]), int(fields[2])
        return (resident - shared) * page, resident * page
    except (OSError, ValueError, IndexError):
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return rss, rss


def _system_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (OSError, ValueError):
        return 0


# --- sections ------------------------------------------------------------------------------
Lines = list[tuple[str, object]]


def _server(d: Dispatcher) -> Lines:
    node = d.node
    cfg = node.config
    now = time.time()
    uptime = int(now - node.started)
    return [
        ("redis_version", REDIS_VERSION),
        ("gofish_version", gofish_version()),
        ("redis_git_sha1", "00000000"),
        ("redis_git_dirty", 0),
        ("redis_build_id", "0"),
        ("redis_mode", "standalone"),
        ("os", f"{platform.system()} {platform.release()} {platform.machine()}"),
        ("arch_bits", 64 if sys.maxsize > 2**32 else 32),
        ("monotonic_clock", "POSIX clock_gettime"),
        ("multiplexing_api", "epoll" if sys.platform.startswith("linux") else "kqueue"),
        ("python_version", platform.python_version()),
        ("gofish_compiled", ",".join(compiled_modules()) or "none"),
        ("process_id", os.getpid()),
        ("process_supervised", "no"),
        ("run_id", server_stats(d).run_id),
        ("tcp_port", node.port),
        ("server_time_usec", int(now * 1_000_000)),
        ("uptime_in_seconds", uptime),
        ("uptime_in_days", uptime // 86400),
        ("hz", cfg.hz),
        ("configured_hz", cfg.hz),
        ("lru_clock", int(now) & ((1 << 24) - 1)),
        ("executable", os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else ""),
        ("config_file", config_file(cfg)),
        ("io_threads_active", 0),
    ]


def _clients(d: Dispatcher) -> Lines:
    conns = [s.conn for s in d.sessions.values()]
    in_timeout = sum(
        1 for s in d.sessions.values() if s.waiter is not None and s.waiter.timer is not None
    )
    return [
        ("connected_clients", len(conns)),
        ("cluster_connections", 0),
        ("maxclients", d.node.config.maxclients),
        ("client_recent_max_input_buffer", max((c.qbuf for c in conns), default=0)),
        ("client_recent_max_output_buffer", max((c.obl for c in conns), default=0)),
        ("blocked_clients", d.blocked_clients),
        ("tracking_clients", 0),
        ("clients_in_timeout_table", in_timeout),
    ]


def _memory(d: Dispatcher) -> Lines:
    used, rss = process_memory()
    st = server_stats(d)
    st.peak_memory = max(st.peak_memory, used)
    peak = st.peak_memory
    total = _system_memory()
    return [
        ("used_memory", used),
        ("used_memory_human", bytes_to_human(used)),
        ("used_memory_rss", rss),
        ("used_memory_rss_human", bytes_to_human(rss)),
        ("used_memory_peak", peak),
        ("used_memory_peak_human", bytes_to_human(peak)),
        ("used_memory_peak_perc", f"{used * 100 / peak:.2f}%" if peak else "100.00%"),
        ("total_system_memory", total),
        ("total_system_memory_human", bytes_to_human(total)),
        ("maxmemory", 0),
        ("maxmemory_human", "0B"),
        ("maxmemory_policy", "noeviction"),
        ("mem_fragmentation_ratio", f"{rss / used:.2f}" if used else "1.00"),
        ("mem_allocator", "pymalloc"),
        ("lazyfree_pending_objects", 0),
    ]


def _persistence(d: Dispatcher) -> Lines:
    cfg = d.node.config
    cp = d.node.checkpoints
    running = cp.in_progress
    lp = d.node.loading_progress
    loading = [
        ("loading_start_time", int(lp.started)),
        ("loading_phase", lp.phase or "starting"),
        ("loading_loaded", lp.done),
        ("loading_total", lp.total),
        ("loading_loaded_perc", f"{lp.percent():.2f}"),
        ("loading_eta_seconds", lp.eta_seconds()),
    ] if d.loading else []
    return [
        ("loading", 1 if d.loading else 0),
        *loading,
        ("async_loading", 0),
        ("rdb_changes_since_last_save", cp.changes_since()),
        ("rdb_bgsave_in_progress", 1 if running else 0),
        ("rdb_last_save_time", last_save_time(d)),
        ("rdb_last_bgsave_status", cp.last_status),
        ("rdb_last_bgsave_time_sec", round(cp.last_seconds) if cp.last_seconds >= 0 else -1),
        ("rdb_current_bgsave_time_sec", round(time.time() - cp.started_at) if running else -1),
        ("rdb_saves", cp.saves),
        ("checkpoint_index", cp.last_index),
        ("checkpoint_dir", cp.last_dirname),
        ("aof_enabled", 1 if cfg.appendonly else 0),
        ("aof_rewrite_in_progress", 0),
        ("aof_rewrite_scheduled", 0),
        ("aof_last_rewrite_time_sec", -1),
        ("aof_current_rewrite_time_sec", -1),
        ("aof_last_bgrewrite_status", "ok"),
        ("aof_rewrites", 0),
        ("aof_last_write_status", "ok"),
        ("appendfsync", cfg.appendfsync),
    ]


def _stats(d: Dispatcher) -> Lines:
    node = d.node
    st = server_stats(d)
    return [
        ("total_connections_received", total_connections(d)),
        ("total_commands_processed", d.stats_commands),
        ("instantaneous_ops_per_sec", st.ops_per_sec()),
        ("rejected_connections", 0),
        ("expired_keys", node.expired_keys),
        ("evicted_keys", 0),
        ("evicted_clients", 0),
        ("keyspace_hits", 0),
        ("keyspace_misses", 0),
        ("pubsub_channels", len(node.pubsub.channels)),
        ("pubsub_patterns", len(node.pubsub.patterns)),
        ("pubsubshard_channels", 0),
        ("total_rejected_commands", d.stats_rejected),
    ]


def _replication(d: Dispatcher) -> Lines:
    return [
        ("role", "master"),
        ("connected_slaves", 0),
        ("master_failover_state", "no-failover"),
        ("master_replid", server_stats(d).replid),
        ("master_replid2", "0" * 40),
        ("master_repl_offset", 0),
        ("second_repl_offset", -1),
        ("repl_backlog_active", 0),
        ("repl_backlog_size", 1048576),
        ("repl_backlog_first_byte_offset", 0),
        ("repl_backlog_histlen", 0),
    ]


def _cpu(d: Dispatcher) -> Lines:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines: Lines = [
        ("used_cpu_sys", f"{me.ru_stime:.6f}"),
        ("used_cpu_user", f"{me.ru_utime:.6f}"),
        ("used_cpu_sys_children", f"{kids.ru_stime:.6f}"),
        ("used_cpu_user_children", f"{kids.ru_utime:.6f}"),
    ]
    who = getattr(resource, "RUSAGE_THREAD", None)
    if who is not None:
        main = resource.getrusage(who)
        lines += [
            ("used_cpu_sys_main_thread", f"{main.ru_stime:.6f}"),
            ("used_cpu_user_main_thread", f"{main.ru_utime:.6f}"),
        ]
    return lines


def _empty(d: Dispatcher) -> Lines:
    return []


def _cluster(d: Dispatcher) -> Lines:
    return [("cluster_enabled", 0)]


def _keyspace(d: Dispatcher) -> Lines:
    ks = d.sm.ks
    n = ks.dbsize()
    if n == 0:
        return []
    return [("db0", f"keys={n},expires={ks.expires_count()},avg_ttl=0")]


def _gofish(d: Dispatcher) -> Lines:
    node = d.node
    drv = node.driver
    return [
        ("gofish_version", gofish_version()),
        ("partitions", len(d.sm.ks.partitions)),
        ("datatypes", ",".join(node.datatypes)),
        ("read_consistency", node.config.read_consistency),
        ("log_first_index", drv.first_index()),
        ("log_last_index", drv.last_index()),
        ("commit_index", drv.commit_index),
        ("applied_index", drv.applied_index),
        ("applied_commands", d.sm.applied_commands),
        ("internal_errors", d.sm.internal_errors),
        *_sessions(d),
    ]


def _sessions(d: Dispatcher) -> Lines:
    st = d.sm.sessions.statistics()
    return [
        ("client_sessions", st.sessions),
        ("session_cached_replies", st.cached_replies),
        ("duplicate_requests", st.duplicates),
        ("stale_requests", st.stale),
    ]


def _raft(d: Dispatcher) -> Lines:
    drv = d.node.driver
    members = drv.members
    st = drv.statistics()
    return [
        ("role", drv.role),
        ("node_id", drv.id),
        ("leader_id", drv.leader_id),
        ("term", drv.term),
        ("commit_index", drv.commit_index),
        ("applied_index", drv.applied_index),
        ("first_log_index", drv.first_index()),
        ("last_log_index", drv.last_index()),
        ("members", ",".join(map(str, members.voters))),
        ("learners", ",".join(map(str, members.learners))),
        *(
            (f"peer_{n}", f"addr={addr},role={role},match={match},lag={lag},"
                          f"connected={int(up)}")
            for n, addr, role, match, lag, up in drv.peers()
        ),
        ("appendfsync", d.node.config.appendfsync),
        ("log_syncs", st.syncs),
        ("log_sync_avg_ms", f"{st.sync_seconds_total * 1000 / max(1, st.syncs):.3f}"),
        ("log_sync_max_ms", f"{st.sync_seconds_max * 1000:.3f}"),
        ("readies", st.readies),
        ("ready_max_ms", f"{st.ready_seconds_max * 1000:.3f}"),
        ("loop_stall_max_ms", f"{st.tick_lag_max * 1000:.3f}"),
        ("pending_proposals", st.pending_proposals),
        ("forwarded_proposals", st.forwarded),
        ("resent_proposals", st.resent),
        ("read_index_requests", st.read_requests),
        ("replayed_entries", st.replayed_entries),
        ("replay_seconds", f"{st.replay_seconds:.3f}"),
    ]


Section = Callable[["Dispatcher"], Lines]

# (name, header, builder, in the default set), in output order.
SECTIONS: tuple[tuple[str, str, Section, bool], ...] = (
    ("server", "Server", _server, True),
    ("clients", "Clients", _clients, True),
    ("memory", "Memory", _memory, True),
    ("persistence", "Persistence", _persistence, True),
    ("stats", "Stats", _stats, True),
    ("replication", "Replication", _replication, True),
    ("cpu", "CPU", _cpu, True),
    ("modules", "Modules", _empty, True),
    ("commandstats", "Commandstats", _empty, False),
    ("errorstats", "Errorstats", _empty, True),
    ("latencystats", "Latencystats", _empty, False),
    ("cluster", "Cluster", _cluster, True),
    ("keyspace", "Keyspace", _keyspace, True),
    ("gofish", "Gofish", _gofish, True),
    ("raft", "Raft", _raft, False),
)
_ALIASES = {"module_list": "modules"}


def wanted_sections(args: Iterable[bytes]) -> set[str]:
    """The section names an INFO argument list selects."""
    names = [a.decode(errors="replace").lower() for a in args] or ["default"]
    out: set[str] = set()
    for name in names:
        if name in ("all", "everything"):
            out.update(s[0] for s in SECTIONS)
        elif name == "default":
            out.update(s[0] for s in SECTIONS if s[3])
        else:
            out.add(_ALIASES.get(name, name))
    return out


def info_text(d: Dispatcher, args: Iterable[bytes]) -> bytes:
    """The INFO text for the sections ``args`` selects."""
    wanted = wanted_sections(args)
    parts: list[str] = []
    for name, header, build, _default in SECTIONS:
        if name not in wanted:
            continue
        lines = [f"# {header}\r\n"]
        lines.extend(f"{k}:{v}\r\n" for k, v in build(d))
        parts.append("".join(lines))
    return "\r\n".join(parts).encode()


def config_file(cfg: Config) -> str:
    """The config file the server was started with, or ''."""
    path = getattr(cfg, "config_file", "")
    return path if isinstance(path, str) else ""


def last_save_time(d: Dispatcher) -> int:
    """The last checkpoint's time, or the node's start time before the first one."""
    last = getattr(d.node, "last_save", None)
    return int(last if isinstance(last, (int, float)) else d.node.started)


def info(d: Dispatcher, s: Session, argv: list[bytes]) -> Reply:
    server_stats(d).start_sampling()
    text = info_text(d, argv[1:])
    return Verbatim(text) if s.conn.proto == 3 else text


def spec() -> CommandSpec:
    return command(
        "info", -1, "node loading stale @dangerous", group="server", since="1.0.0",
        summary="Get information and statistics about the server",
        complexity="O(1)",
    )(info)
