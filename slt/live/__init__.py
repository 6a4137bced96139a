"""`slt live`: the bot on Binance market data, paper (simulated fills) or with real orders."""
