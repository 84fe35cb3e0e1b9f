"""The duty inbox: a small case system service the duty team works tasks in."""

from connectors.duty_inbox.app import create_app, serve

__all__ = ["create_app", "serve"]
