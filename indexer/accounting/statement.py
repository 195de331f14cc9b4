"""``indexer report --pool ID [--owner ADDR] [--from-epoch N --to-epoch M] --format html``: an
owner's statement without SQL.

One self-contained HTML page (inline CSS, an inline SVG chart, no script, nothing fetched):
the settlement (owed, paid, due: ``owner_settlement``) and the payouts (``owner_payout``), the
pledge watch of the pool (``pledge_watch``), a chart of share and rewards over time, the
per-epoch table (``pool_epoch`` × ``pool_owner_epoch``), and for each epoch where its figures
come from: the chain for balances and shares, the live ledger capture or an import (with its
source and the fee's uncertainty, where the database records them) for the rewards, and the
certificate in effect. Amounts are exact ADA (6 decimals), never rounded through a float.

``load_statement`` reads the views (``StatementError`` for a pool or account the database does
not know); ``render_html`` is pure. PDF: print the page from a browser (the page has a print
style); no PDF library is needed (see the README).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from html import escape
from typing import Any

from indexer.accounting.chart import Series, chart_svg, legend_html
from indexer.accounting.export import ada as exact_ada
from indexer.db.store import Store

__all__ = ["Statement", "StatementError", "load_statement", "render_html", "report"]

Row = Mapping[str, Any]


class StatementError(ValueError):
    """A statement that cannot be made (unknown pool or account)."""


@dataclass(frozen=True)
class Statement:
    pool_id: str
    owner: str | None
    tip: Row
    network: Mapping[str, Any]
    pool_epochs: Sequence[Row]
    owner_rows: Sequence[Row]
    certificates: Sequence[Row]
    settlement: Sequence[Row]
    payouts: Sequence[Row]
    pledge: Row | None
    sources: Mapping[int, str]  # epoch -> 'ledger' | 'import' (the figures in effect)


async def load_statement(store: Store, pool_id: str, owner: str | None,
                         from_epoch: int | None, to_epoch: int | None) -> Statement:
    if not await store.query("statement_pool_known", pool_id):
        raise StatementError(f"pool {pool_id} has no epoch in this database (see the view "
                             "pool_epoch; [indexer] pools may leave it out)")
    if owner is not None and not await store.query("pool_account_known", pool_id, owner):
        raise StatementError(f"{owner} is not an account of pool {pool_id} in any epoch")
    pledge = await store.query("statement_pledge", pool_id)
    sources = await store.query("statement_sources", pool_id)

    def dicts(rows: Sequence[Any]) -> list[dict[str, Any]]:
        return [dict(r) for r in rows]

    return Statement(
        pool_id=pool_id, owner=owner,
        tip=dict((await store.query("statement_tip"))[0]),
        network=await store.get_meta("network") or {},
        pool_epochs=dicts(await store.query("statement_pool_epochs", pool_id, from_epoch,
                                            to_epoch)),
        owner_rows=dicts(await store.query("statement_owner_rows", pool_id, owner, from_epoch,
                                           to_epoch)),
        certificates=dicts(await store.query("statement_certificates", pool_id)),
        settlement=dicts(await store.query("statement_settlement", pool_id, owner)),
        payouts=dicts(await store.query("statement_payouts", pool_id, owner)),
        pledge=dict(pledge[0]) if pledge else None,
        sources={r["epoch_no"]: r["source"] for r in sources})


async def report(dsn: str | None, pool_id: str, owner: str | None, from_epoch: int | None,
                 to_epoch: int | None) -> str:
    store = await Store.connect(dsn)
    try:
        statement = await load_statement(store, pool_id, owner, from_epoch, to_epoch)
    finally:
        await store.close()
    return render_html(statement)


# --- formatting ------------------------------------------------------------------------------


def ada(lovelace: int | None) -> str:
    """Exact ADA with thousands separators; None (not known yet) as a dash."""
    if lovelace is None:
        return "—"
    whole, frac = exact_ada(int(lovelace)).split(".")
    sign = "-" if whole.startswith("-") else ""
    return f"{sign}{int(whole.lstrip('-')):,}.{frac}"


def percent(share: Decimal | None) -> str:
    return "—" if share is None else f"{Decimal(share) * 100:.4f}%"


def short(addr: str) -> str:
    head, _, body = addr.partition("1")
    return f"{head}1…{body[-6:]}"


def _role(r: Row) -> str:
    return " + ".join(x for x, on in (("owner", r["is_owner"]),
                                      ("reward account", r["is_reward_account"])) if on)


def certificate_in_effect(certs: Sequence[Row], epoch: int) -> Row | None:
    """P_e: the latest registration (by slot, then position) in effect by ``epoch``."""
    found = [c for c in certs if c["kind"] == "registration"
             and c["active_epoch_no"] is not None and c["active_epoch_no"] <= epoch]
    return max(found, key=lambda c: (c["slot"], c["tx_index"], c["cert_index"]), default=None)


def rewards_source(p: Row, source: str | None) -> str:
    """Where an epoch's R and L come from, in words."""
    status, e = p["rewards_status"], p["epoch_no"]
    if status == "pending":
        return f"not known yet: the ledger is asked during epoch {e + 1}"
    if status == "unavailable":
        return (f"not known: the indexer was behind during epoch {e + 1} and nothing was "
                "imported")
    if status in ("unreadable", "inconsistent"):
        return f"the ledger's answer could not be used ({status}): no split"
    if source not in (None, "ledger") or status == "imported":  # any source but the capture
        named = p.get("rewards_source")  # the history import records the API (if present)
        text = "import" + (f" from {named}" if named and named != "import" else "")
        uncertainty = p.get("fee_uncertainty_lovelace")
        if uncertainty:
            text += f"; operator fees F uncertain by {uncertainty} lovelace"
        return text
    return f"live capture from the ledger during epoch {e + 1}"


def _cert_ref(certs: Sequence[Row], cert: Row | None) -> str:
    if cert is None:
        return "—"
    number = 1 + [c for c in certs if c["kind"] == "registration"].index(cert)
    return f"#{number} (from epoch {cert['active_epoch_no']})"


# --- the page --------------------------------------------------------------------------------

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1180px;
       color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { font-size: 1.2em; margin-top: 1.6em;
  border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
.meta { color: #555; } code { font-size: 0.95em; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 3px 6px; vertical-align: top; }
th { background: #f3f3f3; text-align: left; } td.num { text-align: right;
  font-variant-numeric: tabular-nums; white-space: nowrap; }
.wide { overflow-x: auto; } td code { white-space: nowrap; }
ul.legend { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 0.3em 1.5em;
  font-size: 0.92em; } .swatch { display: inline-block; width: 0.8em; height: 0.8em;
  margin-right: 0.4em; vertical-align: -0.05em; }
.risk { color: #b00; font-weight: bold; } .ok { color: #070; font-weight: bold; }
.note { color: #555; font-size: 0.92em; max-width: 70em; }
@media print { body { margin: 0; max-width: none; font-size: 11px; }
  section { break-inside: avoid; } table#epochs { font-size: 10px; } }
"""


def render_html(st: Statement) -> str:
    who = f"account <code>{escape(st.owner)}</code>" if st.owner else "all accounts"
    epochs = [p["epoch_no"] for p in st.pool_epochs]
    span = f"epochs {epochs[0]}–{epochs[-1]}" if epochs else "no epoch in the range"
    tip = st.tip
    series = _series(st)
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Owner statement: {escape(st.pool_id)}</title>",
        f"<style>{STYLE}</style></head><body>",
        "<header><h1>Owner statement</h1>",
        f'<p class="meta" id="subject">Pool <code>{escape(st.pool_id)}</code> · {who} · {span}'
        f" · network {escape(str(st.network.get('name', '?')))} · from the indexer's database "
        f"at slot {tip['slot']} (epoch {tip['epoch_no']}), committed "
        f"{tip['updated_at']:%Y-%m-%d %H:%M} UTC</p></header>",
        _settlement(st), _payouts(st), _pledge(st),
        '<section id="history"><h2>Share and rewards over time</h2>',
        chart_svg(epochs, series, title=f"Stake share and rewards per epoch, {span}"),
        legend_html(series),
        '<p class="note">Bars: each account\'s rewards of the epoch (operator fees + stake '
        "rewards), stacked; lines: its stake share (right axis). Epochs whose rewards are not "
        "known yet have no bar.</p></section>",
        _epoch_table(st), _sources(), "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _series(st: Statement) -> list[Series]:
    accounts: dict[str, list[Row]] = {}
    for r in st.owner_rows:
        accounts.setdefault(r["stake_address"], []).append(r)
    return [Series(f"{short(addr)} ({_role(rows[-1])})",
                   {r["epoch_no"]: r["rewards_lovelace"] for r in rows},
                   {r["epoch_no"]: Decimal(r["stake_share"]) for r in rows})
            for addr, rows in accounts.items()]


def _table(head: Sequence[str], body: Sequence[str], table_id: str) -> str:
    return (f'<table id="{table_id}"><thead><tr>'
            + "".join(f"<th>{escape(h)}</th>" for h in head)
            + "</tr></thead><tbody>" + "".join(body) + "</tbody></table>")


def _num(value: str) -> str:
    return f'<td class="num">{escape(value)}</td>'


def _settlement(st: Statement) -> str:
    body = [f'<tr data-account="{escape(r["stake_address"])}"><td><code>'
            f'{escape(r["stake_address"])}</code></td>'
            + "".join(_num(ada(r[c])) for c in ("owed_lovelace", "paid_lovelace",
                                                "due_lovelace", "kept_lovelace",
                                                "to_transfer_lovelace"))
            + _num(_or_dash(r["last_spendable_epoch"])) + "</tr>" for r in st.settlement]
    return ('<section id="settlement"><h2>Settlement (all epochs, as of now)</h2>'
            + _wide(_table(("account", "owed (ADA)", "paid (ADA)", "due (ADA)", "kept (ADA)",
                            "still to transfer (ADA)", "last epoch counted"),
                           body, "settlement-table"))
            + '<p class="note">Owed: the account\'s rewards of credited and imported epochs (the '
            "last epoch counted: the spendable epoch of the latest). "
            "Paid: its payouts below. Due = owed − paid. The pool's rewards are paid into its "
            "reward account, so the reward account's own share is credited to it and never "
            "leaves it: that part is <em>kept</em>, and what is still to transfer to an "
            "account is owed − kept − paid.</p></section>")


def _payouts(st: Statement) -> str:
    body = [f'<tr data-kind="{escape(r["kind"])}"><td>{_or_dash(r["epoch_no"])}</td>'
            f'<td><code>{escape(r["stake_address"])}</code></td>'
            f'{_num(ada(r["amount_lovelace"]))}<td>{escape(r["kind"])}</td>'
            f'<td><code title="{escape(r["tx_id"] or "")}">{escape((r["tx_id"] or "—")[:16])}'
            f'{"…" if r["tx_id"] else ""}</code></td>'
            f'<td>{escape(r["note"] or "")}</td></tr>' for r in st.payouts]
    if not body:
        body = ['<tr><td colspan="6">none</td></tr>']
    return ('<section id="payouts"><h2>Payouts</h2>'
            + _wide(_table(("epoch", "to", "amount (ADA)", "kind", "transaction", "note"),
                           body, "payouts-table"))
            + '<p class="note"><em>chain</em>: what the account\'s stake credential gained in a '
            "transaction that withdraws from the pool's reward account; <em>recorded</em>: "
            "entered with <code>indexer payout add</code> (another wallet, fiat, an exchange)."
            "</p></section>")


def _or_dash(value: Any) -> str:
    return "—" if value is None else escape(str(value))


def _pledge(st: Statement) -> str:
    w = st.pledge
    if w is None:
        return ('<section id="pledge"><h2>Pledge for the next snapshot</h2><p>No '
                "registration in effect for the next snapshot.</p></section>")
    state = (f'<span class="risk">AT RISK: short by {ada(int(w["shortfall_lovelace"]))} ADA'
             "</span>" if w["at_risk"] else '<span class="ok">met</span>')
    left = w["seconds_to_snapshot"]
    when = ("" if left is None else f", in {left:,} s" if left >= 0
            else f" (due {-left:,} s ago by the wall clock: the indexer, or the chain, is "
                 "behind it)")
    missing = ", ".join(w["undelegated_owners"]) or "none"
    return ('<section id="pledge"><h2>Pledge for the next snapshot</h2>'
            f'<p id="pledge-state">Epoch {w["epoch_no"]}: the snapshot for epoch '
            f'{w["snapshot_epoch_no"]} takes the state after slot {w["snapshot_slot"]}{when}. '
            f'Pledge {ada(int(w["pledge_lovelace"]))} ADA; owners delegated to the pool hold '
            f'{ada(w["owners_delegated_balance_lovelace"])} ADA in UTxO and '
            f'{ada(w["owners_reward_balance_lovelace"])} ADA in rewards: {state}. '
            f"Owners not delegated to the pool: {escape(missing)}.</p>"
            '<p class="note">Below the pledge, the ledger pays the whole pool nothing for that '
            "epoch. The watch counts what the indexer sees: live UTxO at the owners' base and "
            "pointer addresses, and reward balances as credits minus withdrawals.</p></section>")


def _epoch_table(st: Statement) -> str:
    body = []
    for p in st.pool_epochs:
        e = p["epoch_no"]
        cert = certificate_in_effect(st.certificates, e)
        body.append(
            f'<tr data-epoch="{e}"><td>{e}</td><td>{escape(p["rewards_status"])}</td>'
            f'<td class="source">{escape(rewards_source(p, st.sources.get(e)))}</td>'
            f"<td>{escape(_cert_ref(st.certificates, cert))}</td>"
            + _num(str(p["blocks_made"])) + f'<td>{"yes" if p["pledge_met"] else "NO"}</td>'
            + "".join(_num(ada(p[c])) for c in ("total_rewards_lovelace",
                                                "leader_reward_lovelace",
                                                "operator_fees_lovelace",
                                                "stake_rewards_lovelace"))
            + f'<td>{escape(str(p.get("share_accounts") or "—"))}</td></tr>')
    head = ("epoch", "status", "rewards from", "certificate", "blocks", "pledge met",
            "R: pool rewards", "L: leader reward", "F: operator fees", "S: stake rewards",
            "share basis")
    return ('<section id="per-epoch"><h2>The pool per epoch (ADA)</h2>'
            + _wide(_table(head, body, "epochs"))
            + '<p class="note">R and L are the ledger\'s figures for the blocks the pool made in '
            "the epoch; F = c + ⌊(R − c)·m⌋ (F = L when R ≤ c) goes to the owners in equal "
            "parts, S = L − F by stake share.</p></section>" + _accounts_table(st))


def _accounts_table(st: Statement) -> str:
    body = [f'<tr data-epoch="{r["epoch_no"]}" data-account="{escape(r["stake_address"])}">'
            f'<td>{r["epoch_no"]}</td><td><code title="{escape(r["stake_address"])}">'
            f'{escape(short(r["stake_address"]))}</code></td><td>{escape(_role(r))}'
            f'{"" if r["delegated_to_pool"] else " (not delegated)"}</td>'
            + _num(ada(r["balance_lovelace"])) + _num(percent(r["stake_share"]))
            + "".join(_num(ada(r.get(c))) for c in ("op_rewards_lovelace",
                                                    "stake_rewards_lovelace",
                                                    "rewards_lovelace",
                                                    "member_rewards_lovelace"))
            + _num(str(r["spendable_epoch"])) + f'<td>{escape(r["rewards_status"])}</td></tr>'
            for r in st.owner_rows]
    head = ("epoch", "account", "role", "balance", "share", "op (F)", "stake (S)", "total",
            "own member reward", "spendable in", "status")
    return ('<section id="accounts"><h2>Accounts per epoch (ADA)</h2>'
            + _wide(_table(head, body, "account-epochs"))
            + '<p class="note">Balance: the account\'s UTxO stake in the epoch\'s snapshot (after '
            "the last block of e−2; reward balances excluded). Share: its part of the accounts' "
            "balance on the pool's share basis. Total = op + stake: what it is owed for the "
            "epoch, spendable from the epoch shown. Its own member reward (a reward account "
            "that is not an owner but delegates to the pool) is its own, outside L.</p>"
            "</section>" + _certificates(st))


def _certificates(st: Statement) -> str:
    regs = [c for c in st.certificates if c["kind"] == "registration"]
    body = [f"<tr><td>#{n}</td><td>{c['epoch_no']}</td>" + _num(str(c["slot"]))
            + f'<td><code title="{escape(c["tx_id"])}">{escape(c["tx_id"][:16])}…</code></td>'
            f"<td>{c['active_epoch_no']}</td>" + _num(ada(int(c["pledge_lovelace"])))
            + _num(ada(int(c["cost_lovelace"])))
            + f"<td>{c['margin_num']}/{c['margin_den']}</td>"
            f"<td>{escape(', '.join(short(o) for o in c['owners']))}</td>"
            f"<td>{escape(short(c['reward_account']))}</td></tr>"
            for n, c in enumerate(regs, 1)]
    retired = [f"epoch {c['epoch_no']}: retirement at epoch {c['retirement_epoch']}"
               for c in st.certificates if c["kind"] == "retirement"]
    head = ("certificate", "epoch", "slot", "transaction", "in effect from", "pledge", "cost",
            "margin", "owners", "reward account")
    return ('<section id="certificates"><h2>Certificates</h2>'
            + _wide(_table(head, body, "certificates-table"))
            + (f'<p class="note">{escape("; ".join(retired))}</p>' if retired else "")
            + "</section>")


def _wide(table: str) -> str:
    return f'<div class="wide">{table}</div>'


def _sources() -> str:
    items = (
        "Balances, shares, delegation, the certificate in effect, blocks made and payouts on "
        "chain: from the blocks the indexer followed (Ogmios chain-sync), rollback-safe.",
        "R and L: captured live from the ledger (Ogmios queryLedgerState/rewardsProvenance, "
        "asked during epoch e+1), or imported; the column 'rewards from' says which, with "
        "the import's source and the operator fees' uncertainty where the database records "
        "them.",
        "F = c + ⌊(R − c)·m⌋ (F = L when R ≤ c), S = L − F; both split exactly to the "
        "lovelace (largest remainder, ties by credential).",
        "Status: provisional (captured, not yet credited), credited (credited at the start of "
        "e+2), lost (the reward account was not registered then), imported, pending, "
        "unavailable.",
    )
    return ('<section id="sources"><h2>Where the figures come from</h2><ul>'
            + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul></section>")
