"""The `indexer` command line (docs/spec.md §9)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from collections.abc import Callable, Coroutine
from typing import Any

import structlog

from indexer import log as logsetup
from indexer.config import Config, ConfigError, DatabaseConfig, load_config

log = structlog.get_logger("indexer.cli")

# docs/spec.md §9. EXIT_REFUSED: the database belongs to another network or daemon, or the
# node's chain has no intersection with it; retrying cannot help (systemd:
# RestartPreventExitStatus=2 3).
EXIT_OK, EXIT_FATAL, EXIT_USAGE, EXIT_REFUSED = 0, 1, 2, 3


def _config(args: argparse.Namespace) -> Config:
    cfg = load_config(args.config) if getattr(args, "config", None) else Config()
    if getattr(args, "dsn", None):
        cfg = dataclasses.replace(cfg, database=DatabaseConfig(args.dsn))
    return cfg


async def _cmd_run(cfg: Config, args: argparse.Namespace) -> int:
    from indexer import daemon

    stop = asyncio.Event()
    daemon.install_signal_handlers(stop)
    await daemon.run(cfg, stop)
    return EXIT_OK


async def _cmd_db(cfg: Config, args: argparse.Namespace) -> int:
    from indexer.db.store import LATEST_VERSION, Store

    store = await Store.connect(cfg.database.dsn)
    try:
        if args.action in ("init", "migrate"):
            await store.lock_daemon()  # never change the schema under a running daemon
        if args.action == "init":
            if await store.schema_version() is not None:
                print("schema already present; use `indexer db migrate`", file=sys.stderr)
                return EXIT_FATAL
            await store.init_schema()
            print(f"schema v{LATEST_VERSION} created")
        elif args.action == "migrate":
            applied = await store.migrate()
            print(f"schema at v{LATEST_VERSION}" + (f" (applied {applied})" if applied else ""))
        elif args.action == "grant":
            from indexer.db.roles import grant_readonly

            await grant_readonly(store, args.role, args.password)
            print(f"role {args.role} may read the public views")
        else:
            problems = await store.check()
            for p in problems:
                print(p)
            if problems:
                return EXIT_FATAL
            print(f"schema v{LATEST_VERSION}: ok")
    finally:
        await store.close()
    return EXIT_OK


async def _cmd_status(cfg: Config, args: argparse.Namespace) -> int:
    from indexer.ops.status import status

    print(await status(cfg))
    return EXIT_OK


async def _cmd_rewards(cfg: Config, args: argparse.Namespace) -> int:
    from indexer.accounting.importer import import_rewards_file

    count = await import_rewards_file(cfg.database.dsn, args.file)
    print(f"imported {count} pool-epochs")
    return EXIT_OK


def _write_output(path: str | None, text: str) -> None:
    """A command's document: to ``--output`` if given, else to standard output."""
    if path:
        with open(path, "w") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)


async def _cmd_export(cfg: Config, args: argparse.Namespace) -> int:
    from indexer.accounting.export import export

    text = await export(cfg.database.dsn, args.pool, args.format, args.from_epoch, args.to_epoch)
    _write_output(args.output, text)
    return EXIT_OK


async def _cmd_payout(cfg: Config, args: argparse.Namespace) -> int:
    from indexer.accounting.settlement import PayoutError, record_payout
    from indexer.db.store import Store

    store = await Store.connect(cfg.database.dsn)
    try:
        row = await record_payout(store, args.pool, args.stake_address, args.amount_lovelace,
                                  args.tx, args.note)
    except PayoutError as exc:
        print(f"indexer: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        await store.close()
    print(f"recorded payout #{row['id']}: {row['amount_lovelace']} lovelace from pool "
          f"{row['pool_id']} to {row['stake_address']}"
          + (f" (transaction {row['tx_id']})" if row["tx_id"] else ""))
    return EXIT_OK


async def _cmd_report(cfg: Config, args: argparse.Namespace) -> int:
    from indexer.accounting.statement import StatementError, report

    try:
        text = await report(cfg.database.dsn, args.pool, args.owner, args.from_epoch,
                            args.to_epoch)
    except StatementError as exc:
        print(f"indexer: {exc}", file=sys.stderr)
        return EXIT_USAGE
    _write_output(args.output, text)
    return EXIT_OK


async def _cmd_demo(cfg: Config, args: argparse.Namespace) -> int:
    from indexer.demo.run import run_demo

    return await run_demo(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="indexer", description="Owner accounting for shared Cardano stake pools.")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, help_text: str, config: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        if config:
            p.add_argument("--config", "-c", help="TOML config file (see config.example.toml)")
            p.add_argument("--dsn", help="PostgreSQL DSN (overrides [database] dsn)")
        return p

    add("run", "Follow the chain until SIGINT/SIGTERM; creates or migrates the schema.")
    db = add("db", "Create, migrate or check the database schema; grant read access.")
    db.add_argument("action", choices=["init", "migrate", "check", "grant"])
    db.add_argument("--role", default="indexer_reader", help="role for `grant`")
    db.add_argument("--password", help="password for the role (`grant`; none = no login)")
    add("status", "Show the tip, the lag and the last materialized epoch.")
    rw = add("rewards", "Import the ledger's past reward figures from a CSV file.")
    rw.add_argument("action", choices=["import"])
    rw.add_argument("file", help="CSV: pool_id, epoch, total_rewards_lovelace, "
                    "leader_reward_lovelace[, blocks_made, owners_stake_lovelace, source]")
    ex = add("export", "Write a pool's per-epoch owner rows.")
    ex.add_argument("--pool", required=True, help="bech32 pool id")
    ex.add_argument("--format", default="csv", choices=["csv", "json", "adastry-multiowner"])
    ex.add_argument("--from-epoch", type=int)
    ex.add_argument("--to-epoch", type=int)
    ex.add_argument("--output", "-o", help="file to write (default: standard output)")
    pay = add("payout", "Record a payout the chain does not show (owner_payout, kind recorded).")
    pay.add_argument("action", choices=["add"])
    pay.add_argument("--pool", required=True, help="bech32 pool id")
    pay.add_argument("--stake-address", required=True, help="the account paid (stake1…)")
    pay.add_argument("--amount-lovelace", required=True, type=int, help="integer lovelace")
    pay.add_argument("--tx", help="the transaction id, if there is one (64 hex)")
    pay.add_argument("--note", help="free text: how it was paid")
    rep = add("report", "Write an owner's statement: settlement, pledge, per-epoch figures and "
                        "where they come from, a chart (one HTML page).")
    rep.add_argument("--pool", required=True, help="bech32 pool id")
    rep.add_argument("--owner", help="one account's statement (stake1…); default: all accounts")
    rep.add_argument("--from-epoch", type=int)
    rep.add_argument("--to-epoch", type=int)
    rep.add_argument("--format", default="html", choices=["html"],
                     help="html (print it from a browser for a PDF)")
    rep.add_argument("--output", "-o", help="file to write (default: standard output)")
    demo = add("demo", "Index a bundled scripted chain and show one shared pool's accounting.",
               config=False)
    demo.add_argument("--dsn", help="use this PostgreSQL instead of an embedded one")
    demo.add_argument("--keep", action="store_true",
                      help="keep the embedded database running until Ctrl-C to explore it")
    return parser


COMMANDS: dict[str, Callable[[Config, argparse.Namespace], Coroutine[Any, Any, int]]] = {
    "run": _cmd_run, "db": _cmd_db, "status": _cmd_status, "rewards": _cmd_rewards,
    "export": _cmd_export, "payout": _cmd_payout, "report": _cmd_report,
    "demo": _cmd_demo,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cfg = Config() if args.command == "demo" else _config(args)
    except ConfigError as exc:
        print(f"indexer: {exc}", file=sys.stderr)
        return EXIT_USAGE
    logsetup.configure(cfg.log.format, cfg.log.level)
    try:
        return asyncio.run(COMMANDS[args.command](cfg, args))
    except KeyboardInterrupt:
        return EXIT_OK
    except BaseException as exc:
        _report(exc)
        return exit_code(exc)


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def exit_code(exc: BaseException) -> int:
    """docs/spec.md §9: 3 when retrying cannot help, 2 for usage and configuration, else 1."""
    from indexer.db.store import DatabaseBusy
    from indexer.sync.network import WrongNetwork
    from indexer.sync.ogmios import IntersectionNotFound

    leaves = _leaves(exc)
    if any(isinstance(e, DatabaseBusy | WrongNetwork | IntersectionNotFound) for e in leaves):
        return EXIT_REFUSED
    if any(isinstance(e, ConfigError) for e in leaves):
        return EXIT_USAGE
    return EXIT_FATAL


def _report(exc: BaseException) -> None:
    errors: list[Any] = list(exc.exceptions) if isinstance(exc, BaseExceptionGroup) else [exc]
    for err in errors:
        if isinstance(err, BaseExceptionGroup):
            _report(err)
            continue
        log.error("fatal", error=str(err), error_type=type(err).__name__)
        print(f"indexer: fatal: {type(err).__name__}: {err}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
