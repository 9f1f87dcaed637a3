"""Shared helpers for the engine tests (imported by conftest and test modules)."""

from __future__ import annotations

from engine.core import Engine
from engine.core.checks import run_checks
from engine.core.fixedpoint import AMOUNT_SCALE, PRICE_SCALE, SIZE_SCALE, parse_decimal
from engine.core.markets import default_market_commands
from engine.core.snapshot import state_hash

BTC = "BTC-USD-PERP"
ETH = "ETH-USD-PERP"
SOL = "SOL-USD-PERP"
ACCOUNTS = ("alice", "bob", "carol", "dave")


def P(s: str) -> int:
    """Price string -> engine int."""
    return parse_decimal(s, 6, "price", allow_negative=True)


def S(s: str) -> int:
    """Size string -> engine int."""
    return parse_decimal(s, 8, "size", allow_negative=True)


def A(s: str) -> int:
    """Amount string -> engine int."""
    return parse_decimal(s, 6, "amount", allow_negative=True)


def types(events) -> list[str]:
    return [e["type"] for e in events]


def of_type(events, t: str) -> list[dict]:
    return [e for e in events if e["type"] == t]


def one(events, t: str) -> dict:
    found = of_type(events, t)
    assert len(found) == 1, f"expected one {t} event, got {types(events)}"
    return found[0]


def rejected_code(events) -> str:
    assert len(events) == 1 and events[0]["type"] == "rejected", f"expected one rejected event, got {events}"
    return events[0]["code"]


class Venue:
    """An engine plus a clock; every helper returns the command's events."""

    def __init__(self, engine: Engine | None = None, ts: int = 1_000) -> None:
        self.e = engine if engine is not None else Engine()
        self.ts = ts
        self.journal: list[dict] = []

    @classmethod
    def default(cls, accounts=ACCOUNTS, amount: str = "1000000") -> Venue:
        v = cls()
        for c in default_market_commands(ts=v.ts):
            evs = v.apply(c)
            assert "market_created" in types(evs)
        for a in accounts:
            v.deposit(a, amount)
        return v

    # ---- raw ----------------------------------------------------------
    def apply(self, obj: dict) -> list[dict]:
        self.journal.append(obj)
        return self.e.apply_obj(obj)

    def cmd(self, type_: str, **fields) -> list[dict]:
        obj = {"type": type_, "ts": self.ts, **fields}
        return self.apply(obj)

    def op(self, type_: str, **fields) -> list[dict]:
        return self.cmd(type_, operator="oncall", reason="test", **fields)

    # ---- users --------------------------------------------------------
    def deposit(self, account: str, amount: str) -> list[dict]:
        return self.cmd("deposit", account=account, amount=amount)

    def withdraw(self, account: str, amount: str) -> list[dict]:
        return self.cmd("withdraw", account=account, amount=amount)

    def limit(self, account: str, side: str, size: str, price: str, market: str = BTC, **kw) -> list[dict]:
        return self.cmd("place_order", account=account, market=market, side=side, order_type="limit",
                        size=size, price=price, **kw)

    def market(self, account: str, side: str, size: str, market: str = BTC, **kw) -> list[dict]:
        return self.cmd("place_order", account=account, market=market, side=side, order_type="market",
                        size=size, **kw)

    def trigger(self, account: str, kind: str, side: str, size: str, trigger_price: str, market: str = BTC,
                **kw) -> list[dict]:
        return self.cmd("place_order", account=account, market=market, side=side, order_type=kind,
                        size=size, trigger_price=trigger_price, **kw)

    def cancel(self, account: str, order_id: int | None = None, **kw) -> list[dict]:
        if order_id is not None:
            kw["order_id"] = order_id
        return self.cmd("cancel_order", account=account, **kw)

    # ---- market data --------------------------------------------------
    def oracle(self, price: str, market: str = BTC, **kw) -> list[dict]:
        return self.cmd("oracle_price", market=market, price=price, **kw)

    def shock(self, price: str, market: str = BTC) -> list[dict]:
        """A price reported by two sources: a move beyond the oracle band is applied on the second."""
        evs = self.cmd("oracle_price", market=market, price=price, source="feed-a")
        return evs + self.cmd("oracle_price", market=market, price=price, source="feed-b")

    def no_breaker(self, market: str = BTC) -> list[dict]:
        """Circuit-breaker limits off in ``market`` (for tests about liquidation mechanics in tiny venues,
        where one account is most of the open interest)."""
        return self.op("set_market_params", market=market, breaker_accounts=0, breaker_oi_share="0")

    def safeguards(self, enabled: bool) -> list[dict]:
        return self.op("set_safeguards", enabled=enabled)

    def tick(self, dt_ms: int = 1_000) -> list[dict]:
        self.ts += dt_ms
        return self.cmd("tick")

    # ---- helpers ------------------------------------------------------
    def open_position(self, long: str, short: str, size: str, price: str = "97000", market: str = BTC) -> None:
        """``long`` buys ``size`` from ``short`` at ``price`` (short rests, long takes)."""
        evs = self.limit(short, "sell", size, price, market)
        assert types(evs) == ["order_accepted"], evs
        evs = self.limit(long, "buy", size, price, market)
        assert of_type(evs, "trade"), evs
        assert not of_type(evs, "rejected")

    def pos(self, account: str, market: str = BTC) -> int:
        p = self.e.accounts[account].positions.get(market)
        return p.size if p is not None else 0

    def cash(self, account: str) -> int:
        return self.e.accounts[account].cash

    def hash(self) -> str:
        return state_hash(self.e)

    def checks(self):
        return run_checks(self.e)

    def order_id(self, events) -> int:
        return one(events, "order_accepted")["order_id"]

    def live(self, order_id: int) -> bool:
        return order_id in self.e.orders


__all__ = ["Venue", "BTC", "ETH", "SOL", "ACCOUNTS", "P", "S", "A", "types", "of_type", "one", "rejected_code",
           "AMOUNT_SCALE", "PRICE_SCALE", "SIZE_SCALE"]
