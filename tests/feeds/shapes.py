"""Response bodies in the price APIs' real shapes (shared/EXTERNAL.md and the APIs' documentation).

Prices arrive as decimal strings; the Pyth mantissa is an integer string with ``expo``.
"""

from __future__ import annotations

PYTH_BTC_ID = "e62df6c8b4a85fe1a67db44dc12de5db330f7ac66b72dc658afedf0f4a415b43"

PYTH_OK = b"""{"binary": {"encoding": "hex", "data": ["504e41550100000003b801000000040d00"]},
 "parsed": [{"id": "e62df6c8b4a85fe1a67db44dc12de5db330f7ac66b72dc658afedf0f4a415b43",
   "price": {"price": "5924002645461", "conf": "2294000000", "expo": -8, "publish_time": 1717632000},
   "ema_price": {"price": "5921512000000", "conf": "2188000000", "expo": -8, "publish_time": 1717632000},
   "metadata": {"slot": 151234567, "proof_available_time": 1717632001, "prev_publish_time": 1717631999}}]}"""

BINANCE_OK = b'{"symbol":"BTCUSDT","price":"59240.01000000"}'
BINANCE_ERROR = b'{"code":-1121,"msg":"Invalid symbol."}'

COINBASE_OK = (b'{"ask":"59241.12","bid":"59240.51","volume":"12345.67890123","trade_id":674321234,'
               b'"price":"59240.87","size":"0.00120000","time":"2024-06-06T00:00:00.123456Z",'
               b'"rfq_volume":"120.5443"}')
COINBASE_NOT_FOUND = b'{"message":"NotFound"}'

KRAKEN_OK = (b'{"error":[],"result":{"XXBTZUSD":{"a":["59241.10000","1","1.000"],"b":["59240.90000","3","3.000"],'
             b'"c":["59241.00000","0.00100000"],"v":["1234.56789012","2345.67890123"],'
             b'"p":["59000.12345","58900.23456"],"t":[12345,23456],"l":["58000.00000","57900.00000"],'
             b'"h":["60000.00000","60100.00000"],"o":"58800.00000"}}}')
KRAKEN_ERROR = b'{"error":["EQuery:Unknown asset pair"]}'

OKX_OK = (b'{"code":"0","msg":"","data":[{"instType":"SPOT","instId":"BTC-USDT","last":"59240.5","lastSz":"0.001",'
          b'"askPx":"59240.6","askSz":"1.2","bidPx":"59240.4","bidSz":"0.8","open24h":"58000","high24h":"60000",'
          b'"low24h":"57000","volCcy24h":"123456.7","vol24h":"2.1","ts":"1717632000123","sodUtc0":"58100",'
          b'"sodUtc8":"58200"}]}')
OKX_ERROR = b'{"code":"51001","msg":"Instrument ID does not exist","data":[]}'

HTML_502 = b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>cloudflare</body></html>"
