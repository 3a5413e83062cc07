"""Shared infrastructure every domain uses: database, money, time, errors, pagination, auth, bus."""
