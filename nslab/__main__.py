from .faces.cli import entry

entry()
