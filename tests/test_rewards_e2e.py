"""End to end, rewards: the real daemon follows the simulator (whose ledger answers are
consistent with the scripted chain, tests/reward_scenarios.py) into Postgres, and the public
views tell the rewards' story: pending → provisional → credited / lost, unavailable → imported,
MIR and pool deposit refunds, rollbacks across the capture, and the check of credited amounts
against ``rewardAccountSummaries``.

The split itself is property-tested in tests/test_rewards.py (Σ op = F, Σ stake = S, …)."""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from typing import Any

from structlog.testing import capture_logs

from indexer.accounting.importer import import_rewards, parse_rewards_csv
from indexer.accounting.rewards import operator_split, split_pool_epoch
from indexer.chain.address import cred_from_stake_address
from indexer.config import Config
from indexer.db.store import Store
from indexer.simulator.queries import RpcFault
from indexer.simulator.server import Simulator
from tests.harness import Running, config, synced, views, wait_for
from tests.reward_scenarios import (
    ALPHA,
    BETA,
    CAROL,
    COST,
    DAN,
    DELTA,
    ED,
    EPS,
    ERIN,
    GAMMA,
    GUS,
    MIR,
    POOL_DEPOSIT,
    POOLS,
    RETIRE_AT,
    PoolFigures,
    Story,
    StoryLedger,
    build_story,
)

Views = dict[str, list[dict[str, Any]]]
NID = 0
CAROL_ADDR, GUS_ADDR, ED_ADDR = (w.stake_address(NID) for w in (CAROL, GUS, ED))


# --- driving the daemon ----------------------------------------------------------------------


async def _captured(dsn: str, epoch: int) -> bool:
    store = await Store.connect(dsn)
    try:
        return bool(await store.fetch("SELECT 1 FROM live_epoch WHERE boundary_epoch = $1",
                                      epoch))
    finally:
        await store.close()


async def follow(cfg: Config, sim: Simulator, pieces: Iterable[tuple[int, list[Any]]],
                 *, run: Running | None = None) -> dict[int, Views]:
    """Extend the simulator's chain piece by piece (one epoch's blocks at most, so that the
    daemon stays within reach of the tip), wait each time until the daemon has the tip and has
    captured the rewards of that epoch, and keep the views then."""
    dsn = cfg.database.dsn or ""
    snaps: dict[int, Views] = {}

    async def go(r: Running) -> None:
        for epoch, blocks in pieces:
            sim.extend(*blocks)

            async def done(epoch: int = epoch) -> bool:
                if r.task is not None and r.task.done():
                    r.task.result()  # raise the daemon's error
                return await synced(dsn, sim) and await _captured(dsn, epoch)
            await wait_for(done, 20)
            snaps[epoch] = await views(dsn)

    if run is not None:
        await go(run)
    else:
        async with Running(cfg) as r:
            await go(r)
    return snaps


def epochs_of(story: Story, first: int = 0, last: int | None = None
              ) -> list[tuple[int, list[Any]]]:
    last = story.last_epoch if last is None else last
    return [(e, story.by_epoch[e]) for e in range(first, last + 1)]


# --- reading the views -----------------------------------------------------------------------


def pool_rows(v: Views) -> dict[tuple[str, int], dict[str, Any]]:
    return {(r["pool_id"], r["epoch_no"]): r for r in v["pool_epoch"]}


def owner_rows(v: Views, pool_id: str, epoch: int) -> dict[str, dict[str, Any]]:
    return {cred_from_stake_address(r["stake_address"])[1:].hex(): r
            for r in v["pool_owner_epoch"] if r["pool_id"] == pool_id and r["epoch_no"] == epoch}


def margin_of(v: Views, pool_id: str) -> Fraction:
    cert = next(c for c in v["pool_certificate"] if c["pool_id"] == pool_id)
    return Fraction(int(cert["margin_num"]), int(cert["margin_den"]))


def check_rewards(v: Views, epoch: int, figures: dict[str, PoolFigures],
                  status: dict[str, str]) -> None:
    """Every pool of ``status`` has, for ``epoch``, the ledger's R and L, F and S, and the
    exact split of docs/spec.md §5 over the balances shown in the view (0 for owners when lost)."""
    pools = pool_rows(v)
    for pool_id, want_status in status.items():
        row = pools[(pool_id, epoch)]
        assert row["rewards_status"] == want_status, (pool_id, epoch, row)
        owners = owner_rows(v, pool_id, epoch)
        assert {r["rewards_status"] for r in owners.values()} == {want_status}
        if want_status in ("pending", "unavailable"):
            assert row["total_rewards_lovelace"] is None
            assert row["leader_reward_lovelace"] is None
            assert all(r["rewards_lovelace"] is None for r in owners.values())
            continue
        f = figures.get(pool_id)
        total, leader = (f.total, f.leader) if f else (0, 0)  # no block: R = L = 0
        assert row["blocks_made"] == (f.blocks if f else 0)
        assert (row["total_rewards_lovelace"], row["leader_reward_lovelace"]) == (total, leader)
        cost, margin = int(row["cost_lovelace"]), margin_of(v, pool_id)
        fees, stake = operator_split(total, leader, cost, margin)
        assert (row["operator_fees_lovelace"], row["stake_rewards_lovelace"]) == (fees, stake)
        split = split_pool_epoch(total, leader, cost, margin,
                                 [c for c, r in owners.items() if r["is_owner"]],
                                 {c: r["balance_lovelace"] for c, r in owners.items()})
        lost = want_status == "lost"
        got = {c: (r["op_rewards_lovelace"], r["stake_rewards_lovelace"], r["rewards_lovelace"])
               for c, r in owners.items()}
        assert got == {c: (0, 0, 0) if lost else (split.op[c], split.stake[c],
                                                  split.rewards[c]) for c in owners}
        if not lost:
            assert sum(g[0] for g in got.values()) == fees
            assert sum(g[1] for g in got.values()) == stake
        assert all(r["spendable_epoch"] == epoch + 2 for r in owners.values())


def events(v: Views, kind: str) -> set[tuple[Any, ...]]:
    return {(r["stake_address"], r["pool_id"], r["earned_epoch"], r["spendable_epoch"],
             r["amount_lovelace"], r["source"]) for r in v["reward_event"] if r["kind"] == kind}


def settled() -> dict[str, str]:
    """Status of each pool's epoch 2, 3 or 4 once B(e + 2) passed: delta's RA DAN
    deregistered in E3, every other reward account is registered."""
    return {p.id: "lost" if p == DELTA else "credited" for p in POOLS}


# --- the tests -------------------------------------------------------------------------------


async def test_live_rewards_provisional_then_credited_lost_and_other_credits(dsn: str) -> None:
    story = build_story()
    # What the ledger says of the reward balances: plenty, except GUS at E4 (below what B(4)
    # credited him: a mismatch to log) and ED, who withdrew his refund in the first block of E4
    # (drained to 0: not comparable, not to be flagged).
    def balances(cred_hex: str, epoch: int) -> int:
        if cred_hex == ED.stake_hex:
            return 0
        return 1 if (cred_hex, epoch) == (GUS.stake_hex, 4) else 10**15

    async with Simulator(story.net) as sim:
        ledger = StoryLedger(sim, rewards=balances).install()
        with capture_logs() as logs:
            snaps = await follow(config(sim.url, dsn), sim, epochs_of(story))
        figures = {e: ledger.figures(e) for e in range(2, 6)}

    # During E3: the rewards of E2 are provisional, those of E3 pending.
    check_rewards(snaps[3], 2, figures[2], {p.id: "provisional" for p in POOLS})
    check_rewards(snaps[3], 3, {}, {p.id: "pending" for p in POOLS})
    assert not events(snaps[3], "leader")
    # After B(4): E2 credited (lost for delta, whose RA deregistered in E3); E3 provisional.
    check_rewards(snaps[4], 2, figures[2], settled())
    check_rewards(snaps[4], 3, figures[3], {p.id: "provisional" for p in POOLS})
    final = snaps[story.last_epoch]
    for e in (2, 3, 4):
        check_rewards(final, e, figures[e], settled())
    check_rewards(final, 5, figures[5], {p.id: "provisional" for p in POOLS})

    pools = pool_rows(final)
    # beta: pledge not met per the ledger's owner stake → R = L = 0 despite its block
    assert figures[2][BETA.id].blocks == 1 and figures[2][BETA.id].total == 0
    assert [pools[(BETA.id, e)]["pledge_met"] for e in (2, 3, 4, 5)] == [False] * 4
    assert all(pools[(p.id, 2)]["pledge_met"] for p in (ALPHA, GAMMA, DELTA, EPS))
    # gamma: R <= cost → F = L = R, S = 0
    gamma = pools[(GAMMA.id, 2)]
    assert gamma["total_rewards_lovelace"] <= gamma["cost_lovelace"]
    assert gamma["operator_fees_lovelace"] == gamma["leader_reward_lovelace"] > 0
    assert gamma["stake_rewards_lovelace"] == 0
    # alpha's reward account CAROL: a delegator of the pool, not an owner: no fee, a share
    carol = owner_rows(final, ALPHA.id, 2)[CAROL.stake_hex]
    assert (carol["is_owner"], carol["is_reward_account"], carol["delegated_to_pool"]) == \
        (False, True, True)
    assert carol["op_rewards_lovelace"] == 0 < carol["stake_rewards_lovelace"]
    assert CAROL.stake_hex not in {c for c, r in owner_rows(final, ALPHA.id, 2).items()
                                   if r["is_owner"]}
    # delta, lost: L stays on the pool row
    delta = pools[(DELTA.id, 2)]
    assert delta["leader_reward_lovelace"] == figures[2][DELTA.id].leader > 0

    # reward events: leader credits to RA(e) at B(e + 2) from the ledger (none when lost or 0)
    assert events(final, "leader") == {
        (ra, pool.id, e, e + 2, figures[e][pool.id].leader, "ledger")
        for e in (2, 3, 4) for pool, ra in ((ALPHA, CAROL_ADDR), (GAMMA, GUS_ADDR))}
    # MIR of E1 credited at B(2) to ERIN only (FRANK never registered)
    assert events(final, "mir") == {(ERIN.stake_address(NID), None, 1, 2, MIR[ERIN], "chain")}
    # deposit refunds at B(4): eps's RA ED is registered, delta's DAN is not
    assert events(final, "pool_deposit_refund") == {
        (ED_ADDR, EPS.id, RETIRE_AT, RETIRE_AT, POOL_DEPOSIT, "chain")}
    # member rewards (docs/spec.md §5): alpha's reward account CAROL is a delegator, not an
    # owner: floor((R - c) * (1 - m) * t / σ) with her stake t in the ledger's snapshot, her
    # own (not part of L); owners get none
    def member(f: PoolFigures) -> int:
        carol_stake = f.delegators[CAROL.stake_hex]
        return int((f.total - COST) * (1 - Fraction(1, 50)) * Fraction(carol_stake, f.pool_stake))
    assert events(final, "member") == {
        (CAROL_ADDR, ALPHA.id, e, e + 2, member(figures[e][ALPHA.id]), "ledger")
        for e in (2, 3, 4)}
    for e in (2, 3, 4, 5):
        rows = owner_rows(final, ALPHA.id, e)
        assert rows[CAROL.stake_hex]["member_rewards_lovelace"] == member(figures[e][ALPHA.id])
        assert {r["member_rewards_lovelace"] for c, r in rows.items() if c != CAROL.stake_hex} \
            == {0}
    assert {r["kind"] for r in final["reward_event"]} == {"leader", "member", "mir",
                                                            "pool_deposit_refund"}
    assert DAN.stake_address(NID) not in {r["stake_address"] for r in final["reward_event"]}

    # rewardAccountSummaries: asked at the cursor for what B(x) credited, once per epoch;
    # ED (withdrawn since B(4)) not asked; only GUS at E4 is flagged, at error level.
    asked = {(e, tuple(sorted(c))) for e, c in ledger.summaries_asked}
    assert (4, tuple(sorted((CAROL.stake_hex, GUS.stake_hex)))) in asked
    assert (2, (ERIN.stake_hex,)) in asked
    assert not any(ED.stake_hex in c for _, c in asked)
    mismatches = [e for e in logs if e["event"] == "capture.credit_mismatch"]
    assert len(mismatches) == 1, mismatches
    m = mismatches[0]
    assert m["log_level"] == "error"
    assert (m["epoch"], m["stake_address"], m["ledger_rewards"]) == (4, GUS_ADDR, 1)
    assert m["credited"] == figures[2][GAMMA.id].leader
    assert not [e for e in logs if e["event"] == "capture.credit_check_failed"]


async def test_unavailable_when_behind_then_imported(dsn: str) -> None:
    story = build_story()
    async with Simulator(story.net) as sim:
        ledger = StoryLedger(sim).install()
        sim.extend(*story.blocks)  # the daemon starts far behind; live only at the very tip
        await follow(config(sim.url, dsn, live_distance_blocks=1), sim, [(story.last_epoch, [])])
        figures = {e: ledger.figures(e) for e in range(2, 6)}
    v = await views(dsn)
    for e in (2, 3, 4):
        check_rewards(v, e, figures[e], {p.id: "unavailable" for p in POOLS})
    check_rewards(v, 5, figures[5], {p.id: "provisional" for p in POOLS})
    assert not events(v, "leader")
    # chain-derived credits do not depend on the ledger
    assert events(v, "mir") and events(v, "pool_deposit_refund")

    def line(pool_id: str, e: int, f: PoolFigures | None) -> str:
        total, leader, blocks = (f.total, f.leader, f.blocks) if f else (0, 0, "")
        return f"{pool_id},{e},{total},{leader},{blocks},https://example.com/{e}"
    wanted = [(ALPHA.id, 2), (ALPHA.id, 3), (ALPHA.id, 4), (ALPHA.id, 5), (GAMMA.id, 2),
              (BETA.id, 3), (DELTA.id, 2), (EPS.id, 2)]
    csv = ("pool_id,epoch,total_rewards_lovelace,leader_reward_lovelace,blocks_made,source\n"
           + "\n".join(line(p, e, figures[e].get(p)) for p, e in wanted) + "\n")
    items = parse_rewards_csv(csv)
    store = await Store.connect(dsn)
    try:
        assert await import_rewards(store, items) == len(items)
        again = await views(dsn)
        assert await import_rewards(store, items) == len(items)  # idempotent
    finally:
        await store.close()
    v = await views(dsn)
    assert v == again
    for (pool_id, e) in wanted:
        # delta's RA was not registered at B(4): the leader reward went to the treasury
        status = "lost" if pool_id == DELTA.id else "imported"
        check_rewards(v, e, figures[e], {pool_id: status})
    check_rewards(v, 3, figures[3], {GAMMA.id: "unavailable", DELTA.id: "unavailable"})
    # leader credits from the import where B(e + 2) passed with RA(e) registered and L > 0:
    # alpha E2-E4 and gamma E2; not alpha E5 (B(7) not yet), beta (L = 0), delta, eps (L = 0)
    assert events(v, "leader") == {
        (CAROL_ADDR, ALPHA.id, e, e + 2, figures[e][ALPHA.id].leader, "import")
        for e in (2, 3, 4)} | {(GUS_ADDR, GAMMA.id, 2, 4, figures[2][GAMMA.id].leader, "import")}


async def test_rollback_across_the_capture_equals_a_straight_run(dsn: str, databases: Any
                                                                  ) -> None:
    main, fork = build_story(epochs=5), build_story(epochs=5, variant="fork")
    common = next(i for i, (a, b) in enumerate(zip(main.blocks, fork.blocks, strict=True))
                  if a["id"] != b["id"])
    fork_point = main.blocks[common - 1]
    assert main.net.epoch_of(fork_point["slot"]) == 2
    new_e2 = [b for b in fork.blocks[common:] if fork.net.epoch_of(b["slot"]) == 2]

    def failing(cred_hex: str, epoch: int) -> int:
        raise RpcFault(2001, "Unavailable in current era.")  # the check is best-effort

    async with Simulator(main.net) as sim:
        ledger = StoryLedger(sim, rewards=failing).install()
        cfg = config(sim.url, dsn)
        with capture_logs() as logs:
            async with Running(cfg) as run:
                snaps = await follow(cfg, sim, epochs_of(main, 0, 3), run=run)
                before = ledger.figures(2, main.by_epoch[3][-1])
                check_rewards(snaps[3], 2, before, {p.id: "provisional" for p in POOLS})
                # a fork from inside E2 (10 blocks deep = k) back before B(3): the capture of
                # E3 goes with it; alpha makes two more blocks on the new branch
                sim.fork(fork_point, new_e2)
                await wait_for(lambda: synced(dsn, sim), 20)
                v = await views(dsn)
                check_rewards(v, 2, {}, {p.id: "pending" for p in POOLS})
                assert not await _captured(dsn, 3)
                snaps = await follow(cfg, sim, epochs_of(fork, 3, 4), run=run)
        figures2 = ledger.figures(2)
        assert (before[ALPHA.id].blocks, figures2[ALPHA.id].blocks) == (4, 5)
        check_rewards(snaps[3], 2, figures2, {p.id: "provisional" for p in POOLS})
        check_rewards(snaps[4], 2, figures2, settled())
        final_chain = list(sim.chain)
    assert [b["id"] for b in final_chain] == [b["id"] for b in fork.blocks]
    assert [e for e in logs if e["event"] == "capture.credit_check_failed"]
    assert not [e for e in logs if e["event"] == "capture.credit_mismatch"]
    rolled_back = await views(dsn)

    straight_dsn = await databases.new()
    async with Simulator(fork.net) as sim:
        StoryLedger(sim).install()
        await follow(config(sim.url, straight_dsn), sim, epochs_of(fork))
    assert rolled_back == await views(straight_dsn)
