"""Errors that carry a message meant for the user (shown without a traceback)."""


class WaifuganError(Exception):
    """Bad input or options: the message names the file or value and what is wrong."""


class DatasetError(WaifuganError):
    """A dataset cannot be read as training data."""


class AssetError(WaifuganError):
    """An external model file is missing or does not match its checksum."""
