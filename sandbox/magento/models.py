"""A simulated Magento 2 installation: stores (the sandbox "account"), admin users, tokens, and native records.

Every record keeps the JSON Magento's REST API returns, as text, byte for byte in key order (`document`), plus a few
indexed columns copied out of it for searching and sorting. The API answers with `document`, so a record loaded from
a real Magento response comes back exactly as it went in.
"""

import json

from django.db import models


class Store(models.Model):
    """One Magento installation. `code` is the sandbox account id and the code of its default store view."""

    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200, default="Main Website Store")
    base_currency = models.CharField(max_length=3, default="USD")
    display_currency = models.CharField(max_length=3, default="USD")
    prices_include_tax = models.BooleanField(default=False)
    # Magento 2.4.4+ refuses an integration access token used as a Bearer token unless
    # oauth/consumer/enable_integration_as_bearer is set; sandbox stores are created with it set.
    integration_bearer_enabled = models.BooleanField(default=True)
    # Next ids of rows that live inside documents (status history, invoice and credit memo items).
    counters = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.code


class StoreView(models.Model):
    """A store view: the `<store_code>` in /rest/<store_code>/V1/. Codes are unique across the whole sandbox."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="views")
    code = models.SlugField(max_length=64, unique=True)
    # Magento's numeric store id (1 = the default store view).
    magento_id = models.PositiveIntegerField()
    website_id = models.PositiveIntegerField(default=1)
    name = models.CharField(max_length=200, default="Default Store View")
    display_currency = models.CharField(max_length=3, blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["store", "magento_id"], name="magento_view_unique_store_id")]

    def __str__(self):
        return f"{self.store.code}/{self.code}"


class AdminUser(models.Model):
    """An admin user. The password is kept readable on purpose: this is a simulated credential the demo prints."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="admin_users")
    username = models.CharField(max_length=100)
    password = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["store", "username"], name="magento_admin_unique_username")]

    def __str__(self):
        return f"{self.store.code}:{self.username}"


class AccessToken(models.Model):
    class Kind(models.TextChoices):
        ADMIN = "admin", "Admin token (4 hours)"
        INTEGRATION = "integration", "Integration access token (until revoked)"

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="tokens")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    token = models.CharField(max_length=64, unique=True)
    admin_user = models.ForeignKey(AdminUser, null=True, blank=True, on_delete=models.CASCADE)
    integration_name = models.CharField(max_length=100, blank=True, default="")
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.store.code}:{self.kind}"


class Record(models.Model):
    """Base of the native records: the JSON document plus the columns searches use."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    document = models.TextField()
    created_at = models.DateTimeField(null=True)
    updated_at = models.DateTimeField(null=True)

    class Meta:
        abstract = True

    def as_dict(self) -> dict:
        return json.loads(self.document)


class Customer(Record):
    entity_id = models.BigIntegerField()
    email = models.CharField(max_length=255, blank=True, default="")
    firstname = models.CharField(max_length=255, blank=True, default="")
    lastname = models.CharField(max_length=255, blank=True, default="")
    group_id = models.IntegerField(null=True)
    website_id = models.IntegerField(null=True)
    view_id = models.IntegerField(null=True)  # the document's store_id

    class Meta:
        constraints = [models.UniqueConstraint(fields=["store", "entity_id"], name="magento_customer_unique_id")]
        indexes = [
            models.Index(fields=["store", "updated_at"], name="magento_customer_updated"),
            models.Index(fields=["store", "email"], name="magento_customer_email"),
        ]

    def __str__(self):
        return f"{self.store_id}:{self.entity_id}"


class Order(Record):
    entity_id = models.BigIntegerField()
    increment_id = models.CharField(max_length=50, blank=True, default="")
    state = models.CharField(max_length=32, blank=True, default="")
    status = models.CharField(max_length=32, blank=True, default="")
    customer_id = models.BigIntegerField(null=True)
    customer_email = models.CharField(max_length=255, blank=True, default="")
    view_id = models.IntegerField(null=True)  # the document's store_id
    grand_total = models.DecimalField(max_digits=20, decimal_places=4, null=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["store", "entity_id"], name="magento_order_unique_id")]
        indexes = [
            # With the id, a page of an updated_at-sorted search skips the rows before it in the index alone.
            models.Index(fields=["store", "updated_at", "id"], name="magento_order_updated"),
            models.Index(fields=["store", "created_at"], name="magento_order_created"),
            models.Index(fields=["store", "increment_id"], name="magento_order_increment"),
        ]

    def __str__(self):
        return f"{self.store_id}:{self.increment_id}"


class Invoice(Record):
    entity_id = models.BigIntegerField()
    increment_id = models.CharField(max_length=50, blank=True, default="")
    order_id = models.BigIntegerField(null=True)
    state = models.IntegerField(null=True)
    grand_total = models.DecimalField(max_digits=20, decimal_places=4, null=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["store", "entity_id"], name="magento_invoice_unique_id")]
        indexes = [
            models.Index(fields=["store", "updated_at", "id"], include=["state"], name="magento_invoice_updated"),
            models.Index(fields=["store", "order_id"], name="magento_invoice_order"),
        ]

    def __str__(self):
        return f"{self.store_id}:{self.increment_id}"


class CreditMemo(Record):
    entity_id = models.BigIntegerField()
    increment_id = models.CharField(max_length=50, blank=True, default="")
    order_id = models.BigIntegerField(null=True)
    invoice_id = models.BigIntegerField(null=True)
    state = models.IntegerField(null=True)
    grand_total = models.DecimalField(max_digits=20, decimal_places=4, null=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["store", "entity_id"], name="magento_creditmemo_unique_id")]
        indexes = [
            models.Index(fields=["store", "updated_at", "id"], name="magento_creditmemo_updated"),
            models.Index(fields=["store", "order_id"], name="magento_creditmemo_order"),
        ]

    def __str__(self):
        return f"{self.store_id}:{self.increment_id}"


class Product(Record):
    entity_id = models.BigIntegerField()
    sku = models.CharField(max_length=64)
    name = models.CharField(max_length=255, blank=True, default="")
    type_id = models.CharField(max_length=32, blank=True, default="")
    price = models.DecimalField(max_digits=20, decimal_places=4, null=True)
    status = models.IntegerField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "entity_id"], name="magento_product_unique_id"),
            models.UniqueConstraint(fields=["store", "sku"], name="magento_product_unique_sku"),
        ]
        indexes = [models.Index(fields=["store", "updated_at"], name="magento_product_updated")]

    def __str__(self):
        return f"{self.store_id}:{self.sku}"


class StockItem(Record):
    item_id = models.BigIntegerField()
    product_id = models.BigIntegerField()
    sku = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "item_id"], name="magento_stock_unique_item"),
            models.UniqueConstraint(fields=["store", "sku"], name="magento_stock_unique_sku"),
        ]

    def __str__(self):
        return f"{self.store_id}:{self.sku}"
