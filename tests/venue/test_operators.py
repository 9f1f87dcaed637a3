"""The operator registry (engine/venue/operators.py): tokens stored as scrypt hashes, normalised names,
revocation, a verification cache, failed logins rate-limited and audited; on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import stat

import pytest

from engine.store.store import Store
from engine.venue import operators as ops_mod
from engine.venue.operators import AuthError, Operators

from ..store.helpers import raw_exec


@pytest.fixture
def store(store_url):
    s = Store.open(store_url)
    yield s
    s.close()


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def registry(request, clock, tmp_path):
    if request.param == "memory":
        yield Operators(None, clock=clock)
        return
    url = (f"sqlite:///{tmp_path / 'db' / 'perpdesk.db'}" if request.param == "sqlite"
           else request.getfixturevalue("pg_url"))
    s = Store.open(url)
    yield Operators(s, clock=clock)
    s.close()


def code_of(fn, *a, **kw) -> str:
    with pytest.raises(AuthError) as e:
        fn(*a, **kw)
    assert str(e.value) == e.value.message and e.value.message
    return e.value.code


def test_a_token_is_shown_once_and_stored_only_as_a_slow_hash(store, clock):
    reg = Operators(store, clock=clock)
    token = reg.add("alice", "operator", by="ada")
    tid, secret = ops_mod.split_token(token)
    assert token.startswith(f"pd_{tid}_") and len(secret) >= 40
    a = reg.authenticate(token, source="127.0.0.1")
    assert (a.name, a.role) == ("alice", "operator")
    [row] = store.list_operators()
    assert row["token_id"] == tid and secret not in str(row) and token not in str(row)
    assert len(bytes.fromhex(row["salt"])) == 16 and row["hash"] != secret
    [shown] = reg.list()
    assert set(shown) == {"name", "role", "created_ms", "revoked_ms", "last_seen_ms", "created_by"}
    assert (shown["name"], shown["role"], shown["created_by"], shown["revoked_ms"]) == ("alice", "operator", "ada",
                                                                                          None)
    assert shown["last_seen_ms"] is not None
    # another registry on the same database (another process: the CLI) knows the operator, not the token
    assert Operators(store, clock=clock).authenticate(token).name == "alice"


def test_names_are_normalised_and_look_alikes_refused(registry):
    registry.add("Alice", "operator")
    assert registry.list()[0]["name"] == "alice"
    assert code_of(registry.add, "alice", "viewer") == "exists"
    assert code_of(registry.add, "ALICE", "viewer") == "exists"
    assert code_of(registry.add, "\uff41\uff4c\uff49\uff43\uff45", "viewer") == "exists"  # fullwidth: NFKC alice
    for bad in ("alice ", " alice", "\u0430lice", "al ice", "", "-alice", "a" * 33, "system", "SYSTEM", "al/ice",
                "ali\u00e7e"):
        assert code_of(registry.add, bad, "viewer") == "bad_name", bad
    assert code_of(registry.add, "bob", "system") == "bad_role"
    assert code_of(registry.add, "bob", "root") == "bad_role"
    assert [r["name"] for r in registry.list()] == ["alice"]


def test_revoked_tokens_fail_and_a_name_can_be_issued_again(registry, clock):
    token = registry.add("carol", "approver")
    assert registry.authenticate(token).role == "approver"  # cached now
    registry.revoke("Carol", by="ada")
    assert code_of(registry.authenticate, token, source="10.0.0.9") == "revoked"
    assert code_of(registry.revoke, "carol") == "unknown_operator"
    again = registry.add("carol", "viewer")
    assert registry.authenticate(again).role == "viewer"
    rows = registry.list()
    assert [(r["name"], r["role"], r["revoked_ms"] is not None) for r in rows] == [
        ("carol", "approver", True), ("carol", "viewer", False)]


def test_a_revoke_from_another_process_is_seen_within_a_second(store, clock):
    venue = Operators(store, clock=clock)
    token = venue.add("dave", "operator")
    assert venue.authenticate(token).name == "dave"
    Operators(store, clock=clock).revoke("dave")  # `perpdesk operators revoke` elsewhere
    clock.advance(ops_mod.RECHECK_S)
    assert code_of(venue.authenticate, token) == "revoked"


def test_successful_verifications_are_cached_not_rehashed(registry, clock, monkeypatch):
    token = registry.add("erin", "viewer")
    calls = []
    real = ops_mod._scrypt
    monkeypatch.setattr(ops_mod, "_scrypt", lambda s, salt: calls.append(1) or real(s, salt))
    for _ in range(20):  # a request per key press
        assert registry.authenticate(token).name == "erin"
        clock.advance(0.1)
    assert len(calls) == 1
    clock.advance(ops_mod.CACHE_TTL_S)  # the cache is short-lived
    registry.authenticate(token)
    assert len(calls) == 2
    # a wrong secret with a real id is never served from the cache
    tid, secret = ops_mod.split_token(token)
    assert code_of(registry.authenticate, f"pd_{tid}_{'x' * len(secret)}") == "unauthenticated"


def test_missing_and_malformed_tokens_are_unauthenticated(registry):
    assert code_of(registry.authenticate, None) == "unauthenticated"
    assert code_of(registry.authenticate, "") == "unauthenticated"
    assert code_of(registry.authenticate, "hunter2") == "unauthenticated"
    assert code_of(registry.authenticate, "pd_0123456789ab_" + "y" * 43) == "unauthenticated"


def test_failed_logins_are_rate_limited_per_source(registry, clock):
    good = registry.add("frank", "operator")
    for i in range(ops_mod.MAX_FAILURES):
        assert code_of(registry.authenticate, f"guess{i}", source="203.0.113.7") == "unauthenticated"
    # now even the right token is refused from that source, for a minute; other sources are unaffected
    assert code_of(registry.authenticate, good, source="203.0.113.7") == "rate_limited"
    assert registry.authenticate(good, source="198.51.100.1").name == "frank"
    clock.advance(ops_mod.BLOCK_S - 1)
    assert code_of(registry.authenticate, good, source="203.0.113.7") == "rate_limited"
    clock.advance(1)
    assert registry.authenticate(good, source="203.0.113.7").name == "frank"


def test_failures_spread_over_more_than_the_window_are_not_limited(registry, clock):
    for i in range(3 * ops_mod.MAX_FAILURES):
        assert code_of(registry.authenticate, f"guess{i}", source="s") == "unauthenticated"
        clock.advance(ops_mod.WINDOW_S / (ops_mod.MAX_FAILURES - 1))


def test_failed_logins_are_rate_limited_per_token_id(registry, clock):
    good = registry.add("gina", "admin")
    tid, secret = ops_mod.split_token(good)
    for i in range(ops_mod.MAX_FAILURES):  # one guess per address: a botnet on one token id
        assert code_of(registry.authenticate, f"pd_{tid}_{'z' * 40}{i}", source=f"192.0.2.{i}") == "unauthenticated"
    assert code_of(registry.authenticate, good, source="192.0.2.200") == "rate_limited"
    clock.advance(ops_mod.BLOCK_S)
    assert registry.authenticate(good, source="192.0.2.200").name == "gina"


def test_every_failure_is_audited_with_the_public_id_only(store, clock):
    reg = Operators(store, clock=clock)
    token = reg.add("hal", "operator")
    tid, secret = ops_mod.split_token(token)
    reg.revoke("hal")
    wrong = f"pd_{tid}_{'w' * 43}"
    code_of(reg.authenticate, wrong, source="203.0.113.9")
    code_of(reg.authenticate, token, source="203.0.113.9")
    code_of(reg.authenticate, None, source="203.0.113.9")
    rows = [r.as_dict() for r in store.iter_audit(action="authenticate")]
    assert [r["command"]["code"] for r in rows] == ["unauthenticated", "revoked", "unauthenticated"]
    assert [r["operator"] for r in rows] == [f"token:{tid}", f"token:{tid}", "anonymous"]
    assert all(r["command"]["source"] == "203.0.113.9" and r["outcome"].startswith("refused: ") for r in rows)
    assert secret not in str(rows) and "w" * 43 not in str(rows)
    assert store.verify_chains() == []  # the audit chain still verifies


def test_in_memory_failures_go_to_the_audit_hook(clock):
    from engine.node.node import Node

    node = Node()
    reg = Operators(None, clock=clock)
    reg.audit_hook = node.audit_auth_failure
    code_of(reg.authenticate, "nope", source="::1")
    [rec] = node.audit()
    assert (rec["action"], rec["operator"], rec["command"]["source"]) == ("authenticate", "anonymous", "::1")


def test_a_row_claiming_the_system_role_maps_to_no_actor(store, store_url, clock):
    reg = Operators(store, clock=clock)
    token = reg.add("ivan", "admin")
    raw_exec(store_url, "UPDATE operators SET role = 'system'")
    assert code_of(Operators(store, clock=clock).authenticate, token) == "bad_role"


def test_one_active_operator_per_name_in_the_database(store, store_url):
    """The partial unique index holds even behind the registry's back."""
    Operators(store).add("judy", "viewer")
    row = dict(store.list_operators()[0], token_id="0123456789ab")
    from engine.store.store import RecordConflictError, StoreError

    with pytest.raises(RecordConflictError):
        store.add_operator(row)
    cols = ", ".join(row)
    vals = ", ".join(f":{k}" for k in row)
    with pytest.raises(Exception) as e:
        raw_exec(store_url, f"INSERT INTO operators ({cols}) VALUES ({vals})", row)
    assert "unique" in str(e.value).lower()
    assert not isinstance(e.value, StoreError)


def test_local_admin_token_zero_set_up(store, clock, tmp_path, monkeypatch):
    monkeypatch.setattr("engine.node.roles._os_user", lambda: "Kim")
    reg = Operators(store, clock=clock)
    path = tmp_path / "home" / "venue.token"
    token = reg.local_admin_token(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and path.read_text().strip() == token
    a = reg.authenticate(token)
    assert (a.name, a.role) == ("kim", "admin")
    assert reg.local_admin_token(path) == token  # kept
    path.unlink()  # lost: a new token, the old one revoked
    fresh = reg.local_admin_token(path)
    assert fresh != token and reg.authenticate(fresh).name == "kim"
    assert code_of(reg.authenticate, token) == "revoked"
    assert [r["revoked_ms"] is None for r in reg.list()] == [False, True]


def test_local_admin_token_never_promotes_an_operator(clock, tmp_path, monkeypatch):
    monkeypatch.setattr("engine.node.roles._os_user", lambda: "lee")
    reg = Operators(None, clock=clock)
    reg.add("lee", "viewer")
    assert code_of(reg.local_admin_token, tmp_path / "t") == "exists"


def test_registry_changes_are_audited(store):
    reg = Operators(store)
    token = reg.add("mia", "operator", by="cli:ada")
    reg.revoke("MIA", by="cli:ada")
    rows = [r.as_dict() for r in store.iter_audit()]
    assert [(r["action"], r["operator"], r["command"]["name"]) for r in rows] == [
        ("operators_add", "cli:ada", "mia"), ("operators_revoke", "cli:ada", "mia")]
    assert ops_mod.split_token(token)[1] not in str(rows) and store.verify_chains() == []


def test_cli_add_list_revoke(store_url, capsys):
    from console.cli import main

    assert main(["operators", "add", "Nora", "--role", "approver", "--db", store_url]) == 0
    out = capsys.readouterr().out
    token = next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("token: "))
    assert "shown only now" in out and "operator nora added as approver" in out
    assert main(["operators", "add", "nora", "--role", "viewer", "--db", store_url]) == 1
    assert "exists" in capsys.readouterr().err
    assert main(["operators", "add", "nora ", "--role", "viewer", "--db", store_url]) == 1
    assert "bad_name" in capsys.readouterr().err
    assert main(["operators", "list", "--db", store_url]) == 0
    listed = capsys.readouterr().out
    assert "nora" in listed and "approver" in listed and token not in listed
    with Store.open(store_url) as s:
        assert Operators(s).authenticate(token).name == "nora"
    assert main(["operators", "revoke", "NORA", "--db", store_url]) == 0
    assert main(["operators", "revoke", "nora", "--db", store_url]) == 1
    assert "unknown_operator" in capsys.readouterr().err
    with Store.open(store_url) as s:
        assert code_of(Operators(s).authenticate, token) == "revoked"
