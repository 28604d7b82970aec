"""Adapters for the trading engines capvault's users run strategies in (optional extras:
``pip install 'capvault[nautilus]'``). Each imports its engine only when imported itself."""
