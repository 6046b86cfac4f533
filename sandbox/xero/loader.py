def load_records(*, account: str, data) -> dict:
    """Load native xero records into a simulated account. Not written yet."""
    raise ValueError("loading xero records is not supported yet")
