"""The store: tables, engines, named migrations, conversation leases."""
