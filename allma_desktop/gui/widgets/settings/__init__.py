"""The Settings page (``page.py``) and its cards, one module each.

The page lays the cards out and owns the Save / Revert footer; each card builds its own
fields, loads them from the config, hands back its changes, and listens to the
controller signals that concern it alone. Cards reach the engine only through their
controller (``SettingsController``, ``ApiController``), or through plain values the page
asks the controller for.
"""
