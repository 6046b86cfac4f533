def load_records(*, account: str, data) -> dict:
    """Load native gorgias records into a simulated account. Not written yet."""
    raise ValueError("loading gorgias records is not supported yet")
