"""A mainnet-like chain for the benchmarks, generated once and cached in ``.bench-cache/``.

    python scripts/bench_chain.py --blocks 20000        # build (or find) the cache, print stats

Why these distributions (mainnet, Babbage/Conway years; the figures the issue gives, which
match what explorers show for 2023-2025 epochs):

- **Transactions per block**: mainnet blocks are either quiet (a few transactions) or full
  (busy hours fill the 88 kB body). A mixture gives that shape: 2% empty, 15% "busy" blocks
  with a uniform 20-75 transactions, the rest "quiet" with a geometric count of mean 7. That
  makes mean ~13, p90 ~38, max 75 (a full block of small transactions).
- **Inputs and outputs**: most transactions spend 1-2 inputs and pay 2 outputs (payment and
  change); a tail of consolidations (up to 10 inputs) and batch payouts (up to 15 outputs)
  gives ~2.2 inputs and ~2.5 outputs per transaction. 60% of inputs spend outputs of this chain
  (recent UTxO), 40% spend "old" outputs: the ids of the outputs the mainnet-scale run pre-fills
  (``old_output_id``), so that run spends from its 11-million-row table as mainnet does.
- **Addresses**: 85% base addresses (2% of them with a script stake credential, as script
  wallets and DEX orders have), 10% enterprise (script addresses of DEX pools, exchanges), 4.9%
  Byron, 0.1% pointer. Addresses repeat: 150,000 base addresses drawn with a heavy head (a
  third of the draws from the 2,000 busiest, as exchanges and DEX contracts are).
- **Value**: ~10% of outputs carry native assets (1-3 policies of 1-4 assets).
- **Certificates**: a delegation about every 3 blocks (half of them with a registration), a
  deregistration every 30 blocks, a pool registration or re-registration every 100 blocks, a
  retirement every 1,000, a MIR (pre-Conway; Babbage here) every 2,000 blocks.
- **Withdrawals** in 5% of transactions, **metadata** in 10% (CIP-20 messages, CIP-25 NFT
  metadata), **Plutus** in 30% (redeemers, datums, reference inputs, collateral, script
  integrity hash; 45% of those carry the script itself, 2-8 kB, as before reference
  scripts became common). Phase-2-invalid transactions: 0.1%.

Ogmios hex-encodes scripts, datums and redeemers, so this gives a mean block JSON of 30-60 kB,
as mainnet blocks have through Ogmios. The era is Babbage (pointer addresses still count, MIR
certificates still exist, Plutus V2): the heaviest era for the decoder.

The cache is one file of length-prefixed frames (the block JSON as Ogmios writes it, without
the JSON-RPC envelope) plus an index (id, slot, height, ancestor per block).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import mmap
import random
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from indexer.chain.address import (  # noqa: E402
    base_address,
    bech32_encode,
    enterprise_address,
    pointer_address,
)
from indexer.chain.types import Cred, Pointer  # noqa: E402
from indexer.simulator.chain import ChainBuilder, Pool  # noqa: E402
from indexer.simulator.network import EraSpec, Network  # noqa: E402

CACHE = ROOT / ".bench-cache"
FORMAT_VERSION = 2
Json = dict[str, Any]

# Mainnet-like network: mainnet addresses and k; a short Byron prefix, then Babbage with 1 s
# slots and a block every 20 slots on average. Epochs of 86,400 slots (a fifth of mainnet's),
# so that a 20,000-block run crosses four boundaries.
NETWORK = Network(name="mainnet", network_id=1, network_magic=764824073, k=2160,
                  eras=(EraSpec("byron", 0, 10, 20000), EraSpec("babbage", 1, 86_400, 1000)))
OLD_OUTPUTS = 11_000_000  # the mainnet-scale run's pre-filled outputs (old_output_id)


def old_output_id(i: int) -> bytes:
    """The id of pre-filled output ``i`` (index 0): PostgreSQL computes the same with
    ``sha256(int8send(i))`` (scripts/bench_scale.py)."""
    return hashlib.sha256(i.to_bytes(8, "big", signed=True)).digest()


@dataclass(frozen=True)
class ChainFile:
    path: Path
    index: list[tuple[str, int, int, str, int, int]]  # id, slot, height, ancestor, offset, len

    def frames(self) -> list[bytes]:
        data = self.path.read_bytes()
        return [data[off:off + n] for (_, _, _, _, off, n) in self.index]

    def iter_frames(self) -> Iterator[bytes]:
        with self.path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as m:
            for (_, _, _, _, off, n) in self.index:
                yield m[off:off + n]


class _Gen:
    def __init__(self, seed: int) -> None:
        self.rng = rng = random.Random(seed)
        nid = NETWORK.network_id
        self.base: list[str] = []
        for _ in range(150_000):
            script = rng.random() < 0.02
            stake = Cred(bytes((1 if script else 0,)) + rng.randbytes(28))
            self.base.append(base_address(rng.randbytes(28), stake, nid))
        self.enterprise = [enterprise_address(rng.randbytes(28), nid) for _ in range(5_000)]
        alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
        self.byron = ["DdzFF" + "".join(rng.choice(alphabet) for _ in range(99))
                      for _ in range(2_000)]
        self.policies = [rng.randbytes(28).hex() for _ in range(3_000)]
        self.scripts = [rng.randbytes(rng.randrange(2_000, 8_000)).hex() for _ in range(40)]
        self.pools = [Pool(f"bench{i}") for i in range(400)]
        self.stake_keys = [rng.randbytes(28).hex() for _ in range(20_000)]
        self.utxo: list[tuple[str, int]] = []
        self.tx_counter = 0
        self.old_drawn = 0

    # --- pieces --------------------------------------------------------------------------

    def hexs(self, n: int) -> str:
        return self.rng.randbytes(n).hex()

    def address(self) -> str:
        r = self.rng.random()
        if r < 0.85:
            if self.rng.random() < 0.33:
                return self.base[int(self.rng.paretovariate(1.2)) % 2_000]
            return self.rng.choice(self.base)
        if r < 0.95:
            return self.rng.choice(self.enterprise)
        if r < 0.999:
            return self.rng.choice(self.byron)
        ptr = Pointer(self.rng.randrange(1, 10**7), self.rng.randrange(20), 0)
        return pointer_address(self.rng.randbytes(28), ptr, NETWORK.network_id)

    def value(self) -> Json:
        rng = self.rng
        v: Json = {"ada": {"lovelace": rng.randrange(1_000_000, 5_000_000_000)}}
        if rng.random() < 0.10:
            for _ in range(rng.choice((1, 1, 2, 3))):
                v[rng.choice(self.policies)] = {
                    rng.randbytes(rng.randrange(4, 16)).hex(): rng.randrange(1, 10**12)
                    for _ in range(rng.choice((1, 1, 2, 4)))}
        return v

    def output(self, plutus: bool) -> Json:
        out: Json = {"address": self.address(), "value": self.value()}
        if plutus and self.rng.random() < 0.5:
            if self.rng.random() < 0.5:
                out["datumHash"] = self.hexs(32)
            else:
                out["datum"] = "d8799f" + self.hexs(self.rng.randrange(40, 300)) + "ff"
        return out

    def ref(self, old_share: float = 0.4) -> Json:
        rng = self.rng
        if self.utxo and rng.random() > old_share:
            txid, ix = self.utxo.pop(rng.randrange(len(self.utxo)))
            return {"transaction": {"id": txid}, "index": ix}
        # each old output at most once (a permutation of them: 7,368,787 is prime to 11M)
        self.old_drawn += 1
        i = self.old_drawn * 7_368_787 % OLD_OUTPUTS
        return {"transaction": {"id": old_output_id(i).hex()}, "index": 0}

    def count(self, table: tuple[tuple[float, int, int], ...]) -> int:
        r = self.rng.random()
        for p, lo, hi in table:
            if r < p:
                return self.rng.randint(lo, hi)
            r -= p
        return table[-1][1]

    def certificates(self, block_no: int) -> list[Json]:
        rng = self.rng
        certs: list[Json] = []
        if rng.random() < 1 / 3 / 13:  # ~1 delegation per 3 blocks
            key = rng.choice(self.stake_keys)
            if rng.random() < 0.5:
                certs.append({"type": "stakeCredentialRegistration", "from": "verificationKey",
                              "credential": key})
            certs.append({"type": "stakeDelegation", "from": "verificationKey",
                          "credential": key, "stakePool": {"id": rng.choice(self.pools).id}})
        if rng.random() < 1 / 30 / 13:
            certs.append({"type": "stakeCredentialDeregistration", "from": "verificationKey",
                          "credential": rng.choice(self.stake_keys)})
        if rng.random() < 1 / 100 / 13:
            pool = rng.choice(self.pools)
            owner = rng.choice(self.stake_keys)
            certs.append({"type": "stakePoolRegistration", "stakePool": {
                "id": pool.id, "vrfVerificationKeyHash": pool.vrf_hash, "owners": [owner],
                "cost": {"ada": {"lovelace": 340_000_000}}, "margin": "1/50",
                "pledge": {"ada": {"lovelace": rng.randrange(10**9, 10**12)}},
                "rewardAccount": bech32_encode("stake", b"\xe1" + bytes.fromhex(owner)),
                "metadata": {"url": f"https://{pool.name}.example/p.json", "hash": self.hexs(32)},
                "relays": [{"type": "hostname", "hostname": f"r.{pool.name}.example",
                            "port": 3001}]}})
        if rng.random() < 1 / 1000 / 13:
            certs.append({"type": "stakePoolRetirement", "stakePool": {
                "id": rng.choice(self.pools).id,
                "retirementEpoch": NETWORK.epoch_of(block_no * 20) + 3}})
        return certs

    def metadata(self) -> Json:
        rng = self.rng
        if rng.random() < 0.6:
            labels: Json = {"674": {"json": {"msg": [f"order {self.hexs(8)}",
                                                     "swap via bench dex"]}}}
        else:
            nft = {f"Bench{rng.randrange(10**5)}": {
                "name": f"Bench NFT {rng.randrange(10**5)}",
                "image": "ipfs://" + self.hexs(23),
                "mediaType": "image/png",
                "attributes": {f"trait{j}": self.hexs(4) for j in range(rng.randrange(3, 10))}}}
            labels = {"721": {"json": {rng.choice(self.policies): nft}}}
        return {"hash": self.hexs(32), "labels": labels}

    def tx(self, block_no: int) -> Json:
        rng = self.rng
        self.tx_counter += 1
        plutus = rng.random() < 0.30
        valid = not (plutus and rng.random() < 0.003)
        n_in = self.count(((0.55, 1, 1), (0.20, 2, 2), (0.15, 3, 4), (0.10, 4, 10)))
        n_out = self.count(((0.15, 1, 1), (0.70, 2, 2), (0.10, 3, 5), (0.05, 5, 15)))
        t: Json = {"id": "", "spends": "inputs" if valid else "collaterals",
                   "inputs": [self.ref() for _ in range(n_in)]}
        if plutus:
            t["references"] = [self.ref(1.0) for _ in range(rng.choice((1, 1, 2)))]
            t["collaterals"] = [self.ref(1.0)]
            t["collateralReturn"] = {"address": rng.choice(self.base), "value": self.value()}
            t["totalCollateral"] = {"ada": {"lovelace": rng.randrange(300_000, 2_000_000)}}
        t["outputs"] = [self.output(plutus) for _ in range(n_out)]
        certs = self.certificates(block_no)
        if certs:
            t["certificates"] = certs
        if rng.random() < 0.05:
            key = rng.choice(self.stake_keys)
            t["withdrawals"] = {bech32_encode("stake", b"\xe1" + bytes.fromhex(key)):
                                {"ada": {"lovelace": rng.randrange(10**5, 10**10)}}}
        if rng.random() < 0.04:
            t["mint"] = {rng.choice(self.policies): {self.hexs(8): rng.randrange(1, 10**6)}}
        t["fee"] = {"ada": {"lovelace": rng.randrange(170_000, 900_000)}}
        t["validityInterval"] = {"invalidBefore": block_no * 20,
                                 "invalidAfter": block_no * 20 + 7200}
        if plutus:
            t["scriptIntegrityHash"] = self.hexs(32)
            t["requiredExtraSignatories"] = [self.hexs(28)]
        if rng.random() < 0.10:
            t["metadata"] = self.metadata()
        t["signatories"] = [{"key": self.hexs(32), "signature": self.hexs(64)}
                            for _ in range(rng.choice((1, 1, 2)))]
        if plutus:
            self._witnesses(t)
        t["id"] = hashlib.blake2b(self.tx_counter.to_bytes(8, "big"), digest_size=32).hexdigest()
        if valid:
            for ix in range(len(t["outputs"])):
                self.utxo.append((t["id"], ix))
        return t

    def _witnesses(self, t: Json) -> None:
        rng = self.rng
        if rng.random() < 0.45:
            t["scripts"] = {self.hexs(28): {"language": "plutus:v2",
                                            "cbor": rng.choice(self.scripts)}}
        t["datums"] = {self.hexs(32): "d8799f" + self.hexs(rng.randrange(100, 600)) + "ff"
                       for _ in range(rng.choice((1, 2)))}
        t["redeemers"] = [{"validator": {"purpose": "spend", "index": j},
                           "redeemer": "d87980" + self.hexs(rng.randrange(0, 60)),
                           "executionUnits": {"memory": rng.randrange(10**5, 10**7),
                                              "cpu": rng.randrange(10**7, 10**10)}}
                          for j in range(rng.choice((1, 1, 2)))]

    def mir(self) -> Json:
        return {"action": {"type": "treasuryWithdrawals", "guardrails": None, "withdrawals": {
            self.rng.choice(self.stake_keys): {"ada": {"lovelace": self.rng.randrange(10**9)}}
            for _ in range(self.rng.randrange(1, 20))}}}


TX_PER_BLOCK = ((0.02, 0, 0), (0.15, 20, 75))  # the rest: quiet blocks (geometric, mean 7)


def _n_txs(gen: _Gen) -> int:
    r = gen.rng.random()
    if r < TX_PER_BLOCK[0][0]:
        return 0
    if r < TX_PER_BLOCK[0][0] + TX_PER_BLOCK[1][0]:
        return gen.rng.randint(TX_PER_BLOCK[1][1], TX_PER_BLOCK[1][2])
    return min(75, 1 + int(gen.rng.expovariate(1 / 6)))


def generate(n_blocks: int, seed: int = 1) -> list[Json]:
    gen = _Gen(seed)
    cb = ChainBuilder(NETWORK)
    blocks = [cb.block(None, 0)]
    slot = NETWORK.first_slot(1)
    while len(blocks) < n_blocks:
        slot += 1 + int(gen.rng.expovariate(1 / 19))
        txs = [gen.tx(len(blocks)) for _ in range(_n_txs(gen))]
        if txs and gen.rng.random() < 1 / 2000:
            txs[0]["proposals"] = [gen.mir()]
        blocks.append(cb.block(blocks[-1], slot, txs, issuer=gen.rng.choice(gen.pools)))
    return blocks


def cache_path(n_blocks: int, seed: int) -> Path:
    return CACHE / f"chain-v{FORMAT_VERSION}-{n_blocks}-{seed}.bin"


def load_or_build(n_blocks: int, seed: int = 1, *, quiet: bool = False) -> ChainFile:
    path = cache_path(n_blocks, seed)
    index_path = path.with_suffix(".index.json")
    if path.exists() and index_path.exists():
        index = [tuple(r) for r in json.loads(index_path.read_text())]
        return ChainFile(path, index)
    t0 = time.perf_counter()
    if not quiet:
        print(f"generating a mainnet-like chain of {n_blocks} blocks (cached in {CACHE}) ...",
              flush=True)
    CACHE.mkdir(exist_ok=True)
    blocks = generate(n_blocks, seed)
    rows: list[list[Any]] = []
    offset = 0
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as fh:
        for b in blocks:
            raw = orjson.dumps(b)
            fh.write(raw)
            rows.append([b["id"], b["slot"], b["height"], b["ancestor"], offset, len(raw)])
            offset += len(raw)
    index_path.write_text(json.dumps(rows))
    tmp.rename(path)
    if not quiet:
        print(f"  built in {time.perf_counter() - t0:.0f} s", flush=True)
    return ChainFile(path, [tuple(r) for r in rows])


def stats(chain: ChainFile) -> dict[str, float]:
    """The distributions actually generated (printed by the benchmark)."""
    n_tx: list[int] = []
    ins = outs = base = assets = n_outs = certs = deleg = wds = meta = plutus = 0
    for frame in chain.iter_frames():
        b = orjson.loads(frame)
        txs = b.get("transactions", [])
        n_tx.append(len(txs))
        for t in txs:
            ins += len(t["inputs"])
            outs += len(t["outputs"])
            for o in t["outputs"]:
                n_outs += 1
                base += o["address"].startswith("addr1q") or o["address"].startswith("addr1z") \
                    or o["address"].startswith("addr1y") or o["address"].startswith("addr1x")
                assets += len(o["value"]) > 1
            cs = t.get("certificates", [])
            certs += len(cs)
            deleg += sum(c["type"] == "stakeDelegation" for c in cs)
            wds += "withdrawals" in t
            meta += "metadata" in t
            plutus += "redeemers" in t
    txs_total = sum(n_tx)
    sizes = [n for (*_, n) in chain.index]
    ordered = sorted(n_tx)
    return {
        "blocks": len(n_tx), "txs": txs_total, "mib": sum(sizes) / 2**20,
        "tx_mean": txs_total / len(n_tx), "tx_p90": ordered[int(0.9 * len(ordered))],
        "tx_max": ordered[-1], "empty_share": ordered.count(0) / len(ordered),
        "inputs_per_tx": ins / txs_total, "outputs_per_tx": outs / txs_total,
        "base_share": base / n_outs, "asset_share": assets / n_outs,
        "delegations_per_block": deleg / len(n_tx), "certificates": certs,
        "withdrawal_share": wds / txs_total, "metadata_share": meta / txs_total,
        "plutus_share": plutus / txs_total, "block_kb_mean": statistics.mean(sizes) / 1000,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--blocks", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    chain = load_or_build(args.blocks, args.seed)
    for key, value in stats(chain).items():
        print(f"  {key:24s} {value:,.3f}" if isinstance(value, float) else f"  {key:24s} {value}")


if __name__ == "__main__":
    main()
