"""Issue 14: demo and scenario files are safe: plain names, exclusive 0600 databases, bounded
overrides and price paths, clear refusals (exit 2) and never a traceback."""

from __future__ import annotations

import os
import stat

import pytest

from console.cli import main
from engine.sim import runner as scenario_runner
from engine.sim.runner import ScenarioRun
from engine.sim.scenario import ScenarioError, find, load_scenario

from .test_scenario_files import GOOD

DURABLE = GOOD.replace('step = "5s"\n', 'step = "5s"\ndurable = true\n')


def write(tmp_path, text: str, name: str = "s.toml") -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


@pytest.mark.parametrize("bad", ["../../x", "/etc/evil", "a.b", ""])
def test_a_scenario_name_must_be_a_plain_identifier(tmp_path, bad) -> None:
    with pytest.raises(ScenarioError, match="scenario.name"):
        load_scenario(write(tmp_path, GOOD.replace('name = "t"', f'name = "{bad}"')))


def test_a_shipped_name_with_a_path_is_refused() -> None:
    with pytest.raises(ScenarioError, match="not a shipped scenario's name"):
        find("../../pyproject")


def test_cli_refusals_are_clear_with_exit_2(tmp_path, capsys) -> None:
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(GOOD.replace('"t"', '"caf\xe9"').encode("latin-1"))
    assert main(["demo", str(bad), "--headless"]) == 2
    assert "not UTF-8" in capsys.readouterr().err
    good = write(tmp_path, GOOD)
    assert main(["demo", good, "--headless", "--accounts", "1000000000"]) == 2
    err = capsys.readouterr().err
    assert "--accounts" in err and "1000000" in err and "Traceback" not in err
    zero = write(tmp_path, GOOD.replace('[sim]\n', '[sim]\nprice_path = "/dev/zero"\n'), "zero.toml")
    assert main(["demo", zero, "--headless"]) == 2
    err = capsys.readouterr().err
    assert "not a regular file" in err and "Traceback" not in err


def test_a_price_path_over_the_size_limit_is_refused(tmp_path, monkeypatch) -> None:
    (tmp_path / "p.csv").write_text("ts,market,price\n" + "".join(f"{i},BTC-USD-PERP,97000\n" for i in range(100)))
    monkeypatch.setattr(scenario_runner, "MAX_PRICE_PATH_BYTES", 100)
    run = ScenarioRun(write(tmp_path, GOOD.replace('[sim]\n', '[sim]\nprice_path = "p.csv"\n')))
    with pytest.raises(ScenarioError, match="more than the 100 allowed"):
        run.setup()
    run.close()


def test_two_demos_of_the_same_scenario_and_seed_keep_their_own_databases(tmp_path) -> None:
    path = write(tmp_path, DURABLE)
    one, two = ScenarioRun(path), ScenarioRun(path)
    one.setup()
    two.setup()  # while the first still runs: it must not delete the first's database
    assert one.db != two.db and os.path.exists(one.db)
    for r in (one, two):
        assert stat.S_IMODE(os.stat(r.db).st_mode) == 0o600
        r.run_until(r.end)
    assert one.node.engine.seq > 0 and two.node.engine.seq > 0
    assert one.node.store.verify_chains() == [] and two.node.store.verify_chains() == []
    first = one.db
    one.close()
    two.close()
    three = ScenarioRun(path)  # the finished run's name is free again
    three.setup()
    assert three.db == first
    three.close()
