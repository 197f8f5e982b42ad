"""Each app's recorded render inputs in the store (``queue/inputs.py``), on both stores."""

from __future__ import annotations

from webhook.affected import RecordedInputs, inputs_key
from webhook.model import SyncRequest, Trigger
from webhook.queue import SqlStore, open_store
from webhook.settings import AppConfig

REPO = "Codertocat/Hello-World"
PRODUCTION = AppConfig(name="production", repo=REPO, path="apps/production", namespace="ns")
OTHER = AppConfig(name="other", repo=REPO, path="apps/other", namespace="ns")


def known(config: AppConfig, *paths: str) -> RecordedInputs:
    return RecordedInputs(key=inputs_key(config), commit="c" * 40, paths=paths)


def test_the_store_keeps_forgets_and_hides_inputs_while_a_deploy_waits(store: SqlStore) -> None:
    store.record_inputs("production", known(PRODUCTION, "apps/base/"))
    store.record_inputs("other", known(OTHER))
    assert store.recorded_inputs(["production", "other", "staging"]) == {
        "production": known(PRODUCTION, "apps/base/"),
        "other": known(OTHER),
    }
    store.record_inputs("other", None)
    assert store.recorded_inputs(["other"]) == {}
    # A deploy job waiting to render may change the inputs: until it ran, they are unknown
    # to the receiver, but the worker narrowing that very job still reads them.
    store.enqueue(
        [SyncRequest(app="production", repo=REPO, commit="d" * 40, ref="r", trigger=Trigger.PUSH)]
    )
    assert store.recorded_inputs(["production"]) == {}
    assert store.recorded_inputs(["production"], unless_waiting=False) == {
        "production": known(PRODUCTION, "apps/base/")
    }


def test_a_new_record_replaces_the_old_one(store: SqlStore) -> None:
    store.record_inputs("production", known(PRODUCTION, "apps/base/"))
    store.record_inputs("production", known(PRODUCTION, "shared/", "a b/ünï.yaml"))
    assert store.recorded_inputs(["production"]) == {
        "production": known(PRODUCTION, "shared/", "a b/ünï.yaml")
    }


def test_a_reader_sees_what_another_process_wrote(store: SqlStore, store_url: str) -> None:
    """The receiver keeps parsed rows between deliveries; a worker's write must show."""
    worker = open_store(store_url)
    try:
        assert store.recorded_inputs(["production"]) == {}
        worker.record_inputs("production", known(PRODUCTION, "apps/base/"))
        assert store.recorded_inputs(["production"]) == {
            "production": known(PRODUCTION, "apps/base/")
        }
        worker.record_inputs("production", None)
        assert store.recorded_inputs(["production"]) == {}
    finally:
        worker.close()


def generation(store: SqlStore) -> int:
    with store.database.read() as cur:
        cur.execute("SELECT generation FROM app_inputs_generation WHERE id = 1")
        return int(cur.fetchone()["generation"])


def test_inputs_already_recorded_write_nothing(store: SqlStore) -> None:
    """Most syncs read what the last one read: no write, so no commit on the sync's path and
    no reader has to parse every row again. A change, or forgetting, still writes."""
    store.record_inputs("production", known(PRODUCTION, "apps/base/"))
    first = generation(store)
    again = RecordedInputs(key=inputs_key(PRODUCTION), commit="e" * 40, paths=("apps/base/",))
    store.record_inputs("production", again)
    store.record_inputs("other", None)  # nothing recorded, nothing to forget
    assert generation(store) == first
    assert store.recorded_inputs(["production"])["production"].commit == "c" * 40
    store.record_inputs("production", known(PRODUCTION, "apps/base/", "shared/"))
    assert generation(store) == first + 1
    store.record_inputs("production", known(OTHER, "apps/base/", "shared/"))  # other settings
    assert generation(store) == first + 2
    store.record_inputs("production", None)
    assert generation(store) == first + 3
    assert store.recorded_inputs(["production"]) == {}
