"""Digital currency in two tiers: central banks issue to banks' reserves, banks open wallets."""
