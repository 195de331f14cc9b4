"""The `indexer` command line (docs/spec.md §9)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import structlog

from indexer import log as logsetup
from indexer.config import Config, ConfigError, load_config, with_dsn

if TYPE_CHECKING:
    from indexer.db.store import Store

log = structlog.get_logger("indexer.cli")

# docs/spec.md §9. EXIT_REFUSED: the database belongs to another network or daemon, or the
# node's chain has no intersection with it; retrying cannot help (systemd:
# RestartPreventExitStatus=2 3). EXIT_FINDINGS (`rewards fetch`, the product's own): the fetch
# completed, but some fetched figures contradict live ones or the chain.
EXIT_OK, EXIT_FATAL, EXIT_USAGE, EXIT_REFUSED, EXIT_FINDINGS = 0, 1, 2, 3, 4


def _config(args: argparse.Namespace) -> Config:
    """The file (or every default), ``INDEXER_DSN`` if it names no DSN, then ``--dsn``."""
    cfg = load_config(getattr(args, "config", None))
    return with_dsn(cfg, args.dsn) if getattr(args, "dsn", None) else cfg


async def _cmd_run(cfg: Config, args: argparse.Namespace) -> int:
    from indexer import daemon

    stop = asyncio.Event()
    daemon.install_signal_handlers(stop)
    await daemon.run(cfg, stop)
    return EXIT_OK


async def _cmd_db(cfg: Config, args: argparse.Namespace) -> int:
    from indexer.db.store import LATEST_VERSION, Store

    password = None
    if args.action == "grant":  # refuse a password argument before anything else
        try:
            password = _role_password(args)
        except _UsageError as exc:
            print(f"indexer: db grant: {exc}", file=sys.stderr)
            return EXIT_USAGE
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
            return await _grant(store, args, password)
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


# `indexer db grant`: where the role's password comes from. Never from the command line: the
# arguments of a process are visible to every local user (ps, /proc/PID/cmdline) and are kept
# in a container's configuration.
ROLE_PASSWORD_ENV = "INDEXER_ROLE_PASSWORD"


class _UsageError(Exception):
    pass


def _read_password_file(path: str) -> str:
    try:
        if path == "-":
            text = sys.stdin.readline()
        else:
            with open(path, encoding="utf-8") as fh:
                text = fh.readline()
    except (OSError, UnicodeDecodeError) as exc:
        raise _UsageError(f"cannot read the password file {path}: {exc}") from exc
    return text.removesuffix("\n").removesuffix("\r")  # the line's end, not the password's


def _prompt_password(role: str) -> str:
    import getpass

    if not sys.stdin.isatty():
        raise _UsageError("--password-prompt needs a terminal: use --password-file or "
                          f"{ROLE_PASSWORD_ENV}")
    first = getpass.getpass(f"password for role {role}: ")
    if getpass.getpass("again: ") != first:
        raise _UsageError("the two passwords differ")
    return first


def _role_password(args: argparse.Namespace) -> str | None:
    """The role's password from --password-file, the environment or a prompt (None: none)."""
    if args.password is not None:
        raise _UsageError(
            "--password is refused (a password on the command line is visible to every local "
            "user and stays in shell histories and container configurations): give it with "
            f"--password-file FILE (- for standard input), the {ROLE_PASSWORD_ENV} environment "
            "variable or --password-prompt. Choose a new one: this one has been exposed.")
    given = [name for name, present in (("--password-file", args.password_file is not None),
                                        (ROLE_PASSWORD_ENV, ROLE_PASSWORD_ENV in os.environ),
                                        ("--password-prompt", args.password_prompt)) if present]
    if len(given) > 1:
        raise _UsageError(f"give the password one way only, not {' and '.join(given)}")
    if args.password_file is not None:
        password = _read_password_file(args.password_file)
    elif ROLE_PASSWORD_ENV in os.environ:
        password = os.environ[ROLE_PASSWORD_ENV]
    elif args.password_prompt:
        password = _prompt_password(args.role)
    else:
        return None
    if not password:
        raise _UsageError(f"the password from {given[0]} is empty")
    return password


async def _grant(store: Store, args: argparse.Namespace, password: str | None) -> int:
    from indexer.db.dsn import remember
    from indexer.db.roles import PUBLIC_VIEWS, GrantOptions, RoleRefused, grant_readonly

    remember(password)
    try:
        opts = GrantOptions(reset=args.reset, statement_timeout_s=args.statement_timeout_s,
                            connection_limit=args.connection_limit,
                            lock_other_databases=args.lock_other_databases)
        notes = await grant_readonly(store, args.role, password, opts)
    except RoleRefused as exc:
        print(f"indexer: db grant: {exc}", file=sys.stderr)
        return EXIT_USAGE
    login = ("logs in with the password given" if password else
             "was given no password (a new role cannot log in, an existing one keeps its own)")
    print(f"role {args.role} may read the public views ({', '.join(PUBLIC_VIEWS)}) and nothing "
          f"else; it {login}; statement_timeout {args.statement_timeout_s:g} s, connection "
          f"limit {args.connection_limit}")
    for note in notes:
        print(f"  {note}")
    return EXIT_OK


async def _cmd_status(cfg: Config, args: argparse.Namespace) -> int:
    from indexer.ops.status import render, status

    report = await status(cfg, max_lag_blocks=args.max_lag_blocks)
    print(render(report, as_json=args.json))
    return int(report["exit_code"])


async def _cmd_rewards(cfg: Config, args: argparse.Namespace) -> int:
    if args.action == "fetch":
        return await _cmd_fetch(cfg, args)
    from indexer.accounting.importer import import_rewards_file

    count = await import_rewards_file(cfg.database.dsn, args.file)
    print(f"imported {count} pool-epochs")
    return EXIT_OK


async def _cmd_fetch(cfg: Config, args: argparse.Namespace) -> int:
    from indexer.history.fetch import FetchOptions, fetch_rewards

    summary = await fetch_rewards(cfg, FetchOptions(
        source=args.source, url=args.url, pool=args.pool, from_epoch=args.from_epoch,
        to_epoch=args.to_epoch, refresh=args.refresh))
    print(f"fetched {summary.pool_epochs} pool-epochs ({summary.imported} imported, "
          f"{summary.uncertain} with F to within 1 lovelace, {summary.unusable} unusable) "
          f"in {summary.requests} requests; {summary.disagreements} disagree with live figures")
    return EXIT_FINDINGS if summary.findings else EXIT_OK


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
    parser.add_argument("--version", action="version", version=version_text())
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
    db.add_argument("--password-file", metavar="FILE",
                    help="`grant`: read the role's password from the first line of FILE (- = "
                         f"standard input); or set {ROLE_PASSWORD_ENV}, or --password-prompt; "
                         "no password = a role that cannot log in")
    db.add_argument("--password-prompt", action="store_true",
                    help="`grant`: ask for the role's password on the terminal")
    db.add_argument("--password", help="refused: a password on the command line is visible to "
                                       "every local user (use --password-file)")
    db.add_argument("--reset", action="store_true",
                    help="`grant`: the role may exist; reset its password, settings and grants "
                         "(refused if it holds more than read access to the public views)")
    db.add_argument("--statement-timeout-s", type=float, default=30.0,
                    help="`grant`: the role's statement_timeout (default 30)")
    db.add_argument("--connection-limit", type=int, default=10,
                    help="`grant`: the role's connection limit (default 10)")
    db.add_argument("--lock-other-databases", action="store_true",
                    help="`grant`: also revoke CONNECT from PUBLIC on the cluster's other "
                         "databases (postgres, template1 …), a cluster-wide change for a "
                         "cluster that serves the indexer only")
    st = add("status", "Show the tip, the lag and the last materialized epoch. Exit status: "
             "0 within the threshold, 4 Ogmios or its node unreachable, 5 behind by more than "
             "--max-lag-blocks (docs/spec.md §9).")
    st.add_argument("--json", action="store_true", help="one JSON object on standard output")
    st.add_argument("--max-lag-blocks", type=int, default=None,
                    help="exit 5 when further behind the node's tip (default: k of the network)")
    rw = add("rewards", "Past epochs' reward figures: import a CSV file, or fetch from an API.",
             config=False)
    rw_sub = rw.add_subparsers(dest="action", required=True)
    imp = rw_sub.add_parser("import", help="figures from a CSV file")
    imp.add_argument("file", help="CSV: pool_id, epoch, total_rewards_lovelace, "
                     "leader_reward_lovelace[, blocks_made, owners_stake_lovelace, source]")
    fetch = rw_sub.add_parser(
        "fetch", help="figures from Koios or Blockfrost (docs/spec.md §5 History)",
        description="Fill the tracked pools' past epochs from a public API. Blockfrost's "
                    "project id is read from BLOCKFROST_PROJECT_ID. Exit 4: done, but some "
                    "fetched figures contradict live ones or the chain.")
    fetch.add_argument("--source", choices=["koios", "blockfrost"],
                       help="overrides [history] source")
    fetch.add_argument("--url", help="the API's full base URL (overrides [history] url)")
    fetch.add_argument("--pool", help="one bech32 pool id (default: [indexer] pools, else "
                       "every pool in the database)")
    fetch.add_argument("--from-epoch", type=int)
    fetch.add_argument("--to-epoch", type=int)
    fetch.add_argument("--refresh", action="store_true",
                       help="fetch epochs that already have figures too (live ones get a "
                       "reward_reconciliation row, never overwritten)")
    for leaf in (imp, fetch):
        leaf.add_argument("--config", "-c", help="TOML config file (see config.example.toml)")
        leaf.add_argument("--dsn", help="PostgreSQL DSN (overrides [database] dsn)")
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


def version_text() -> str:
    from indexer.db.store import LATEST_VERSION
    from indexer.ops.status import indexer_version
    from indexer.sync.ogmios import MIN_VERSION, UNTESTED_VERSION

    low = ".".join(map(str, MIN_VERSION[:2]))
    return (f"indexer {indexer_version()} (schema v{LATEST_VERSION}; Ogmios v{low} to "
            f"below v{UNTESTED_VERSION[0]}, tested with v6.14 and v7.0)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cfg = Config() if args.command == "demo" else _config(args)
    except ConfigError as exc:  # it may quote a value: a DSN or URL with its credentials
        from indexer.db.dsn import mask_text

        print(f"indexer: {mask_text(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    logsetup.configure(cfg.log.format, cfg.log.level)
    _remember_secrets(cfg, args)
    try:
        return asyncio.run(COMMANDS[args.command](cfg, args))
    except KeyboardInterrupt:
        return EXIT_OK
    except BaseException as exc:
        _report(exc)
        return exit_code(exc)


def _remember_secrets(cfg: Config, args: argparse.Namespace) -> None:
    """The credentials of the configured DSN and Ogmios URL (and the demo's --dsn), masked
    wherever they would appear later (an error message that quotes them, a log line)."""
    from indexer.db.dsn import mask

    for text in (cfg.database.dsn, cfg.ogmios.url, getattr(args, "dsn", None)):
        mask(text)


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
        from indexer.db.dsn import mask_text

        message = mask_text(str(err))  # asyncpg, websockets, httpx may quote the DSN or URL
        log.error("fatal", error=message, error_type=type(err).__name__)
        print(f"indexer: fatal: {type(err).__name__}: {message}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
