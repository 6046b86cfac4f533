"""Organisation settings: items, accounts, tax rates, tracking categories and currencies."""

from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from sandbox.xero.errors import ElementInvalid, NotFound
from sandbox.xero.models import (
    Account,
    Currency,
    Item,
    Organisation,
    TaxComponent,
    TaxRate,
    TrackingCategory,
    TrackingOption,
)
from sandbox.xero.services.documents import _decimal
from sandbox.xero.services.history import history_add
from sandbox.xero.services.orgs import ACCOUNT_CLASS, CURRENCY_NAMES
from sandbox.xero.services.workspace import Workspace, workspace_single

ACCOUNT_TYPES = tuple(ACCOUNT_CLASS)
MAX_ACTIVE_TRACKING = 2
MAX_TRACKING = 4


def _details(raw, *, unitdp: int) -> dict:
    if not isinstance(raw, dict):
        return {}
    details = {k: raw[k] for k in ("AccountCode", "TaxType", "COGSAccountCode") if raw.get(k)}
    if raw.get("UnitPrice") is not None:
        places = Decimal("0.0001") if unitdp == 4 else Decimal("0.01")
        details["UnitPrice"] = str(_decimal(raw["UnitPrice"], "UnitPrice").quantize(places))
    return details


def items_prefetch(*, ws: Workspace, elements: list, item_id=None) -> None:
    """Read up front the items a batch names by ItemID or Code."""
    elements = [e for e in elements if isinstance(e, dict)]
    ids = [item_id] if item_id else []
    ids += [e["ItemID"] for e in elements if e.get("ItemID")]
    codes = [str(e["Code"]) for e in elements if e.get("Code")]
    ws.items_load(ids=ids, codes=codes + [c.strip() for c in codes])


def item_write(
    *, org: Organisation, data: dict, create_only: bool, unitdp: int = 2, item_id=None, ws: Workspace | None = None
) -> tuple[Item, bool]:
    """Create or update an item. Code is required (≤30) and unique; POST matches an existing item by ItemID or Code."""
    if not isinstance(data, dict):
        raise ElementInvalid("An item must be an object.")
    with workspace_single(org, ws) as ws:
        return _item_write(ws=ws, data=data, create_only=create_only, unitdp=unitdp, item_id=item_id)


def _item_write(*, ws: Workspace, data: dict, create_only: bool, unitdp: int, item_id) -> tuple[Item, bool]:
    org = ws.org
    item = None
    target = item_id or data.get("ItemID")
    if target:
        item = ws.item_by_id(target, strict=True)
        if item is None:
            raise NotFound if item_id else ElementInvalid(f"Item {target} could not be found.")
    elif not create_only and data.get("Code"):
        item = next(iter(ws.items_coded(data["Code"])), None)
    created = item is None
    if created:
        item = Item(org=org)
    else:
        ws.claim(item)
    errors = []
    if "Code" in data:
        item.code = str(data["Code"] or "").strip()
    if not item.code:
        errors.append("Item code must be specified.")
    elif len(item.code) > 30:
        errors.append("Item Code must not be more than 30 characters long.")
    elif ws.items_coded(item.code, exclude_id=item.id):
        errors.append(f"Item code '{item.code}' already exists.")
    if "Name" in data:
        item.name = str(data["Name"] or "")
        if len(item.name) > 50:
            errors.append("Item Name must not be more than 50 characters long.")
    for field, column in (("Description", "description"), ("PurchaseDescription", "purchase_description")):
        if field in data:
            setattr(item, column, str(data[field] or "")[:4000])
    for field, column in (("IsSold", "is_sold"), ("IsPurchased", "is_purchased")):
        if field in data:
            setattr(item, column, bool(data[field]))
    if "SalesDetails" in data:
        item.sales_details = _details(data["SalesDetails"], unitdp=unitdp)
    if "PurchaseDetails" in data:
        item.purchase_details = _details(data["PurchaseDetails"], unitdp=unitdp)
    if "InventoryAssetAccountCode" in data:
        item.inventory_asset_account_code = str(data["InventoryAssetAccountCode"] or "")
    for details in (item.sales_details, item.purchase_details):
        code = details.get("AccountCode")
        account = ws.account_by_code(code) if code else None
        if code and (account is None or account.status != "ACTIVE"):
            errors.append(f"Account code '{code}' is not a valid code.")
        tax_type = details.get("TaxType")
        rate = ws.tax_rate(tax_type) if tax_type else None
        if tax_type and (rate is None or rate.status != "ACTIVE"):
            errors.append(f"The TaxType code '{tax_type}' does not exist.")
    if errors:
        raise ElementInvalid(*errors)
    item.updated_at = timezone.now()
    ws.save(item)
    history_add(org=org, object_id=item.id, changes="Created" if created else "Updated", details=item.code, ws=ws)
    return item, created


def account_write(*, org: Organisation, data: dict, account_id=None) -> Account:
    """PUT /Accounts (one account) or POST /Accounts/{id}: Code ≤10 unique, a known Type, Status ACTIVE/ARCHIVED."""
    account = None
    if account_id:
        account = Account.objects.filter(org=org, id=account_id).first()
        if account is None:
            raise NotFound
    created = account is None
    if created:
        account = Account(org=org)
    errors = []
    for field, column, limit in (("Code", "code", 10), ("Name", "name", 150), ("Description", "description", 4000)):
        if field in data:
            value = str(data[field] or "").strip()
            if len(value) > limit:
                errors.append(f"{field} must not be more than {limit} characters long.")
            setattr(account, column, value)
    if "Type" in data:
        if data["Type"] not in ACCOUNT_TYPES:
            errors.append(f"Account type '{data['Type']}' is not valid.")
        account.type = data["Type"]
        account.account_class = ACCOUNT_CLASS.get(account.type, "")
    if created and not account.type:
        errors.append("Account Type must be specified.")
    if not account.name:
        errors.append("Please enter a name for the account.")
    if account.type != "BANK" and not account.code:
        errors.append("Please enter a code for the account.")
    if account.code and Account.objects.filter(org=org, code=account.code).exclude(id=account.id).exists():
        errors.append("Please enter a unique Code.")
    if Account.objects.filter(org=org, name__iexact=account.name).exclude(id=account.id).exists():
        errors.append("Please enter a unique Name.")
    if "Status" in data:
        if data["Status"] not in ("ACTIVE", "ARCHIVED"):
            errors.append("Account Status must be ACTIVE or ARCHIVED.")
        elif data["Status"] == "ARCHIVED" and account.system_account:
            errors.append("System accounts cannot be archived.")
        account.status = data["Status"]
    if "TaxType" in data:
        account.tax_type = str(data["TaxType"] or "")
        if account.tax_type and not TaxRate.objects.filter(org=org, tax_type=account.tax_type).exists():
            errors.append(f"The TaxType code '{account.tax_type}' does not exist.")
    if "EnablePaymentsToAccount" in data:
        account.enable_payments = bool(data["EnablePaymentsToAccount"])
    if "BankAccountNumber" in data:
        account.bank_account_number = str(data["BankAccountNumber"] or "")
    if "BankAccountType" in data:
        account.bank_account_type = str(data["BankAccountType"] or "")
    if account.type == "BANK" and not account.bank_account_number:
        errors.append("Bank account number must be specified for bank accounts.")
    if errors:
        raise ElementInvalid(*errors)
    account.updated_at = timezone.now()
    account.save()
    return account


def tax_rate_write(*, org: Organisation, data: dict, update: bool) -> TaxRate:
    """PUT creates a user tax rate (TaxType TAX001, TAX002, …); POST updates one by TaxType or Name."""
    rate = None
    if update:
        query = TaxRate.objects.filter(org=org)
        rate = (
            query.filter(tax_type=data["TaxType"]).first()
            if data.get("TaxType")
            else query.filter(name=data.get("Name")).first()
        )
        if rate is None:
            raise ElementInvalid("The tax rate could not be found.")
    elif TaxRate.objects.filter(org=org, name__iexact=str(data.get("Name") or "")).exists():
        raise ElementInvalid("The tax rate name must be unique.")
    with transaction.atomic():
        if rate is None:
            number = 1
            while TaxRate.objects.filter(org=org, tax_type=f"TAX{number:03d}").exists():
                number += 1
            rate = TaxRate(org=org, tax_type=f"TAX{number:03d}", can_apply_to=["REVENUE", "EXPENSES", "ASSETS"])
        if "Name" in data:
            rate.name = str(data["Name"] or "")
        if not rate.name:
            raise ElementInvalid("The tax rate name must be specified.")
        if data.get("ReportTaxType"):
            rate.report_tax_type = data["ReportTaxType"]
        elif org.country in ("AU", "NZ", "GB") and not rate.report_tax_type:
            raise ElementInvalid("ReportTaxType must be specified for this organisation's country.")
        if data.get("Status") in ("ACTIVE", "DELETED", "ARCHIVED"):
            rate.status = data["Status"]
        rate.save()
        components = data.get("TaxComponents")
        if components is not None:
            if not components:
                raise ElementInvalid("A tax rate must have at least one tax component.")
            rate.components.all().delete()
            for position, component in enumerate(components):
                TaxComponent.objects.create(
                    tax_rate=rate,
                    name=str(component.get("Name") or ""),
                    rate=_decimal(component.get("Rate") or 0, "Rate").quantize(Decimal("0.0001")),
                    is_compound=bool(component.get("IsCompound")),
                    is_non_recoverable=bool(component.get("IsNonRecoverable")),
                    position=position,
                )
        elif not rate.components.exists():
            raise ElementInvalid("A tax rate must have at least one tax component.")
    return rate


def tracking_category_write(*, org: Organisation, data: dict, category_id=None) -> TrackingCategory:
    """At most 2 ACTIVE and 4 categories in all per organisation; names unique and ≤100 characters."""
    category = None
    if category_id:
        category = TrackingCategory.objects.filter(org=org, id=category_id).first()
        if category is None:
            raise NotFound
    categories = TrackingCategory.objects.filter(org=org).exclude(status="DELETED")
    if category is None:
        if categories.count() >= MAX_TRACKING:
            raise ElementInvalid("You can only have a maximum of 4 tracking categories (active and archived).")
        category = TrackingCategory(org=org)
    if "Name" in data:
        category.name = str(data["Name"] or "").strip()
    if not category.name or len(category.name) > 100:
        raise ElementInvalid("Tracking category name must be between 1 and 100 characters.")
    if categories.filter(name__iexact=category.name).exclude(id=category.id).exists():
        raise ElementInvalid(f"The tracking category name '{category.name}' is already in use.")
    status = data.get("Status", category.status)
    if status not in ("ACTIVE", "ARCHIVED", "DELETED"):
        raise ElementInvalid(f"Status '{status}' is not valid.")
    activating = status == "ACTIVE" and (category.status != "ACTIVE" or category._state.adding)
    if activating and categories.filter(status="ACTIVE").exclude(id=category.id).count() >= MAX_ACTIVE_TRACKING:
        raise ElementInvalid("You can only have 2 active tracking categories.")
    category.status = status
    category.updated_at = timezone.now()
    category.save()
    return category


def tracking_option_add(*, category: TrackingCategory, data: dict) -> TrackingOption:
    name = str((data or {}).get("Name") or "").strip()
    if not name or len(name) > 100:
        raise ElementInvalid("Tracking option name must be between 1 and 100 characters.")
    if category.options.filter(name__iexact=name).exists():
        raise ElementInvalid(f"The tracking option name '{name}' is already in use.")
    return TrackingOption.objects.create(category=category, name=name)


def currency_add(*, org: Organisation, data: dict) -> Currency:
    code = str((data or {}).get("Code") or "").upper()
    if len(code) != 3 or not code.isalpha():
        raise ElementInvalid("The currency code must be a valid ISO 4217 code.")
    currency, _ = Currency.objects.get_or_create(
        org=org, code=code, defaults={"description": data.get("Description") or CURRENCY_NAMES.get(code, code)}
    )
    return currency
