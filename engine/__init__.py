"""perpdesk's exchange engine, in layers (each a package; the arrows are enforced by import-linter,
see ``[tool.importlinter]`` in pyproject.toml and docs/architecture.md):

``tools`` > ``sim`` > ``node`` > ``analysis`` > ``store`` > ``outside`` > ``settings`` > ``core`` | ``api``.

``engine.core`` is the pure, deterministic, mypyc-compiled exchange; importing ``engine`` itself
loads nothing (no core, no source hashing).
"""
