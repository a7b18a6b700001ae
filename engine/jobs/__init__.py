"""Work done outside a command's transaction: relaying the outbox, firing timers."""
