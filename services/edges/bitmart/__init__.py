"""BitMart spot: `spot/depth/increase100` (snapshot then updates, `version` +1) and `spot/trade`."""
