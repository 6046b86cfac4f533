"""django-q2 entry points for Xero tokens. Registered by the scheduler issue (not scheduled here).

connections.providers.xero.tasks.xero_tokens_refresh_idle_task   daily: renew token sets unused for 7 days
"""

from connections.providers.xero import tokens


def xero_tokens_refresh_idle_task() -> dict:
    """Daily: refresh every active Xero token set not refreshed for 7 days (refresh tokens die after 60 unused)."""
    return tokens.xero_tokens_refresh_idle()
