"""Checks of a chosen Xero value against the tenant's cached Xero settings.

Used when a mapping is saved (admin, API) and again when a payload is built, so a choice that was valid when made
but was archived in Xero since is caught before Xero refuses the document. Each check answers None or one
sentence an accountant understands.
"""

from decimal import Decimal

from connections.providers.xero.reference import XeroReference
from core.money import from_json_number

# Xero's account Class → the TaxRate flag that allows a rate on accounts of that class.
CAN_APPLY_FLAG = {
    "REVENUE": "CanApplyToRevenue",
    "EXPENSE": "CanApplyToExpenses",
    "ASSET": "CanApplyToAssets",
    "LIABILITY": "CanApplyToLiabilities",
    "EQUITY": "CanApplyToEquity",
}

# What an invoice line may be coded to, per purpose (Xero account classes).
LINE_PURPOSES = {
    "sales": {"REVENUE"},
    "shipping": {"REVENUE"},
    "discount": {"REVENUE", "EXPENSE"},
    "surcharge": {"REVENUE"},
    "gift_card": {"LIABILITY", "REVENUE"},
    "rounding": {"REVENUE", "EXPENSE", "LIABILITY"},
    "inventory": {"ASSET"},
    "cogs": {"EXPENSE"},
}
PURPOSE_WORDS = {
    "sales": "sales",
    "shipping": "shipping",
    "discount": "discounts",
    "surcharge": "surcharges",
    "gift_card": "gift cards",
    "rounding": "rounding adjustments",
    "inventory": "inventory",
    "cogs": "cost of goods sold",
}
# System accounts Xero keeps for itself; invoice lines cannot be coded to them (Rounding excepted).
RESERVED_SYSTEM_ACCOUNTS = {"DEBTORS", "CREDITORS", "GST", "GSTONIMPORTS", "RETAINEDEARNINGS", "UNPAIDEXPCLM"}


def account_class(account: dict) -> str:
    if account.get("Class"):
        return account["Class"]
    kind = account.get("Type", "")
    if kind in ("REVENUE", "SALES", "OTHERINCOME"):
        return "REVENUE"
    if kind in ("EXPENSE", "DIRECTCOSTS", "OVERHEADS", "DEPRECIATN"):
        return "EXPENSE"
    if kind in ("CURRLIAB", "LIABILITY", "TERMLIAB", "PAYGLIABILITY", "SUPERANNUATIONLIABILITY", "WAGESPAYABLE"):
        return "LIABILITY"
    if kind == "EQUITY":
        return "EQUITY"
    return "ASSET"


def effective_rate(rate: dict) -> Decimal:
    """A Xero tax rate's effective percentage (compound components included), as Xero reports it."""
    if rate.get("EffectiveRate") is not None:
        return from_json_number(rate["EffectiveRate"])
    simple = total = Decimal(0)
    for component in rate.get("TaxComponents") or []:
        value = from_json_number(component.get("Rate"))
        if component.get("IsCompound"):
            total += value * (100 + simple) / 100
        else:
            simple += value
            total += value
    return total


def describe_tax_rate(rate: dict) -> str:
    """ "California (TAX001) 7.25%", with the components of a multi-component rate."""
    text = f"{rate.get('Name')} ({rate.get('TaxType')}) {format(effective_rate(rate).normalize(), 'f')}%"
    components = rate.get("TaxComponents") or []
    if len(components) > 1:
        parts = [
            f"{c.get('Name')} {format(from_json_number(c.get('Rate')).normalize(), 'f')}%"
            + (" compound" if c.get("IsCompound") else "")
            for c in components
        ]
        text += " = " + " + ".join(parts)
    return text


def describe_account(account: dict) -> str:
    return f"{account.get('Code')} {account.get('Name')} ({account.get('Type')})"


def is_payment_account(account: dict) -> bool:
    return account.get("Type") == "BANK" or bool(account.get("EnablePaymentsToAccount"))


def account_problem(ref: XeroReference, code: str, *, purpose: str) -> str | None:
    """Why `code` cannot take invoice lines for `purpose` (sales, shipping, …, rounding), or None."""
    account = ref.account(code)
    words = PURPOSE_WORDS.get(purpose, purpose)
    if account is None:
        return f"Account {code} does not exist in the Xero chart of accounts."
    if account.get("Status") != "ACTIVE":
        return f"Account {describe_account(account)} is archived in Xero; choose an active account for {words}."
    if account.get("Type") == "BANK":
        return f"Account {describe_account(account)} is a bank account; invoice lines cannot be coded to it."
    if account.get("SystemAccount") in RESERVED_SYSTEM_ACCOUNTS:
        return f"Account {describe_account(account)} is a Xero system account; invoice lines cannot be coded to it."
    allowed = LINE_PURPOSES.get(purpose)
    if allowed and account_class(account) not in allowed:
        kinds = " or ".join(sorted(c.lower() for c in allowed))
        return f"Account {describe_account(account)} is not a {kinds} account, so it is not suitable for {words}."
    return None


def payment_account_problem(ref: XeroReference, code: str) -> str | None:
    """Why payments cannot be received into `code`, or None: only BANK accounts or payment-enabled ones can."""
    account = ref.account(code)
    if account is None:
        return f"Account {code} does not exist in the Xero chart of accounts."
    if account.get("Status") != "ACTIVE":
        return f"Account {describe_account(account)} is archived in Xero; payments need an active account."
    if not is_payment_account(account):
        return (
            f"Account {describe_account(account)} cannot receive payments: choose a bank account or an account "
            "with “Enable payments to this account” ticked in Xero."
        )
    return None


def tax_type_problem(ref: XeroReference, tax_type: str, *, account_code: str = "") -> str | None:
    """Why `tax_type` cannot be used (on `account_code`, when given), or None."""
    rate = ref.tax_rate(tax_type)
    if rate is None:
        return f"Tax rate {tax_type} does not exist in Xero."
    if rate.get("Status") != "ACTIVE":
        return f"Tax rate {rate.get('Name')} ({tax_type}) is not active in Xero ({str(rate.get('Status')).lower()})."
    if account_code:
        account = ref.account(account_code)
        if account is not None:
            flag = CAN_APPLY_FLAG.get(account_class(account))
            if flag and rate.get(flag) is False:
                return (
                    f"Xero does not allow tax rate {rate.get('Name')} ({tax_type}) on account "
                    f"{describe_account(account)}."
                )
    return None


def tracking_problem(ref: XeroReference, category: str, option: str = "", *, allow_create: bool = False) -> str | None:
    """Why the tracking category (and option, when given) cannot be used, or None."""
    found = ref.tracking_category(category)
    if found is None or found.get("Status") != "ACTIVE":
        return f"Tracking category “{category}” is not an active tracking category in Xero."
    if option:
        options = {o.get("Name", "").lower(): o for o in found.get("Options") or []}
        match = options.get(option.lower())
        if match is None or match.get("Status", "ACTIVE") != "ACTIVE":
            if allow_create and match is None:
                return None
            return f"Tracking option “{option}” of “{category}” has been removed or archived in Xero."
    return None


def tracking_category_limit_problem(categories: set[str]) -> str | None:
    """Xero lines carry at most two tracking categories (and an organisation has at most two active ones)."""
    if len(categories) > 2:
        names = ", ".join(f"“{c}”" for c in sorted(categories))
        return f"At most two tracking categories can be used; these mappings use {len(categories)}: {names}."
    return None
