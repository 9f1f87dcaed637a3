"""The scenarios shipped with perpdesk (TOML data files; see engine/sim/scenario.py and the README)."""
