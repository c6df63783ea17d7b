"""After the rules: accepted risks, run history, alerts, the device check."""
