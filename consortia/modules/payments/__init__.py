"""Payments: merchants, terminals, orders (dynamic QR), payments and refunds."""
