"""Faithful in-memory fakes of the external APIs, spoken to over the real wire format."""
