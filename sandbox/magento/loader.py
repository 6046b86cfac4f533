def load_records(*, account: str, data) -> dict:
    """Load native magento records into a simulated account. Not written yet."""
    raise ValueError("loading magento records is not supported yet")
