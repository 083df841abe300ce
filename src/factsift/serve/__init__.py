"""factsift as a service: an HTTP API and a page that highlights opinion (needs ``factsift[serve]``)."""

from factsift.serve.app import create_app
from factsift.serve.server import serve

__all__ = ["create_app", "serve"]
