"""The shared emulator kit: what every vendor emulator is built from, so that an emulator module
states only its vendor's differences. Emulators only: billplan's providers must never import it.

- `wire`: exact-decimal JSON, shortest numbers, time stamps, shaping documents into wire objects;
- `store`: SQLite document tables, cursor pages, id counters;
- `limits`: the per-second token bucket and rolling hour/day windows;
- `settings`: the sandbox settings every emulator has;
- `faults` and `log`: fault injection and the request log;
- `forms`: request-body readers, with each vendor's error wording as data;
- `admin`: the admin surface's body and field checks, chosen ids and path lookups;
- `routing`: routes from (method, path, endpoint) rows, and the vendor mount.

The `Emulator` base class that runs a vendor's pipeline over them lives in `sandbox/base.py`."""
