"""The scenarios shipped with perpdesk (TOML data files; see engine/scenario.py and the README)."""
