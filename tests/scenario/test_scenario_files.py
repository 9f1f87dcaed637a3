"""Scenario files: errors are refused with the file, the line, the field and the reason;
price paths drive the oracle."""

from __future__ import annotations

import pytest

from engine.sim.runner import ScenarioRun
from engine.sim.scenario import ScenarioError, load_scenario, parse_scenario
from engine.sim.simulator import PricePathError, load_price_path

GOOD = """\
[scenario]
name = "t"
duration = "10m"
step = "5s"

[sim]
accounts = 20

[[timeline]]
at = "1m"
id = "f"
action = "stale_oracle"
offset_bps = -300
duration = "2m"
until = "brake"

[[timeline]]
at = "4m"
id = "brake"
action = "emergency_brake"
"""


def _refused(tmp_path, text: str) -> ScenarioError:
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(ScenarioError) as ei:
        load_scenario(str(p))
    return ei.value


def test_a_good_file_loads(tmp_path) -> None:
    p = tmp_path / "good.toml"
    p.write_text(GOOD)
    sc = load_scenario(str(p))
    assert sc.scenario.duration_ms == 600_000 and sc.timeline[0].action == "stale_oracle"


def test_unknown_field_names_file_line_field(tmp_path) -> None:
    e = _refused(tmp_path, GOOD.replace('offset_bps = -300', 'offset_bps = -300\nofset = 2'))
    (loc, field, why), = e.problems
    assert loc == f"{tmp_path / 'bad.toml'}:14"
    assert field == "timeline[0].ofset"
    assert "unknown field 'ofset'" in why and "stale_oracle" in why
    assert str(tmp_path / "bad.toml") in str(e)


def test_bad_value_and_float_money(tmp_path) -> None:
    e = _refused(tmp_path, GOOD.replace('accounts = 20', 'accounts = -5'))
    (loc, field, why), = e.problems
    assert loc.endswith(":7") and field == "sim.accounts" and "greater than or equal to 0" in why
    e = _refused(tmp_path, GOOD + '\n[sim.participants]\nmaker_cash = 1.5\n')
    assert any(f == "sim.participants.maker_cash" and "decimal string" in w for _l, f, w in e.problems)
    e = _refused(tmp_path, GOOD.replace('duration = "10m"', 'duration = "ten minutes"'))
    (loc, field, why), = e.problems
    assert loc.endswith(":3") and field == "scenario.duration" and "not a duration" in why


def test_unknown_market_and_unknown_action(tmp_path) -> None:
    e = _refused(tmp_path, GOOD.replace('offset_bps = -300', 'offset_bps = -300\nmarkets = ["DOGE-USD-PERP"]'))
    (loc, field, why), = e.problems
    assert field == "timeline[0].markets" and "unknown market 'DOGE-USD-PERP'" in why
    e = _refused(tmp_path, GOOD + '\n[[sim.markets]]\nmarket = "DOGE-USD-PERP"\n')
    assert any(f == "sim.markets[0].market" and "unknown market" in w for _l, f, w in e.problems)
    e = _refused(tmp_path, GOOD.replace('action = "emergency_brake"', 'action = "panic"'))
    (loc, field, why), = e.problems
    assert field == "timeline[1]" and "unknown action 'panic'" in why and "emergency_brake" in why


def test_times_out_of_order_and_dangling_references(tmp_path) -> None:
    e = _refused(tmp_path, GOOD.replace('at = "4m"', 'at = "30s"'))
    (loc, field, why), = e.problems
    assert loc.endswith(":18") and field == "timeline[1].at" and "time order" in why
    e = _refused(tmp_path, GOOD.replace('at = "4m"', 'at = "11m"'))
    assert "outside the scenario" in e.problems[0][2]
    e = _refused(tmp_path, GOOD.replace('until = "brake"', 'until = "nowhere"'))
    (loc, field, why), = e.problems
    assert field == "timeline[0].until" and "neither a time nor the id" in why


def test_not_toml_at_all(tmp_path) -> None:
    e = _refused(tmp_path, "[scenario\nname=")
    assert "not valid TOML" in e.problems[0][2]


def test_price_path_csv_and_jsonl_drive_the_oracle(tmp_path) -> None:
    csv = tmp_path / "path.csv"
    csv.write_text("ts,market,price\n0,BTC-USD-PERP,97000\n60000,BTC-USD-PERP,96000\n120000,BTC-USD-PERP,95000.5\n")
    pts = load_price_path(str(csv), ["BTC-USD-PERP"])
    assert pts["BTC-USD-PERP"][-1] == (120000, 95_000_500_000)
    jl = tmp_path / "path.jsonl"
    jl.write_text('{"ts": 0, "price": "97000"}\n{"ts": 60000, "price": "95000"}\n')
    both = load_price_path(str(jl), ["BTC-USD-PERP", "ETH-USD-PERP"])
    assert set(both) == {"BTC-USD-PERP", "ETH-USD-PERP"}  # a row without a market applies to all
    (tmp_path / "s.toml").write_text(GOOD.replace('[sim]\n', '[sim]\nprice_path = "path.csv"\nmarkets = [{market = "BTC-USD-PERP"}]\n')
                                     .replace('action = "stale_oracle"\n', 'action = "freeze_oracle"\n')
                                     .replace("offset_bps = -300\n", ""))
    run = ScenarioRun(str(tmp_path / "s.toml"))
    run.run_until(run.start + 200_000)  # the oracle is frozen from 1m to 3m
    assert run.node.engine.markets["BTC-USD-PERP"].index_price == 95_000_500_000
    run.close()


def test_bad_price_paths_name_the_line(tmp_path) -> None:
    p = tmp_path / "p.csv"
    p.write_text("ts,market,price\n0,BTC-USD-PERP,97000\n10,BTC-USD-PERP,-1\n")
    with pytest.raises(PricePathError, match=r"p.csv:3: price must be a positive decimal"):
        load_price_path(str(p), ["BTC-USD-PERP"])
    p.write_text("ts,market,price\n50,BTC-USD-PERP,97000\n10,BTC-USD-PERP,96000\n")
    with pytest.raises(PricePathError, match=r"p.csv:3: ts 10 goes back in time"):
        load_price_path(str(p), ["BTC-USD-PERP"])
    p.write_text("ts,market,price\n0,XRP-USD-PERP,1\n")
    with pytest.raises(PricePathError, match=r"p.csv:2: unknown market 'XRP-USD-PERP'"):
        load_price_path(str(p), ["BTC-USD-PERP"])


def test_parse_scenario_from_text_names_the_source() -> None:
    with pytest.raises(ScenarioError, match=r"inline:1: scenario.duration: missing field 'duration'"):
        parse_scenario('[scenario]\nname = "x"\n', "inline")


def test_references_must_point_back_in_time(tmp_path) -> None:
    text = GOOD + '\n[[timeline]]\nat = "5m"\naction = "rollback"\nsnapshot = "later"\n' \
                  '\n[[timeline]]\nat = "6m"\nid = "later"\naction = "take_snapshot"\n'
    e = _refused(tmp_path, text)
    (loc, field, why), = e.problems
    assert field == "timeline[2].snapshot" and "earlier take_snapshot" in why and loc.endswith(":25")
