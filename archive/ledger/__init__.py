"""The custody database: engine and transactions, tables and migrations, the
hash-chained custody log, the read queries (resolve, show, list) and the one commit
path (a durable file, then one transaction that records it).
"""
