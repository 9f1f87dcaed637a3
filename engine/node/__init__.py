"""The node: sequencer, write pipeline, journal writer process, trust-checked recovery, views, roles."""
