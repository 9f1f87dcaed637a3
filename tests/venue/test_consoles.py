"""Consoles attached to one venue over its API: the real PerpdeskApp driven by Textual's pilot."""

from __future__ import annotations

import os
import signal
import tempfile
import time
from pathlib import Path

import pytest
from textual._context import active_app
from textual.widgets import DataTable, Input

from console.factory import make_app
from console.screens.refunds import ProposeModal
from console.widgets.banner import StatusBanner
from engine.api.client import VenueClient, read_token

from .conftest import await_until, spawn_venue, stop_venues

SIZE = (160, 44)


def banner(app) -> str:
    found = app.screen.query(StatusBanner)
    return str(found.first().render()) if found else ""


async def ready(pilot, app) -> None:
    """A first read rendered and every screen built (the console composes them all at start)."""
    await await_until(pilot, lambda: app.vm.get("status") and getattr(app, "prebuild_home", 1) is None
                      and app.screen.query(StatusBanner), what="the console to be ready", timeout=60)


def notes(app) -> list[str]:
    return [n.message for n in app._notifications]


def refund_row(app, rid: str) -> str:
    return " ".join(str(c) for c in app.screen.query_one(DataTable).get_row(rid))


@pytest.mark.asyncio
async def test_two_consoles_one_venue_the_operator_proposes_a_second_operator_approves(venue):
    v = venue(market=False)
    account = v.service.desk.gateway.accounts(1)[0]["account"]
    a = make_app(frozen=False, venue_url=v.url, token=v.token("alice", "operator"), refresh_s=0.1)
    b = make_app(frozen=False, venue_url=v.url, token=v.token("bob", "approver"), refresh_s=0.1)
    async with a.run_test(size=SIZE) as pa, b.run_test(size=SIZE) as pb:
        await ready(pa, a)
        await ready(pb, b)
        # each shows who else is attached
        await await_until(pa, lambda: "+1 attached: bob (approver)" in banner(a), what="bob in alice's banner")
        await await_until(pb, lambda: "+1 attached: alice (operator)" in banner(b), what="alice in bob's banner")
        await pa.press("r", "n")
        assert isinstance(a.screen, ProposeModal)
        m = a.screen
        active_app.set(a)  # two apps in one event loop: direct calls from the test act in a's context
        m.query_one("#p-account", Input).value = account
        m.query_one("#p-amount", Input).value = "125.5"
        m.query_one("#p-reason", Input).value = "liquidated on a bad mark"
        m.action_confirm()
        await await_until(pa, lambda: a.gateway.refunds() and a.gateway.refunds()[0]["proposer"] == "alice",
                          what="the proposal")
        # alice may not decide it: the console refuses before any dialog, naming the role it needs
        await pa.press("y")
        assert any("decide refund needs approver" in n for n in notes(a))
        # bob sees it on his screen within a second and approves it
        await pb.press("r")
        await await_until(pb, lambda: "r0001" in b.screen.query_one(DataTable).rows, what="r0001 on bob's screen")
        await pb.press("y")
        await pb.press(*"counterfactual matches", "enter")
        await await_until(pb, lambda: b.gateway.refunds()[0]["status"] == "approved", what="the approval")
        await await_until(pb, lambda: "approved" in refund_row(b, "r0001"), what="approved on bob's screen")
        await await_until(pa, lambda: "approved" in refund_row(a, "r0001"), what="approved on alice's screen")
        rec = a.gateway.refunds()[0]
        assert (rec["proposer"], rec["approver"]) == ("alice", "bob")
    # self-approval through the API: refused with a clear message and audited
    carol = VenueClient(v.url, v.token("carol", "approver"))
    assert carol.gateway.propose_refund(account, "10", "drill").ok
    out = carol.gateway.decide_refund("r0002", True, "mine")
    assert not out.ok and out.code == "self_approval" and "carol proposed r0002" in out.message
    assert any(r["operator"] == "carol" and r["action"] == "decide_refund" and "refused" in r["outcome"]
               for r in carol.gateway.audit())
    carol.close()
    # the consoles left; the venue did not stop
    assert v.service.ready and v.service.sessions() == []


@pytest.mark.asyncio
async def test_a_viewers_console_dims_the_brake_and_the_venue_refuses_it_anyway(venue):
    v = venue(market=False)
    app = make_app(frozen=False, venue_url=v.url, token=v.token("vic", "viewer"), refresh_s=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("ctrl+b")
        assert any("vic is viewer; emergency brake needs operator" in n for n in notes(app))
        out = app.gateway.emergency_brake("straight to the API")  # what a modified console could send
        assert not out.ok and out.code == "forbidden"
    assert not v.service.desk.gateway.status()["brake_engaged"]


def _short_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="pdv-", dir="/tmp"))



@pytest.mark.asyncio
async def test_kill_the_venue_under_an_attached_console_then_restart_it(tmp_path):
    d = _short_dir()
    sock, tok = d / "v.sock", d / "v.token"
    db = f"sqlite:///{tmp_path / 'venue.db'}"
    args = ("--sandbox", "--listen", f"unix:{sock}", "--token-file", str(tok), "--db", db, "--accounts", "20",
            "--no-incident")
    env = {"PERPDESK_WRITER_PROCESS": "0"}
    proc = spawn_venue(*args, env=env)
    procs = [proc]
    try:
        deadline = time.monotonic() + 120
        while not (sock.exists() and tok.exists()):
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        app = make_app(frozen=False, venue_url=f"unix:{sock}", token=read_token(tok), refresh_s=0.1)
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot, app)
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            await await_until(pilot, lambda: "VENUE UNREACHABLE since" in banner(app), what="the banner")
            assert "retrying" in banner(app)
            assert app.screen.has_class("-stale")
            await pilot.press("ctrl+b")  # refused before any dialog opens
            assert any(n.startswith("VENUE UNREACHABLE since") for n in notes(app))
            assert app.screen.__class__.__name__ != "BrakeModal"
            seq_down = app.vm["status"]["seq"]
            proc = spawn_venue(*args, env=env)  # the lease died with the killed venue
            procs.append(proc)
            await await_until(pilot, lambda: "VENUE UNREACHABLE" not in banner(app) and not app.vm.get("stale"),
                              what="the console to reconnect", timeout=120)
            await await_until(pilot, lambda: app.vm["status"]["seq"] > seq_down, what="live data again")
            assert not app.screen.has_class("-stale")
    finally:
        stop_venues(procs)


def test_sigterm_drains_the_sequencer_and_closes_the_database(tmp_path):
    d = _short_dir()
    sock, tok = d / "v.sock", d / "v.token"
    db = f"sqlite:///{tmp_path / 'venue.db'}"
    proc = spawn_venue("--sandbox", "--listen", f"unix:{sock}", "--token-file", str(tok), "--db", db,
                       "--accounts", "20", "--no-incident")
    deadline = time.monotonic() + 120
    while not (sock.exists() and tok.exists()):
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    c = VenueClient(f"unix:{sock}", read_token(tok))
    c.attach()
    out = c.gateway.take_snapshot("before the stop", "drill")
    assert out.ok
    acked = out.seq
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr[-2000:]
    assert "journal drained, database closed" in stdout
    assert not sock.exists()
    c.close()
    from engine.node.node import Node

    node = Node.open(db)  # the lease was released; every acknowledged command is there
    try:
        assert node.engine.seq >= acked
    finally:
        node.close()
    os.environ.get("CI")  # (no network: the venue listened on a Unix socket only)


@pytest.mark.asyncio
async def test_the_accounts_screen_reads_the_venue_off_the_ui_thread(venue):
    """An attached console's Accounts screen read the selected account, the whole liquidations buffer
    and every refund on the UI thread at each refresh and each highlighted row (0.1-0.3 s a visit under
    load). Every venue read it makes now runs in a worker; the detail still follows the cursor."""
    import threading

    from tests.console.test_flows import text_of

    v = venue(market=False)
    app = make_app(frozen=False, venue_url=v.url, token=v.token("ann", "viewer"), refresh_s=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        ui = threading.current_thread()
        on_ui: list[str] = []
        gw, feed = app.gateway, app.feed
        for obj, name in ((gw, "account"), (gw, "refunds"), (feed, "liquidations")):
            real = getattr(obj, name)

            def spy(*a, _real=real, _name=name, **k):
                if threading.current_thread() is ui:
                    on_ui.append(_name)
                return _real(*a, **k)

            setattr(obj, name, spy)
        await pilot.press("c")
        table = app.screen.query_one("#acct-table", DataTable)
        await await_until(pilot, lambda: table.row_count > 2, what="the accounts")
        first = str(table.coordinate_to_cell_key((0, 0)).row_key.value)
        await await_until(pilot, lambda: text_of(app.screen.query_one("#acct-detail")).startswith(first),
                          what="the first account's detail")
        await pilot.press("down")
        second = str(table.coordinate_to_cell_key((1, 0)).row_key.value)
        await await_until(pilot, lambda: text_of(app.screen.query_one("#acct-detail")).startswith(second),
                          what="the highlighted account's detail")
        assert on_ui == []
