"""Helper for test_store.py: writes outbox actions as fast as it can until killed.

Prints "ready" once the store is open, then each client_id right after
add_action has returned (so the parent knows it was committed).
Usage: python store_kill_worker.py DB_PATH
"""

import sys

from kiosk.store import Store


def main() -> None:
    store = Store.open(sys.argv[1])
    print("ready", flush=True)
    n = 0
    while True:
        entry = store.add_action("checkout", {"item": f"3020{n:08d}", "n": n})
        print(entry.client_id, flush=True)
        store.mark_sending(entry.client_id)
        store.mark_done(entry.client_id, "confirmed", {"n": n})
        n += 1


if __name__ == "__main__":
    main()
