def load_records(*, account: str, data) -> dict:
    """Load native cin7 records into a simulated account. Not written yet."""
    raise ValueError("loading cin7 records is not supported yet")
