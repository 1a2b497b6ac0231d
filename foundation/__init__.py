"""The foundation: database, models, migrations, encryption, errors, audit, clock, accounts.

Imports nothing of the service above it (only `config`, below it).
"""
