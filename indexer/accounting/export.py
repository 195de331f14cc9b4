"""Formatting ``pool_owner_epoch`` rows for ``indexer export --pool ID --format …``.

Pure functions from rows to text; the caller queries the rows (in the order it wants them
written) and writes the text. Each row is a mapping with the docs/spec.md §7 ``pool_owner_epoch``
columns (``pool_id, epoch_no, stake_address, is_owner, is_reward_account, delegated_to_pool,
balance_lovelace, stake_share, op_rewards_lovelace, stake_rewards_lovelace, rewards_lovelace,
spendable_epoch, rewards_status``) plus:

* ``epoch_start``: ``datetime`` of the start of the row's **spendable** epoch (UTC; a naive
  value is taken as UTC);
* ``mir_lovelace``: MIR credited to the account in the spendable epoch;
* ``withdrawn_lovelace``: withdrawals by the account during the spendable epoch;
* ``real_rewards_lovelace``: leader (and, where known, member) credits that actually landed in
  the account: the whole leader reward for the reward account, 0 for a pure owner;
* ``reward_balance_lovelace``: the account's reward balance once the start of the spendable
  epoch credited it (credits minus withdrawals, as far as the indexer knows them), or ``None``
  for a spendable epoch the chain has not reached;
* ``balances_complete``: ``False`` when the database started after Byron (docs/spec.md §9);
* ``alias``: the account's name from the config's ``[aliases]``, or ``None``;
* ``pool_ticker``: the pool's ticker from its verified metadata (``pool_name``), or ``None``.
* ``member_rewards_lovelace``: the account's own member reward (``None``: not known);
* ``owed_lovelace``, ``paid_lovelace``, ``due_lovelace``: the account's settlement as of the
  row's spendable epoch (``owner_settlement`` up to then: rewards of credited and imported
  epochs so far, payouts up to that epoch, owed − paid).

Money stays integer lovelace until the last step; ADA amounts are printed from integers with
``divmod``, never through a float. ``None`` (a reward not known yet, a value not tracked) is
written as an empty cell (CSV) or ``null`` (JSON). ``stake_share`` may be a ``Decimal`` (what
Postgres ``numeric`` returns) or a ``Fraction``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from functools import partial
from typing import Any

import orjson

from indexer.chain.epochs import EpochCalendar, parse_era_summaries
from indexer.db.store import Store

__all__ = [
    "ADASTRY_COLUMNS", "COLUMNS", "ExportError", "ada", "share_text", "to_adastry_multiowner",
    "to_csv", "to_json",
]

SPEC_COLUMNS = (
    "pool_id", "epoch_no", "stake_address", "is_owner", "is_reward_account", "delegated_to_pool",
    "balance_lovelace", "stake_share", "op_rewards_lovelace", "stake_rewards_lovelace",
    "rewards_lovelace", "spendable_epoch", "rewards_status",
)
EXTRA_COLUMNS = (
    "epoch_start", "mir_lovelace", "withdrawn_lovelace", "real_rewards_lovelace",
    "reward_balance_lovelace", "balances_complete", "alias", "pool_ticker",
    "member_rewards_lovelace", "owed_lovelace", "paid_lovelace", "due_lovelace",
)
COLUMNS = SPEC_COLUMNS + EXTRA_COLUMNS
ADASTRY_COLUMNS = (
    "Date", "Epoch", "Rewards", "MIR", "Net Worth Amount", "Net Worth Currency", "Active Stake",
    "Account Balance", "Real Rewards", "Stake Rewards", "Op Rewards", "Stake Share",
    "Withdrawable", "Withdrawn", "Description",
)
_BOOL_COLUMNS = frozenset(("is_owner", "is_reward_account", "delegated_to_pool",
                           "balances_complete"))
ADASTRY_SHARE_DIGITS = 10
# A Fraction with no finite decimal expansion (1/3) is written rounded to this many places.
FRACTION_DIGITS = 30


class ExportError(ValueError):
    """A row that cannot be exported (missing column, wrong type); names the row and column."""


def ada(lovelace: int) -> str:
    """Lovelace as ADA, 6 decimals, exact: ``1`` → ``0.000001``, ``-1500000`` → ``-1.500000``."""
    if isinstance(lovelace, bool) or not isinstance(lovelace, int):
        raise TypeError(f"lovelace must be an int, got {lovelace!r}")
    whole, frac = divmod(abs(lovelace), 1_000_000)
    return f"{'-' if lovelace < 0 else ''}{whole}.{frac:06d}"


def _decimal(units: int, places: int) -> Decimal:
    """``units / 10**places`` exactly (arithmetic such as ``scaleb`` would round to 28 digits)."""
    return Decimal(f"{units}e-{places}")


def _exact_decimal(value: Fraction) -> Decimal | None:
    """The Decimal equal to ``value`` if its decimal expansion is finite, else None."""
    den, twos, fives = value.denominator, 0, 0
    while den % 2 == 0:
        den, twos = den // 2, twos + 1
    while den % 5 == 0:
        den, fives = den // 5, fives + 1
    if den != 1:
        return None
    places = max(twos, fives)
    return _decimal(value.numerator * 10**places // value.denominator, places)


def _rounded(value: Fraction, places: int) -> Decimal:
    """``value`` rounded half-even to ``places`` decimals, computed from the exact fraction."""
    scaled = value * 10**places
    q, r = divmod(scaled.numerator, scaled.denominator)
    if 2 * r > scaled.denominator or (2 * r == scaled.denominator and q % 2):
        q += 1
    return _decimal(q, places)


def share_text(share: Decimal | Fraction | int, places: int | None = None) -> str:
    """A share as a plain decimal string (never exponent notation, never through a float).

    With ``places=None`` the value is written exactly: a ``Decimal`` as stored, a ``Fraction``
    with a finite expansion in full, any other ``Fraction`` rounded half-even to
    ``FRACTION_DIGITS`` places. With ``places`` it is rounded half-even to that many places.
    """
    if isinstance(share, bool | float):
        raise TypeError(f"a share must be a Decimal or Fraction, got {share!r}")
    if isinstance(share, Decimal):
        if not share.is_finite():
            raise ValueError(f"a share must be finite, got {share}")
        if places is None:
            return _plain(share)
        frac = Fraction(share)
    elif isinstance(share, Fraction | int):
        frac = Fraction(share)
    else:
        raise TypeError(f"a share must be a Decimal or Fraction, got {share!r}")
    if places is not None:
        return _plain(_rounded(frac, places))
    exact = _exact_decimal(frac)
    return _plain(exact if exact is not None else _rounded(frac, FRACTION_DIGITS))


def _plain(value: Decimal) -> str:
    return format(value, "f")  # "f" without a precision writes every digit, no exponent


def _utc_text(moment: datetime, fmt: str) -> str:
    if not isinstance(moment, datetime):
        raise TypeError(f"epoch_start must be a datetime, got {moment!r}")
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime(fmt)


def _get(row: Mapping[str, Any], index: int, column: str) -> Any:
    try:
        return row[column]
    except KeyError:
        raise ExportError(f"row {index}: column {column!r} is missing") from None


def _cell(value: Any, column: str) -> Any:
    """One of our columns as a JSON-ready value (CSV writes the same, ``None`` as empty)."""
    if value is None:
        return None
    if column == "stake_share":
        return share_text(value)
    if column == "epoch_start":
        return _utc_text(value, "%Y-%m-%dT%H:%M:%SZ")
    if column in _BOOL_COLUMNS:
        if not isinstance(value, bool):
            raise TypeError(f"{column} must be a bool, got {value!r}")
        return value
    if column.endswith(("_lovelace", "epoch", "epoch_no")):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{column} must be an int, got {value!r}")
        return value
    return str(value)


def _records(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows restricted to ``COLUMNS`` in that order; SPEC columns are required, extras not."""
    out = []
    for index, row in enumerate(rows):
        record: dict[str, Any] = {}
        for column in COLUMNS:
            value = _get(row, index, column) if column in SPEC_COLUMNS else row.get(column)
            try:
                record[column] = _cell(value, column)
            except (TypeError, ValueError) as exc:
                raise ExportError(f"row {index}: {exc}") from exc
        out.append(record)
    return out


def _write_csv(header: Iterable[str], lines: Iterable[Iterable[Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(lines)
    return buf.getvalue()


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def to_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    """Our own CSV: ``COLUMNS`` in order, lovelace as integers, the share as an exact decimal
    string, booleans ``true``/``false``, ``epoch_start`` as ISO 8601 UTC, unknown as empty."""
    records = _records(rows)
    return _write_csv(COLUMNS, ([_csv_value(r[c]) for c in COLUMNS] for r in records))


def to_json(rows: Iterable[Mapping[str, Any]]) -> str:
    """A JSON array of objects with ``COLUMNS`` as keys: lovelace as integers, the share as a
    decimal string (a JSON number would be read back as a float), unknown as ``null``."""
    return orjson.dumps(_records(rows), option=orjson.OPT_INDENT_2).decode() + "\n"


def _ada_or_empty(value: Any) -> str:
    return "" if value is None else ada(value)


def _adastry_line(row: Mapping[str, Any], index: int) -> list[str]:
    get = partial(_get, row, index)
    balance, reward_balance = get("balance_lovelace"), row.get("reward_balance_lovelace")
    active = balance if reward_balance is None else balance + reward_balance
    share = get("stake_share")
    return [
        _utc_text(get("epoch_start"), "%Y-%m-%d %H:%M:%S"),
        str(get("spendable_epoch")),
        _ada_or_empty(get("rewards_lovelace")),
        _ada_or_empty(row.get("mir_lovelace")),
        "",  # Net Worth Amount: no price source
        "",  # Net Worth Currency
        ada(active),
        ada(balance),
        _ada_or_empty(row.get("real_rewards_lovelace")),
        _ada_or_empty(get("stake_rewards_lovelace")),
        _ada_or_empty(get("op_rewards_lovelace")),
        "" if share is None else share_text(share, ADASTRY_SHARE_DIGITS),
        _ada_or_empty(reward_balance),
        _ada_or_empty(row.get("withdrawn_lovelace")),
        f"Epoch {get('spendable_epoch')} rewards (earned {get('epoch_no')})"
        + (f", {row['alias']}" if row.get("alias") else ""),
    ]


def to_adastry_multiowner(rows: Iterable[Mapping[str, Any]]) -> str:
    """Adastry's "Multi-Owner SPO" CSV (docs/adastry-csv.md), same header in the same order.

    * ``Epoch`` is the **spendable** epoch e+2 (the epoch the rewards arrive in, as Adastry
      labels its rows); ``Date`` is that epoch's start (UTC, ``YYYY-MM-DD HH:MM:SS``); the
      earned epoch e is in ``Description``: "Epoch 452 rewards (earned 450)".
    * Unlike the original, a row's ``Stake Share`` and ``Account Balance`` are those of the
      earned epoch e, i.e. the share that produced the row's rewards (Adastry pairs the share
      of X with rewards computed from the share of X−2).
    * Amounts are ADA with 6 decimals, exact (``Σ`` of the rows' lovelace is preserved: the
      splits are not floored per account as in the original). ``Stake Share`` is rounded
      half-even to 10 decimals. ``Active Stake`` = balance + reward balance when the reward
      balance is known, else the balance. ``Withdrawable`` is the reward balance at the start
      of the spendable epoch (credits − withdrawals); it and any other unknown value is empty,
      as are the fiat columns.
    """
    rows = list(rows)
    _records(rows)  # the same checks of every column as the other formats
    lines = []
    for index, row in enumerate(rows):
        try:
            lines.append(_adastry_line(row, index))
        except ExportError:
            raise
        except (TypeError, ValueError) as exc:
            raise ExportError(f"row {index}: {exc}") from exc
    return _write_csv(ADASTRY_COLUMNS, lines)


# --- reading the views ---------------------------------------------------------------------


async def export_rows(store: Store, pool_id: str, from_epoch: int | None,
                      to_epoch: int | None) -> list[dict[str, Any]]:
    summaries = await store.get_meta("era_summaries")
    net = await store.get_meta("network") or {}
    calendar = EpochCalendar(parse_era_summaries(summaries)) if summaries else None
    start = _parse_time(net.get("system_start"))
    rows = await store.query("export_owner_rows", pool_id, from_epoch, to_epoch)
    out = []
    for r in rows:
        row = dict(r)
        if calendar is not None and start is not None:
            row["epoch_start"] = start + dt.timedelta(
                seconds=calendar.epoch_start_time(row["spendable_epoch"]))
        out.append(row)
    return out


def _parse_time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


FORMATTERS = {"csv": to_csv, "json": to_json, "adastry-multiowner": to_adastry_multiowner}


async def export(dsn: str | None, pool_id: str, fmt: str, from_epoch: int | None,
                 to_epoch: int | None) -> str:
    store = await Store.connect(dsn)
    try:
        rows = await export_rows(store, pool_id, from_epoch, to_epoch)
    finally:
        await store.close()
    return FORMATTERS[fmt](rows)
