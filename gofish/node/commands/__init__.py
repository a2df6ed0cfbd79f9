"""Commands that run in the node rather than in the state machine: connection, server,
transactions and pub/sub. They are registered in the same command table (flag ``node``), so
``COMMAND`` lists them and arity is checked in the same place; their handlers take
``(dispatcher, session, argv)``.
"""

from __future__ import annotations

from gofish.statemachine.registry import CommandTable


def register_all(table: CommandTable) -> None:
    from gofish.node.commands import cluster, connection, pubsub, server, transactions

    for module in (connection, server, transactions, pubsub, cluster):
        module.register(table)
