"""Follow-up tasks on customers: written by agents or created from alerts."""
