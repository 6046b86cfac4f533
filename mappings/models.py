"""What a tenant configures to turn canonical records into Xero documents.

Every row belongs to a tenant and, where the meaning depends on the source, to one source connection (a Magento
tax code means nothing to Cin7). Xero values (tax types, account codes, tracking categories) are stored as Xero
names them and checked against the tenant's cached Xero settings when they are saved and again before each write
(mappings.validation), because an account can be archived in Xero after it was mapped.
"""

from decimal import Decimal

from django.db import models

from connections.models import Connection
from tenants.models import TenantOwned


class SourceValue(TenantOwned):
    """A value seen in a source's records (a tax key, a payment method, a store, …): what must be mapped.

    Health checks and suggestions start from here, so a key that has never been seen is never nagged about, and a
    key seen yesterday and not mapped is a gap.
    """

    class Kind(models.TextChoices):
        TAX_KEY = "tax_key", "Tax key"
        PAYMENT_METHOD = "payment_method", "Payment method"
        STORE = "store", "Store or store view"
        CHANNEL = "channel", "Channel"
        CUSTOMER_GROUP = "customer_group", "Customer group"
        CATEGORY = "category", "Product category"
        LOCATION = "location", "Location"
        SKU = "sku", "SKU"
        LINE_KIND = "line_kind", "Kind of line (shipping, discount, …)"

    source_connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+", db_index=False)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    value = models.CharField(max_length=200)
    label = models.CharField(max_length=200, blank=True)
    # Tax keys: the rate the source applied; payment methods: the currency seen with it.
    percent = models.DecimalField(max_digits=9, decimal_places=4, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    seen_count = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["kind", "value"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "source_connection", "kind", "value", "currency"], name="source_value_unique"
            )
        ]
        indexes = [models.Index(fields=["tenant", "kind", "last_seen_at"], name="source_value_recent")]

    def __str__(self):
        return f"{self.get_kind_display()} {self.value}"


class TaxMapping(TenantOwned):
    """A source tax key → a Xero TaxType. An unmapped key is a gap, never silently defaulted."""

    source_connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+", db_index=False)
    tax_code = models.CharField(max_length=200, help_text="The source's key: a Magento tax code, a Cin7 tax rule, …")
    tax_label = models.CharField(max_length=200, blank=True)
    source_percent = models.DecimalField(max_digits=9, decimal_places=4, null=True, blank=True)
    xero_tax_type = models.CharField("Xero tax rate", max_length=50)
    rate_override = models.BooleanField(
        default=False,
        help_text="Use this Xero tax rate although its effective rate differs from the source's; each line then "
        "carries the tax the source charged.",
    )

    class Meta:
        ordering = ["tax_code"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "source_connection", "tax_code"], name="tax_mapping_unique")
        ]

    def __str__(self):
        return f"{self.tax_code} → {self.xero_tax_type}"


class AccountRule(TenantOwned):
    """An ordered rule choosing the sales account of product lines; the first rule whose conditions all hold wins.

    Blank conditions match anything; a rule without conditions is the "otherwise" rule.
    """

    source_connection = models.ForeignKey(
        Connection, null=True, blank=True, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    position = models.PositiveIntegerField(default=100)
    name = models.CharField(max_length=200, blank=True)
    category = models.CharField(max_length=200, blank=True)
    sku_pattern = models.CharField(max_length=200, blank=True, help_text="Shell pattern, e.g. SVC-* or *-GIFT")
    product_type = models.CharField(max_length=100, blank=True)
    store = models.CharField(max_length=200, blank=True)
    channel = models.CharField(max_length=200, blank=True)
    customer_group = models.CharField(max_length=200, blank=True)
    account_code = models.CharField("Xero account", max_length=10)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "id"]
        indexes = [models.Index(fields=["tenant", "position"], name="account_rule_order")]

    def __str__(self):
        return self.name or f"Rule {self.position} → {self.account_code}"

    def conditions(self) -> dict:
        names = ("category", "sku_pattern", "product_type", "store", "channel", "customer_group")
        return {name: getattr(self, name) for name in names if getattr(self, name)}


class PaymentAccountMapping(TenantOwned):
    """A payment method (and currency, where it matters) → the Xero account payments land in."""

    source_connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+", db_index=False)
    payment_method = models.CharField(max_length=200)
    currency = models.CharField(max_length=3, blank=True, help_text="Blank: any currency.")
    account_code = models.CharField("Xero account", max_length=10)

    class Meta:
        ordering = ["payment_method", "currency"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "source_connection", "payment_method", "currency"], name="payment_mapping_unique"
            )
        ]

    def __str__(self):
        return f"{self.payment_method}{' ' + self.currency if self.currency else ''} → {self.account_code}"


class TrackingMapping(TenantOwned):
    """A source attribute value → a Xero tracking category and option.

    A blank source value matches every value; a blank option means "the option named like the source value".
    """

    class Attribute(models.TextChoices):
        STORE = "store", "Store or store view"
        CHANNEL = "channel", "Channel"
        CUSTOMER_GROUP = "customer_group", "Customer group"
        LOCATION = "location", "Location"
        CATEGORY = "category", "Product category"

    source_connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+", db_index=False)
    position = models.PositiveIntegerField(default=100)
    source_attribute = models.CharField(max_length=20, choices=Attribute.choices)
    source_value = models.CharField(max_length=200, blank=True)
    xero_category = models.CharField("Xero tracking category", max_length=100)
    xero_option = models.CharField("Xero option", max_length=100, blank=True)
    create_missing_option = models.BooleanField(
        default=False, help_text="Create the option in Xero when it does not exist yet."
    )

    class Meta:
        ordering = ["position", "id"]
        indexes = [models.Index(fields=["tenant", "source_connection", "position"], name="tracking_mapping_order")]

    def __str__(self):
        value = self.source_value or "any"
        return f"{self.get_source_attribute_display()} {value} → {self.xero_category}: {self.xero_option or '(same)'}"


class ItemMapping(TenantOwned):
    """A source SKU → a Xero item code (at most 30 characters)."""

    source_connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+", db_index=False)
    sku = models.CharField(max_length=200)
    item_code = models.CharField("Xero item code", max_length=30)

    class Meta:
        ordering = ["sku"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "source_connection", "sku"], name="item_mapping_unique")
        ]

    def __str__(self):
        return f"{self.sku} → {self.item_code}"


class ContactPolicy(TenantOwned):
    """How a source's customers become Xero contacts: matching, name collisions, which to sync, groups to import."""

    class Match(models.TextChoices):
        LINK = "link", "Stored link"
        CONTACT_NUMBER = "contact_number", "External id in ContactNumber"
        ACCOUNT_NUMBER = "account_number", "External id in AccountNumber"
        EMAIL = "email", "Email address"
        NAME = "name", "Name"

    class Collision(models.TextChoices):
        SUFFIX_EMAIL = "suffix_email", "Add the email: “Name (email)”"
        SUFFIX_ID = "suffix_id", "Add the customer id: “Name [id]”"
        HOLD = "hold", "Hold for a person"

    class AccountNumber(models.TextChoices):
        NONE = "none", "Leave empty"
        SOURCE_ID = "source_id", "The source's customer id"
        EXTERNAL_ID = "external_id", "The external id (as ContactNumber)"

    DEFAULT_MATCH_ORDER = ["link", "contact_number", "email", "name"]

    source_connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+", db_index=False)
    match_order = models.JSONField(default=list, blank=True, help_text="Empty: link, contact number, email, name.")
    name_collision = models.CharField(max_length=20, choices=Collision.choices, default=Collision.SUFFIX_EMAIL)
    account_number = models.CharField(max_length=20, choices=AccountNumber.choices, default=AccountNumber.NONE)
    sync_customer_groups = models.JSONField(default=list, blank=True, help_text="Empty: every customer group.")
    guests_contact_name = models.CharField(
        max_length=255, blank=True, help_text="Invoice guest orders to this one contact; empty: one contact per guest."
    )
    contacts_from_xero = models.BooleanField(
        "send Xero contacts to this source",
        default=False,
        help_text="Contacts created or changed in Xero are created or updated here (partners: contact.updated).",
    )
    import_contact_groups = models.JSONField(
        default=list,
        blank=True,
        help_text="Xero contact groups (names) whose contacts are sent to the source; empty: every contact.",
    )
    ticket_notes = models.BooleanField(
        "add support tickets as notes",
        default=False,
        help_text="Each helpdesk ticket (Gorgias) is added to its customer's contact history in Xero as a short note.",
    )

    class Meta:
        verbose_name_plural = "contact policies"
        constraints = [
            models.UniqueConstraint(fields=["tenant", "source_connection"], name="contact_policy_one_per_source")
        ]

    def __str__(self):
        return f"Contacts from {self.source_connection}"

    def effective_match_order(self) -> list[str]:
        return list(self.match_order or self.DEFAULT_MATCH_ORDER)


class SystemOfRecord(TenantOwned):
    """Which side owns a group of fields for one source: its value wins when both sides changed since the last sync.

    A group without a row has no system of record: the later modification wins. The stock group owned by Xero
    also means Xero's tracked items are the inventory master, so their quantities are written to the source.
    """

    class FieldGroup(models.TextChoices):
        CONTACT_DETAILS = "contact_details", "Contact details (name, email, phone, address)"
        TAX_NUMBER = "tax_number", "Tax number"
        ITEM_PRICE = "item_price", "Item price"
        STOCK = "stock", "Stock on hand"

    class Owner(models.TextChoices):
        SOURCE = "source", "The source"
        XERO = "xero", "Xero"

    source_connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+", db_index=False)
    field_group = models.CharField(max_length=20, choices=FieldGroup.choices)
    owner = models.CharField(max_length=10, choices=Owner.choices)

    class Meta:
        verbose_name_plural = "systems of record"
        ordering = ["field_group"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "source_connection", "field_group"], name="system_of_record_one_per_group"
            )
        ]

    def __str__(self):
        return f"{self.get_field_group_display()}: {self.get_owner_display()}"


class PostingPolicy(TenantOwned):
    """How a source's orders become Xero invoices: states, status, numbering, terms, accounts, rounding, currency."""

    class InvoiceStatus(models.TextChoices):
        DRAFT = "DRAFT", "Draft"
        AUTHORISED = "AUTHORISED", "Approved (AUTHORISED)"

    class Numbering(models.TextChoices):
        SOURCE = "source", "The source's order number (with the prefix)"
        XERO = "xero", "Xero's own numbering"

    class CurrencyRate(models.TextChoices):
        SOURCE = "source", "The rate the source recorded"
        XERO = "xero", "Xero's daily rate"

    class ItemCodes(models.TextChoices):
        OFF = "off", "Never send item codes"
        EXISTING = "existing", "Send a code when the item exists in Xero"
        CREATE = "create", "Create missing items in Xero"

    class OnCancel(models.TextChoices):
        VOID = "void", "Void (or delete a draft) in Xero"
        IGNORE = "ignore", "Leave the Xero invoice alone"

    class OnEdit(models.TextChoices):
        UPDATE = "update", "Update the invoice while Xero allows it, else hold for a person"
        IGNORE = "ignore", "Leave the Xero invoice alone"

    source_connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+", db_index=False)
    invoice_states = models.JSONField(default=list, blank=True, help_text="Empty: every order that is not cancelled.")
    invoice_status = models.CharField(max_length=12, choices=InvoiceStatus.choices, default=InvoiceStatus.AUTHORISED)
    numbering = models.CharField(max_length=10, choices=Numbering.choices, default=Numbering.SOURCE)
    invoice_number_prefix = models.CharField(max_length=20, blank=True)
    due_days = models.PositiveSmallIntegerField(default=0, help_text="Payment terms: days after the order date.")
    currency_rate = models.CharField(max_length=10, choices=CurrencyRate.choices, default=CurrencyRate.SOURCE)
    sales_account_code = models.CharField(
        "sales account", max_length=10, blank=True, help_text="Product lines no account rule matched."
    )
    shipping_account_code = models.CharField("shipping account", max_length=10, blank=True)
    discount_account_code = models.CharField("discounts account", max_length=10, blank=True)
    gift_card_account_code = models.CharField("gift cards account", max_length=10, blank=True)
    surcharge_account_code = models.CharField("surcharges account", max_length=10, blank=True)
    rounding_account_code = models.CharField("rounding account", max_length=10, blank=True)
    rounding_tax_type = models.CharField(
        "rounding tax rate", max_length=50, blank=True, help_text="Blank: a zero rate Xero allows on the account."
    )
    rounding_limit = models.DecimalField(
        max_digits=8,
        decimal_places=2,
        default=Decimal("1.00"),
        help_text="A larger difference between Xero's total and the source's is held for a person.",
    )
    item_codes = models.CharField(max_length=10, choices=ItemCodes.choices, default=ItemCodes.EXISTING)
    track_inventory = models.BooleanField(default=False, help_text="Create items as tracked inventory.")
    inventory_account_code = models.CharField("inventory asset account", max_length=10, blank=True)
    cogs_account_code = models.CharField("cost of goods sold account", max_length=10, blank=True)
    on_cancel = models.CharField(max_length=10, choices=OnCancel.choices, default=OnCancel.VOID)
    on_edit = models.CharField(max_length=10, choices=OnEdit.choices, default=OnEdit.UPDATE)
    paid_order_status = models.CharField(
        max_length=32,
        blank=True,
        default="complete",
        help_text="Magento: the order status asked for once its Xero invoice is paid (Magento applies it where the "
        "order's state allows, e.g. complete once shipped). Blank: leave the status to Magento.",
    )

    class Meta:
        verbose_name_plural = "posting policies"
        constraints = [
            models.UniqueConstraint(fields=["tenant", "source_connection"], name="posting_policy_one_per_source")
        ]

    def __str__(self):
        return f"Posting of {self.source_connection}"


class FieldTransform(TenantOwned):
    """A source field → a Xero field, through one simple transform."""

    class Entity(models.TextChoices):
        ORDER = "order", "Order"
        CONTACT = "contact", "Contact"

    class Target(models.TextChoices):
        INVOICE_REFERENCE = "invoice_reference", "Invoice Reference"
        LINE_DESCRIPTION_SUFFIX = "line_description_suffix", "Suffix of every line description"
        CONTACT_ACCOUNT_NUMBER = "contact_account_number", "Contact AccountNumber"
        CONTACT_TAX_NUMBER = "contact_tax_number", "Contact TaxNumber"
        CONTACT_NAME = "contact_name", "Contact Name"

    class Transform(models.TextChoices):
        NONE = "none", "As is"
        TEMPLATE = "template", "Template ({value} is the field)"
        PREFIX = "prefix", "Prefix"
        TRUNCATE = "truncate", "Truncate to N characters"
        UPPER = "upper", "UPPER CASE"
        LOWER = "lower", "lower case"
        TITLE = "title", "Title Case"
        DATE_FORMAT = "date_format", "Date format (strftime)"
        LOOKUP = "lookup", "Lookup table"

    source_connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+", db_index=False)
    position = models.PositiveIntegerField(default=100)
    entity = models.CharField(max_length=10, choices=Entity.choices, default=Entity.ORDER)
    source_field = models.CharField(max_length=200, help_text="A field of the record: number, contact.email, extra.po")
    target = models.CharField(max_length=30, choices=Target.choices)
    transform = models.CharField(max_length=20, choices=Transform.choices, default=Transform.NONE)
    argument = models.CharField(max_length=200, blank=True)
    lookup = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "id"]
        indexes = [models.Index(fields=["tenant", "source_connection", "position"], name="field_transform_order")]

    def __str__(self):
        return f"{self.source_field} → {self.get_target_display()}"


class MappingSuggestion(TenantOwned):
    """A proposed mapping with the reason for it; nothing changes until an admin accepts it."""

    class Kind(models.TextChoices):
        TAX = "tax", "Tax rate"
        ACCOUNT = "account", "Account"
        PAYMENT = "payment", "Payment account"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACCEPTED = "accepted", "Accepted"
        DISMISSED = "dismissed", "Dismissed"

    source_connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+", db_index=False)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # What is being mapped: a tax code, a posting-policy account slot, a payment method (with "|currency").
    key = models.CharField(max_length=220)
    label = models.CharField(max_length=300, blank=True)
    proposal = models.JSONField()
    reason = models.CharField(max_length=500)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    decided_by = models.CharField(max_length=200, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["kind", "key"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "source_connection", "kind", "key"],
                condition=models.Q(status="open"),
                name="suggestion_one_open_per_key",
            )
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.label or self.key}"


class SampleRecord(TenantOwned):
    """A recent canonical record of a source, kept to preview payloads and field transforms on real data."""

    KEEP = 50

    source_connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+", db_index=False)
    entity = models.CharField(max_length=20)  # order, contact
    source_id = models.CharField(max_length=128)
    label = models.CharField(max_length=200, blank=True)
    record = models.JSONField()
    seen_at = models.DateTimeField()

    class Meta:
        ordering = ["-seen_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "source_connection", "entity", "source_id"], name="sample_record_unique"
            )
        ]

    def __str__(self):
        return f"{self.entity} {self.label or self.source_id}"
