"""The outbox: facts to announce, written in the transaction that commits them."""
