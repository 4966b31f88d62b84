"""The one error the local store raises for storage problems."""


class StoreError(Exception):
    """A problem with the kiosk's local database, in plain words for a technician.

    The message says what happened and what state the database was left in;
    callers show it as it is (no traceback needed).
    """
