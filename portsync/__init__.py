"""portsync: keep cloud firewalls in line with port tables."""
