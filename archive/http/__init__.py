"""Fetching a page as the server sent it: the fetcher and its result models, the wire
(a tee'd socket that keeps the raw bytes), keep-alive, the network guard, spooling of
large bodies and robots.txt. Imports only :mod:`archive.core` below it.
"""
