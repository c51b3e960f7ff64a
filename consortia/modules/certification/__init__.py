"""Certification of Fintech Products (CFP): catalogue, certificates, inspections, devices."""
