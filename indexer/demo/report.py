"""The text ``indexer demo`` prints: the demo pool's accounting read back from the public views
(``DemoReport``, built by ``build_report``), and how to connect with psql to explore them
(``connect_help``). Amounts are shown in ADA (``ada``), stake addresses shortened
(``short_address``); lines fit in ``WIDTH`` columns.
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from indexer.accounting.export import ada as exact_ada
from indexer.db.dsn import without_password
from indexer.db.roles import PUBLIC_VIEWS
from indexer.db.store import Record, Store
from indexer.demo.postgres import EmbeddedPostgres
from indexer.demo.scenarios import DEMO_WALLETS
from indexer.simulator.chain import Wallet
from indexer.simulator.server import Simulator

__all__ = [
    "WIDTH",
    "DemoReport",
    "ada",
    "build_report",
    "connect_help",
    "percent",
    "short_address",
]

WIDTH = 100


def ada(lovelace: int | None) -> str:
    """Lovelace as ADA with 6 decimals and thousands separators; None as a dash."""
    if lovelace is None:
        return "—"
    whole, frac = exact_ada(int(lovelace)).split(".")
    return f"{'-' if whole.startswith('-') else ''}{int(whole.lstrip('-')):,}.{frac}"


def short_address(addr: str) -> str:
    head, _, body = addr.partition("1")
    return f"{head}1…{body[-4:]}"


def percent(share: Decimal | None) -> str:
    return "—" if share is None else f"{Decimal(share) * 100:.4f}%"


def _names(network_id: int, wallets: Iterable[Wallet] = DEMO_WALLETS) -> dict[str, str]:
    return {w.stake_address(network_id): w.name for w in wallets}


def _account(addr: str, names: dict[str, str]) -> str:
    return f"{short_address(addr)} {names.get(addr, '')}".rstrip()


@dataclass
class DemoReport:
    sim: Simulator
    pool_id: str
    pool_epochs: list[Record]
    owner_rows: list[Record]
    certs: list[Record]
    events: list[Record]
    withdrawals: list[Record]
    tip: Record
    index_s: float
    aliases: dict[str, str] | None = None  # the account_alias view: the config's [aliases]

    def render(self) -> str:
        names = self.aliases or _names(self.sim.network.network_id)
        out: list[str] = []
        self._header(out, names)
        self._summary(out)
        self._accounts(out, names)
        self._events(out, names)
        return "\n".join(out)

    def _header(self, out: list[str], names: dict[str, str]) -> None:
        net, chain = self.sim.network, self.sim.chain
        txs = sum(len(b.get("transactions") or ()) for b in chain)
        eras = ", ".join(f"{e.name} from epoch {e.start_epoch}" for e in net.eras)
        out.append(_wrap(
            f"Indexed the bundled demo chain: network '{net.name}' (magic {net.network_magic}, "
            f"k = {net.k}; {eras}), {len(chain)} blocks and {txs} transactions in epochs "
            f"0-{self.tip['epoch_no']}, served an epoch at a time by the Ogmios simulator and "
            f"followed by the daemon in {self.index_s:.1f} s. Tip: slot {self.tip['slot']}, "
            f"height {self.tip['block_height']}, epoch {self.tip['epoch_no']}."))
        out.append("")
        out.append(f"Shared pool {self.pool_id} (\"demo\"), its certificates:")
        for c in self.certs:
            if c["kind"] != "registration":
                out.append(f"  epoch {c['epoch_no']}: retirement at epoch "
                           f"{c['retirement_epoch']}")
                continue
            owners = ", ".join(names.get(o, short_address(o)) for o in c["owners"])
            ra = c["reward_account"]
            out.append(_wrap(
                f"epoch {c['epoch_no']}: registration, in effect from epoch "
                f"{c['active_epoch_no']}: owners {owners}; reward account "
                f"{names.get(ra, short_address(ra))}; pledge "
                f"{ada(c['pledge_lovelace']).split('.')[0]} ADA, cost "
                f"{ada(c['cost_lovelace']).split('.')[0]} ADA, margin "
                f"{c['margin_num']}/{c['margin_den']}", indent="  ", then="      "))
        out.append("")

    def _summary(self, out: list[str]) -> None:
        out.append("Per epoch, in ADA. R = the pool's total rewards, L = its leader reward "
                   "(paid to the reward")
        out.append("account), F = operator fees, S = the owners' stake rewards = L - F. Rewards "
                   "of epoch e are")
        out.append("known during e+1 (provisional) and credited at the start of e+2.")
        out.append("")
        out.append(f"{'epoch':>5} {'blocks':>6}  {'status':<11} {'pledge':<6} {'R':>15} "
                   f"{'L':>15} {'F':>15} {'S':>15}")
        for p in self.pool_epochs:
            pledge = "met" if p["pledge_met"] else "NOT met"
            out.append(f"{p['epoch_no']:>5} {p['blocks_made']:>6}  {p['rewards_status']:<11} "
                       f"{pledge:<6} {ada(p['total_rewards_lovelace']):>15} "
                       f"{ada(p['leader_reward_lovelace']):>15} "
                       f"{ada(p['operator_fees_lovelace']):>15} "
                       f"{ada(p['stake_rewards_lovelace']):>15}")
        out.append("")

    def _accounts(self, out: list[str], names: dict[str, str]) -> None:
        out.append("Per epoch and account: balance = UTxO stake in the epoch's snapshot "
                   "(rewards excluded),")
        out.append("share = balance / all accounts' balance, op = F split equally among "
                   "owners, stake = S split")
        out.append("by share (owners and reward account RA), total = op + stake.")
        by_epoch: dict[int, list[Record]] = {}
        for r in self.owner_rows:
            by_epoch.setdefault(r["epoch_no"], []).append(r)
        head = (f"  {'account':<22} {'role':<8} {'balance':>16} {'share':>9} "
                f"{'op (F)':>12} {'stake (S)':>12} {'total':>12}")
        undelegated = False
        for p in self.pool_epochs:
            rows = by_epoch.get(p["epoch_no"], [])
            out.append("")
            out.append(f"epoch {p['epoch_no']} · {p['rewards_status']} · "
                       f"{self._epoch_note(p['epoch_no'])}")
            out.append(head)
            for r in rows:
                role = "+".join(x for x, on in (("owner", r["is_owner"]),
                                                ("RA", r["is_reward_account"])) if on)
                if not r["delegated_to_pool"]:
                    role, undelegated = role + "*", True
                out.append(f"  {_account(r['stake_address'], names):<22} {role:<8} "
                           f"{ada(r['balance_lovelace']):>16} {percent(r['stake_share']):>9} "
                           f"{ada(r['op_rewards_lovelace']):>12} "
                           f"{ada(r['stake_rewards_lovelace']):>12} "
                           f"{ada(r['rewards_lovelace']):>12}")
            known = [r for r in rows if r["rewards_lovelace"] is not None]
            out.append(f"  {'sum':<22} {'':<8} "
                       f"{ada(sum(r['balance_lovelace'] for r in rows)):>16} "
                       f"{percent(sum((Decimal(r['stake_share']) for r in rows), Decimal(0))):>9}"
                       f" {ada(_sum(known, 'op_rewards_lovelace')):>12} "
                       f"{ada(_sum(known, 'stake_rewards_lovelace')):>12} "
                       f"{ada(_sum(known, 'rewards_lovelace')):>12}")
        if undelegated:
            out.append("  * not delegated to the pool in that snapshot")
        out.append("")

    def _epoch_note(self, epoch: int) -> str:
        current = self.tip["epoch_no"]
        if epoch == current:
            return (f"the current epoch: its rewards are asked for during epoch {epoch + 1}")
        if epoch == current + 1:
            return "the next epoch: its stake snapshot is already taken"
        return f"spendable from epoch {epoch + 2}"

    def _events(self, out: list[str], names: dict[str, str]) -> None:
        out.append("Credits to reward accounts (view reward_event): MIR, and leader rewards "
                   "once credited.")
        out.append(f"  {'kind':<20} {'account':<22} {'earned':>6} {'spendable':>9} "
                   f"{'amount':>16}  source")
        for e in self.events:
            out.append(f"  {e['kind']:<20} {_account(e['stake_address'], names):<22} "
                       f"{e['earned_epoch']:>6} {e['spendable_epoch']:>9} "
                       f"{ada(e['amount_lovelace']):>16}  {e['source']}")
        if not self.events:
            out.append("  (none)")
        out.append("")
        out.append("Withdrawals from reward accounts (view withdrawal):")
        out.append(f"  {'epoch':>5} {'slot':>6} {'account':<22} {'amount':>16}  transaction")
        for w in self.withdrawals:
            out.append(f"  {w['epoch_no']:>5} {w['slot']:>6} "
                       f"{_account(w['stake_address'], names):<22} "
                       f"{ada(w['amount_lovelace']):>16}  {w['tx_id'][:16]}…")
        if not self.withdrawals:
            out.append("  (none)")
        out.append("")


def _wrap(text: str, indent: str = "", then: str = "") -> str:
    return textwrap.fill(text, WIDTH - 1, initial_indent=indent,
                         subsequent_indent=then or indent, break_on_hyphens=False)


def _sum(rows: Sequence[Record], key: str) -> int | None:
    return sum(r[key] for r in rows) if rows else None


async def build_report(dsn: str, sim: Simulator, pool_id: str, index_s: float) -> DemoReport:
    store = await Store.connect(dsn, max_size=1)
    try:
        return DemoReport(
            sim=sim, pool_id=pool_id,
            pool_epochs=await store.query("demo_pool_epochs", pool_id),
            owner_rows=await store.query("demo_owner_rows", pool_id),
            certs=await store.query("demo_certificates", pool_id),
            events=await store.query("demo_reward_events"),
            withdrawals=await store.query("demo_withdrawals"),
            tip=(await store.query("demo_tip"))[0],  # one row, always
            index_s=index_s,
            aliases={r["stake_address"]: r["alias"] for r in await store.query("demo_aliases")})
    finally:
        await store.close()


# --- connecting with psql -------------------------------------------------------------------------


def _psql(embedded: EmbeddedPostgres | None) -> str:
    if shutil.which("psql"):
        return "psql"
    if embedded is not None and embedded.binaries is not None and embedded.binaries.psql:
        return str(embedded.binaries.psql)
    return "psql"


def connect_help(dsn: str, pool_id: str, last_epoch: int, psql: str,
                 note: str | None = None) -> str:
    shown, had_password = without_password(dsn)
    lines = [f'  {psql} "{shown}"']
    if had_password:
        lines.append("  (password left out: add it, or set PGPASSWORD)")
    if note:
        lines.append(f"  ({note})")
    lines += [
        "",
        "and try, for example:",
        "  -- the pool, epoch by epoch",
        "  SELECT epoch_no, rewards_status, blocks_made, pledge_met, total_rewards_lovelace,",
        "         leader_reward_lovelace, operator_fees_lovelace, stake_rewards_lovelace",
        "    FROM pool_epoch ORDER BY epoch_no;",
        f"  -- each account's balance, share and part of the rewards of epoch {last_epoch}",
        "  SELECT stake_address, is_owner, is_reward_account, balance_lovelace,",
        "         round(stake_share * 100, 4) AS share_pct, op_rewards_lovelace,",
        "         stake_rewards_lovelace, rewards_lovelace, rewards_status",
        f"    FROM pool_owner_epoch WHERE epoch_no = {last_epoch} ORDER BY stake_address;",
        "  -- what each account has earned from the pool over all credited epochs",
        "  SELECT stake_address, sum(rewards_lovelace) / 1e6 AS ada",
        "    FROM pool_owner_epoch WHERE rewards_status = 'credited'",
        "   GROUP BY stake_address ORDER BY ada DESC;",
        "",
        *textwrap.wrap(f"(views: {', '.join(PUBLIC_VIEWS)}; pool {pool_id})", width=92,
                       subsequent_indent=" ", break_long_words=False),
    ]
    return "\n".join(lines)
