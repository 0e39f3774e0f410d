"""Market-data service: folds md.* into books and publishes NBBO changes (coalesced per tick)."""
