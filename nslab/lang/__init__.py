"""The language: lexer, argument kinds, the command table and its spec, the grammar walker, the parser and .lab files.

May import: base.
"""
