"""What an audit is asked to do: targets, identities and their secrets, the config file."""
