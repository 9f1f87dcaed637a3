"""Real price feeds: adapters for public price APIs, the index per market, and the runner.

* :mod:`engine.outside.feeds.sources`: Pyth Hermes, Binance, Coinbase, Kraken, OKX adapters.
* :mod:`engine.outside.feeds.index`: weighted median, staleness, deviation and quorum (pure).
* :mod:`engine.outside.feeds.runner`: :class:`FeedRunner`, which polls off the sequencer and
  submits the index as journaled ``oracle_price`` commands.

Nothing here is imported by the engine core: replay never calls the network.
"""

from .index import IndexResult, SourcePrice, compute_index, weighted_median
from .runner import FeedRunner
from .sources import ADAPTERS, PriceSource, Quote, SourceError, make_source

__all__ = ["ADAPTERS", "FeedRunner", "IndexResult", "PriceSource", "Quote", "SourceError", "SourcePrice",
           "compute_index", "make_source", "weighted_median"]
