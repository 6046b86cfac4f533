"""Creating simulated organisations: chart of accounts, the country's tax rates, tracking, currencies, a connection."""

import secrets
from decimal import Decimal

from django.db import transaction

from sandbox.xero.models import (
    Account,
    Currency,
    Organisation,
    TaxComponent,
    TaxRate,
    TrackingCategory,
    TrackingOption,
    XeroApp,
)
from sandbox.xero.services.auth import app_ensure, token_set_issue

DEFAULT_APP_NAME = "Ledgerbridge Sandbox"
DEFAULT_REDIRECT_URIS = [
    "http://localhost:8000/connections/xero/callback/",
    "http://127.0.0.1:8000/connections/xero/callback/",
    "http://testserver/connections/xero/callback/",
]
DEFAULT_SCOPE = (
    "openid profile email offline_access accounting.transactions accounting.contacts accounting.settings "
    "accounting.invoices accounting.payments"
)

COUNTRY_SETUP = {
    "AU": {"currency": "AUD", "timezone": "AUSEASTERNSTANDARDTIME", "sales": "OUTPUT", "purchases": "INPUT"},
    "GB": {"currency": "GBP", "timezone": "GMTSTANDARDTIME", "sales": "OUTPUT2", "purchases": "INPUT2"},
    "NZ": {"currency": "NZD", "timezone": "NEWZEALANDSTANDARDTIME", "sales": "OUTPUT2", "purchases": "INPUT2"},
    "US": {"currency": "USD", "timezone": "EASTERNSTANDARDTIME", "sales": "NONE", "purchases": "NONE"},
}

_ALL = ["ASSETS", "EQUITY", "EXPENSES", "LIABILITIES", "REVENUE"]
_SALES = ["REVENUE", "ASSETS", "LIABILITIES", "EQUITY"]
_BUYS = ["EXPENSES", "ASSETS", "LIABILITIES", "EQUITY"]

# (TaxType, Name, ReportTaxType, applies to, [(component, rate, compound)])
TAX_RATES = {
    "AU": [
        ("OUTPUT", "GST on Income", "OUTPUT", _SALES, [("GST", "10", False)]),
        ("INPUT", "GST on Expenses", "INPUT", _BUYS, [("GST", "10", False)]),
        ("CAPEXINPUT", "GST on Capital", "CAPEXINPUT", _BUYS, [("GST", "10", False)]),
        ("EXEMPTOUTPUT", "GST Free Income", "EXEMPTOUTPUT", _SALES, [("GST", "0", False)]),
        ("EXEMPTEXPENSES", "GST Free Expenses", "EXEMPTEXPENSES", _BUYS, [("GST", "0", False)]),
        ("EXEMPTEXPORT", "GST Free Exports", "EXEMPTEXPORT", _SALES, [("GST", "0", False)]),
        ("INPUTTAXED", "Input Taxed", "INPUTTAXED", _ALL, [("GST", "0", False)]),
        ("BASEXCLUDED", "BAS Excluded", "BASEXCLUDED", _ALL, [("GST", "0", False)]),
        ("GSTONIMPORTS", "GST on Imports", "GSTONIMPORTS", _BUYS, [("GST", "0", False)]),
    ],
    "GB": [
        ("OUTPUT2", "20% (VAT on Income)", "OUTPUT", _SALES, [("VAT", "20", False)]),
        ("INPUT2", "20% (VAT on Expenses)", "INPUT", _BUYS, [("VAT", "20", False)]),
        ("RROUTPUT", "5% (VAT on Income)", "OUTPUT", _SALES, [("VAT", "5", False)]),
        ("RRINPUT", "5% (VAT on Expenses)", "INPUT", _BUYS, [("VAT", "5", False)]),
        ("ZERORATEDOUTPUT", "Zero Rated Income", "OUTPUT", _SALES, [("VAT", "0", False)]),
        ("ZERORATEDINPUT", "Zero Rated Expenses", "INPUT", _BUYS, [("VAT", "0", False)]),
        ("EXEMPTOUTPUT", "Exempt Income", "EXEMPTOUTPUT", _SALES, [("VAT", "0", False)]),
        ("EXEMPTINPUT", "Exempt Expenses", "EXEMPTINPUT", _BUYS, [("VAT", "0", False)]),
        ("NONE", "No VAT", "NONE", _ALL, [("VAT", "0", False)]),
    ],
    "NZ": [
        ("OUTPUT2", "15% GST on Income", "OUTPUT", _SALES, [("GST", "15", False)]),
        ("INPUT2", "15% GST on Expenses", "INPUT", _BUYS, [("GST", "15", False)]),
        ("ZERORATED", "Zero Rated", "OUTPUT", _SALES, [("GST", "0", False)]),
        ("GSTONIMPORTS", "GST on Imports", "GSTONIMPORTS", _BUYS, [("GST", "0", False)]),
        ("NONE", "No GST", "NONE", _ALL, [("GST", "0", False)]),
    ],
    "US": [
        ("NONE", "Tax Exempt", "", _ALL, [("Tax Exempt", "0", False)]),
        ("TAX001", "California", "", _SALES, [("State Tax", "7.25", False)]),
        (
            "TAX002",
            "New York City",
            "",
            _SALES,
            [("State Tax", "4", False), ("City Tax", "4.5", False), ("MCTD", "0.375", False)],
        ),
        ("TAX003", "Travis County, TX", "", _SALES, [("State Tax", "6.25", False), ("County Tax", "2", True)]),
    ],
}

# (Code, Name, Type, tax: "sales"/"purchases"/"none", extra fields)
CHART = [
    (
        "090",
        "Business Bank Account",
        "BANK",
        "none",
        {"bank_account_number": "032000123456", "bank_account_type": "BANK"},
    ),
    (
        "091",
        "Business Savings Account",
        "BANK",
        "none",
        {"bank_account_number": "032000654321", "bank_account_type": "BANK"},
    ),
    ("200", "Sales", "REVENUE", "sales", {}),
    ("210", "Shipping Income", "REVENUE", "sales", {}),
    ("220", "Discounts Given", "REVENUE", "sales", {}),
    ("260", "Other Revenue", "REVENUE", "sales", {}),
    ("299", "Old Sales (archived)", "REVENUE", "sales", {"status": "ARCHIVED"}),
    ("310", "Cost of Goods Sold", "DIRECTCOSTS", "purchases", {}),
    ("404", "Bank Fees", "EXPENSE", "none", {}),
    ("425", "Freight & Courier", "EXPENSE", "purchases", {}),
    ("429", "General Expenses", "EXPENSE", "purchases", {}),
    ("610", "Accounts Receivable", "CURRENT", "none", {"system_account": "DEBTORS"}),
    ("615", "Payment Gateway Clearing", "CURRENT", "none", {"enable_payments": True}),
    ("630", "Inventory", "INVENTORY", "none", {}),
    ("800", "Accounts Payable", "CURRLIAB", "none", {"system_account": "CREDITORS"}),
    ("820", "Sales Tax", "CURRLIAB", "none", {"system_account": "GST"}),
    ("860", "Rounding", "CURRLIAB", "none", {"system_account": "ROUNDING"}),
    ("880", "Owner A Drawings", "EQUITY", "none", {}),
    ("960", "Retained Earnings", "EQUITY", "none", {"system_account": "RETAINEDEARNINGS"}),
]
ACCOUNT_CLASS = {
    "BANK": "ASSET",
    "CURRENT": "ASSET",
    "INVENTORY": "ASSET",
    "FIXED": "ASSET",
    "REVENUE": "REVENUE",
    "SALES": "REVENUE",
    "OTHERINCOME": "REVENUE",
    "DIRECTCOSTS": "EXPENSE",
    "EXPENSE": "EXPENSE",
    "OVERHEADS": "EXPENSE",
    "CURRLIAB": "LIABILITY",
    "LIABILITY": "LIABILITY",
    "TERMLIAB": "LIABILITY",
    "EQUITY": "EQUITY",
}
TRACKING = [("Region", ["North", "South", "East", "West"]), ("Sales Channel", ["Online", "Retail", "Wholesale"])]
CURRENCY_NAMES = {
    "AUD": "Australian Dollar",
    "GBP": "British Pound",
    "NZD": "New Zealand Dollar",
    "USD": "United States Dollar",
    "EUR": "Euro",
}


def _short_code() -> str:
    return "!" + "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(5))


def organisation_setup(*, name: str, country: str = "AU") -> tuple[Organisation, bool]:
    """Get the organisation called `name`, or create it with the country's accounts, tax rates and tracking."""
    existing = Organisation.objects.filter(name=name).first()
    if existing is not None:
        return existing, False
    if country not in COUNTRY_SETUP:
        raise ValueError(f"unsupported country {country!r}: AU, GB, US or NZ")
    setup = COUNTRY_SETUP[country]
    with transaction.atomic():
        org = Organisation.objects.create(
            name=name,
            country=country,
            base_currency=setup["currency"],
            timezone=setup["timezone"],
            short_code=_short_code(),
        )
        for tax_type, rate_name, report, applies, components in TAX_RATES[country]:
            rate = TaxRate.objects.create(
                org=org, tax_type=tax_type, name=rate_name, report_tax_type=report, can_apply_to=applies
            )
            for position, (component, value, compound) in enumerate(components):
                TaxComponent.objects.create(
                    tax_rate=rate, name=component, rate=Decimal(value), is_compound=compound, position=position
                )
        for code, account_name, account_type, tax, extra in CHART:
            tax_type = {"sales": setup["sales"], "purchases": setup["purchases"]}.get(tax, "")
            if not tax_type:
                tax_type = "BASEXCLUDED" if country == "AU" else "NONE"
            Account.objects.create(
                org=org,
                code=code,
                name=account_name,
                type=account_type,
                tax_type=tax_type,
                account_class=ACCOUNT_CLASS.get(account_type, ""),
                **extra,
            )
        for category_name, options in TRACKING:
            category = TrackingCategory.objects.create(org=org, name=category_name)
            for option in options:
                TrackingOption.objects.create(category=category, name=option)
        for code in dict.fromkeys([setup["currency"], "USD", "EUR", "GBP", "AUD"]):
            Currency.objects.create(org=org, code=code, description=CURRENCY_NAMES[code])
    return org, True


def organisation_create(
    *,
    name: str,
    country: str = "AU",
    app_name: str = DEFAULT_APP_NAME,
    redirect_uris: list[str] | None = None,
    webhook_url: str | None = None,
    scope: str = DEFAULT_SCOPE,
) -> dict:
    """Set up an organisation (idempotent by name), the developer app, and a fresh connection with tokens.

    Returns what a caller needs to talk to it: tenant_id, client credentials, webhook key and a token set.
    """
    org, created = organisation_setup(name=name, country=country)
    app: XeroApp = app_ensure(
        name=app_name, redirect_uris=redirect_uris or DEFAULT_REDIRECT_URIS, webhook_url=webhook_url
    )
    tokens = token_set_issue(app=app, organisations=[org], scope=scope)
    connection = tokens.grant.connections.get()
    return {
        "tenant_id": str(org.tenant_id),
        "tenant_name": org.name,
        "country": org.country,
        "base_currency": org.base_currency,
        "short_code": org.short_code,
        "created": created,
        "client_id": app.client_id,
        "client_secret": app.client_secret,
        "webhook_key": app.webhook_key,
        "redirect_uris": app.redirect_uris,
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token,
        "expires_in": tokens.expires_in,
        "scope": tokens.scope,
        "connection_id": str(connection.id),
        "auth_event_id": str(tokens.grant.auth_event_id),
    }
