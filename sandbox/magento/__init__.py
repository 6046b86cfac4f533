"""Simulated Magento 2.4 REST API (/sandbox/magento/rest/[<store_code>/]V1/...).

Account convention: the sandbox account of a Magento store is its store code (Store.code), which is also the code
of its default store view; fault profiles use system="magento", account=<store code>. Entry points for other code:
services.store_create, generator.generate, loader.load_records.
"""
