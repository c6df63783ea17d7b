"""Collection: per-host orchestration and the error boundary, the protocol-neutral crawl, one subpackage per protocol."""
