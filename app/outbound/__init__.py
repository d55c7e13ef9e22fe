"""Outbound webhooks: subscriptions, their deliveries and the sender."""
