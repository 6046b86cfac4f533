"""A partner system's webhook receiver, so outbound partner webhooks can be tested end to end over HTTP."""
