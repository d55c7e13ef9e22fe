"""Messages to customers: templates, channel providers, the queue and its sender, and
the journeys that message a customer when a rule holds or an incident is declared."""
