"""Many merchants on one deployment: a registry of configs, one Celery task per merchant cycle.

The single-merchant mode (``sheetsync run``, ``serve``) needs none of this and no Redis. Here:

- :mod:`.registry`: a folder of per-merchant TOML configs (the single-merchant format) and their
  secrets;
- :mod:`.runner`: one merchant's cycle under a Redis lock with a fencing token, its own backoff
  and alerts, its webhook deliveries waiting in Redis;
- :mod:`.quotas`: request allowances kept in Redis per account, shared by every worker;
- :mod:`.tasks`: the Celery app and its tasks; :mod:`.app` the deployment's
  (``celery -A sheetsync.fleet.app worker|beat``).

See docs/distributed.md.
"""
