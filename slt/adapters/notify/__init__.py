"""Notifier adapters: Telegram and Discord webhooks, Telegram commands, the notifier settings read
from the environment."""
