import pytest

from console.factory import make_app


@pytest.fixture
def desk_app():
    """A small frozen console: seeded market, fake clock, an incident with liquidations."""

    def build(**kw):
        kw.setdefault("accounts", 60)
        kw.setdefault("warmup_steps", 200)
        return make_app(seed=7, frozen=True, **kw)

    return build
