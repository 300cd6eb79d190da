"""The pure core: parsing, buffers, the ledger and planning. No I/O, no clock, no environment."""
