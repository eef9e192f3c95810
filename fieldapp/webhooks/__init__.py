"""Signed webhooks: endpoints, the durable outbox of deliveries, and the worker that sends."""
