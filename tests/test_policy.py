"""The end-of-request decisions, as pure functions with an explicit clock."""

from __future__ import annotations

from typing import Any

import pytest

from pyramid_session_redis.options import validate
from pyramid_session_redis.policy import (
    Action,
    Cookie,
    SessionView,
    cookie_action,
    resolve_rules,
    storage_decision,
)


def rules(**options: Any):
    return resolve_rules(validate({"secret": "s" * 32, **options}))


def view(**fields: Any) -> SessionView:
    base = dict(
        stored=True, new=False, has_id=True, doomed=False, bad_cookie=False, empty=False, keep=False,
        dirty=False, exposed=False, recookie=False, timeout=1200, expires=None, expires_pinned=False,
        ttl_mismatch=False, cookie_sent=False,
    )
    base.update(fields)
    return SessionView(**base)


NEW = dict(stored=False, new=True, has_id=False)


# -- storage: default rules (Redis TTL, refreshed by GETEX on load) -------------

def test_read_only_existing_session_needs_nothing_more():
    assert storage_decision(view(), rules(), now=100).action is Action.NOTHING


def test_changed_session_is_saved_with_full_ttl():
    d = storage_decision(view(dirty=True), rules(), now=100)
    assert (d.action, d.ttl, d.expires) == (Action.SAVE, 1200, None)


def test_exposed_mutable_value_asks_for_a_comparison():
    d = storage_decision(view(exposed=True), rules(), now=100)
    assert d.action is Action.SAVE_IF_CHANGED and d.otherwise is Action.NOTHING and d.ttl == 1200


def test_detect_changes_off_ignores_exposed_values():
    assert storage_decision(view(exposed=True), rules(detect_changes=False), now=100).action is Action.NOTHING


def test_session_with_its_own_timeout_gets_its_ttl_refreshed():
    d = storage_decision(view(timeout=60, ttl_mismatch=True), rules(), now=100)
    assert (d.action, d.ttl) == (Action.REFRESH, 60)
    d = storage_decision(view(timeout=60, ttl_mismatch=True, exposed=True), rules(), now=100)
    assert (d.action, d.otherwise, d.ttl) == (Action.SAVE_IF_CHANGED, Action.REFRESH, 60)


def test_emptied_session_is_deleted_with_its_cookie():
    v = view(empty=True, dirty=True)
    assert storage_decision(v, rules(), now=1).action is Action.DELETE
    assert cookie_action(v, rules(), allowed=True) is Cookie.DELETE


def test_emptied_session_is_kept_when_invalidate_empty_session_is_off():
    v = view(empty=True, dirty=True)
    assert storage_decision(v, rules(invalidate_empty_session=False), now=1).action is Action.SAVE
    assert cookie_action(v, rules(invalidate_empty_session=False), allowed=True) is Cookie.KEEP


def test_no_timeout_means_no_ttl():
    d = storage_decision(view(dirty=True, timeout=None), rules(timeout=0), now=1)
    assert (d.action, d.ttl, d.expires) == (Action.SAVE, None, None)


# -- new sessions -------------------------------------------------------------

def test_new_empty_session_stores_nothing_and_sets_no_cookie():
    v = view(**NEW, empty=True)
    assert storage_decision(v, rules(), now=1).action is Action.NOTHING
    assert cookie_action(v, rules(), allowed=True) is Cookie.KEEP


def test_new_session_with_data_is_created_once_its_cookie_is_sent():
    v = view(**NEW)
    assert cookie_action(v, rules(), allowed=True) is Cookie.SET
    d = storage_decision(v._replace(has_id=True, cookie_sent=True), rules(), now=1)
    assert (d.action, d.ttl, d.expires) == (Action.CREATE, 1200, None)


def test_new_session_is_not_stored_when_its_cookie_could_not_be_sent():
    v = view(**NEW)
    assert cookie_action(v, rules(), allowed=False) is Cookie.KEEP
    assert storage_decision(v._replace(has_id=True), rules(), now=1).action is Action.NOTHING


def test_exception_response_sets_no_cookie_but_deletes_an_ended_sessions():
    # may_set=False: an exception response under cookie_on_exception = false.
    assert cookie_action(view(**NEW), rules(), allowed=True, may_set=False) is Cookie.KEEP
    assert cookie_action(view(recookie=True), rules(), allowed=True, may_set=False) is Cookie.KEEP
    invalidated = view(**NEW, empty=True, doomed=True)
    assert cookie_action(invalidated, rules(), allowed=True, may_set=False) is Cookie.DELETE
    replaced = view(**NEW, doomed=True)  # invalidate(), then a write: the new session gets no cookie
    assert cookie_action(replaced, rules(), allowed=True, may_set=False) is Cookie.DELETE
    persisted = view(new=True, doomed=True)  # ... and do_persist()
    assert cookie_action(persisted, rules(), allowed=True, may_set=False) is Cookie.DELETE
    stale = view(**NEW, bad_cookie=True)
    assert cookie_action(stale, rules(), allowed=True, may_set=False) is Cookie.DELETE
    emptied = view(empty=True, dirty=True)
    assert cookie_action(emptied, rules(), allowed=True, may_set=False) is Cookie.DELETE
    for v in (invalidated, replaced, persisted, stale, emptied):  # a refused response gets nothing at all
        assert cookie_action(v, rules(), allowed=False, may_set=False) is Cookie.KEEP


def test_exception_response_still_sends_the_new_cookie_of_a_regenerated_session():
    # cookie_on_exception = false: the old id is dead, and keeping it would keep an id an
    # attacker may have planted; the new cookie goes out (raise HTTPFound after login).
    regenerated = view(**NEW, doomed=True, keep=True, recookie=True, regenerated=True)
    assert cookie_action(regenerated, rules(), allowed=True) is Cookie.SET
    assert cookie_action(regenerated, rules(), allowed=True, may_set=False) is Cookie.SET
    persisted = view(new=True, doomed=True, keep=True, recookie=True, regenerated=True)  # then do_persist()
    assert cookie_action(persisted, rules(), allowed=True, may_set=False) is Cookie.SET
    # A response that refuses cookies carries none, not even this one (persist.settle ends the session).
    assert cookie_action(regenerated, rules(), allowed=False) is Cookie.KEEP


def test_ensure_id_keeps_an_empty_new_session():
    v = view(**NEW, empty=True, keep=True)
    assert cookie_action(v, rules(), allowed=True) is Cookie.SET
    assert storage_decision(v._replace(has_id=True, cookie_sent=True), rules(), now=1).action is Action.CREATE


def test_stale_cookie_is_deleted_when_nothing_replaces_it():
    v = view(**NEW, empty=True, bad_cookie=True)
    assert cookie_action(v, rules(), allowed=True) is Cookie.DELETE
    assert cookie_action(v, rules(), allowed=False) is Cookie.KEEP


def test_invalidate_deletes_the_old_key_and_cookie():
    v = view(**NEW, empty=True, doomed=True)
    d = storage_decision(v, rules(), now=1)
    assert (d.action, d.delete_old) == (Action.NOTHING, True)
    assert cookie_action(v, rules(), allowed=True) is Cookie.DELETE


def test_invalidate_then_write_deletes_old_and_creates_new():
    v = view(**NEW, doomed=True)
    assert cookie_action(v, rules(), allowed=True) is Cookie.SET
    d = storage_decision(v._replace(has_id=True, cookie_sent=True), rules(), now=1)
    assert (d.action, d.delete_old) == (Action.CREATE, True)


def test_an_old_session_is_deleted_even_when_its_successor_is_already_stored():
    # invalidate() or regenerate_id(), then do_persist(): the successor is stored
    # before the end of the request, and the old key must still go.
    unchanged = storage_decision(view(doomed=True), rules(), now=1)
    assert (unchanged.action, unchanged.delete_old) == (Action.NOTHING, True)
    changed = storage_decision(view(doomed=True, dirty=True), rules(), now=1)
    assert (changed.action, changed.delete_old, changed.ttl) == (Action.SAVE, True, 1200)
    assert storage_decision(view(dirty=True), rules(), now=1).delete_old is False


def test_recookie_and_new_stored_sessions_resend_the_cookie():
    assert cookie_action(view(recookie=True), rules(), allowed=True) is Cookie.SET
    assert cookie_action(view(new=True), rules(), allowed=True) is Cookie.SET  # do_persist() on a new session
    assert cookie_action(view(), rules(), allowed=True) is Cookie.KEEP


# -- timeout_trigger: the timeline of the 1.x documentation --------------------

def test_timeout_trigger_timeline_writes_at_0_600_1200_only():
    r = rules(timeout=1200, timeout_trigger=600)
    assert r.track_expiry and not r.getex_on_load
    created = storage_decision(view(**{**NEW, "has_id": True, "cookie_sent": True}), r, now=0)
    assert (created.action, created.expires, created.ttl) == (Action.CREATE, 1200, 1200)
    expires = created.expires
    writes = [0]
    for now in range(1, 1801):
        d = storage_decision(view(expires=expires), r, now=now)
        if d.action is Action.SAVE:
            writes.append(now)
            assert d.expires == now + 1200 and d.ttl == 1200
            expires = d.expires
        else:
            assert d.action is Action.NOTHING
    assert writes == [0, 600, 1200, 1800]


def test_timeout_trigger_write_between_thresholds_keeps_the_expiry():
    r = rules(timeout=1200, timeout_trigger=600)
    d = storage_decision(view(expires=1200, dirty=True), r, now=100)
    assert (d.action, d.expires, d.ttl) == (Action.SAVE, 1200, 1100)


def test_python_expires_without_trigger_rewrites_on_every_access():
    r = rules(python_expires=True)
    assert r.track_expiry and r.trigger == 0 and not r.getex_on_load
    for now in (1, 2, 3):
        d = storage_decision(view(expires=1200), r, now=now)
        assert (d.action, d.expires) == (Action.SAVE, now + 1200)


def test_payload_without_expiry_gets_one_when_tracking():
    d = storage_decision(view(expires=None), rules(timeout_trigger=600), now=50)
    assert (d.action, d.expires) == (Action.SAVE, 1250)


# -- LRU mode (set_redis_ttl=False) --------------------------------------------

def test_lru_mode_never_sends_a_ttl_and_reads_cost_nothing_before_half_time():
    r = rules(set_redis_ttl=False)
    assert (r.track_expiry, r.trigger, r.getex_on_load) == (True, 600, False)
    created = storage_decision(view(**{**NEW, "has_id": True, "cookie_sent": True}), r, now=0)
    assert (created.action, created.expires, created.ttl) == (Action.CREATE, 1200, None)
    assert storage_decision(view(expires=1200), r, now=599).action is Action.NOTHING
    d = storage_decision(view(expires=1200), r, now=600)
    assert (d.action, d.expires, d.ttl) == (Action.SAVE, 1800, None)


def test_lru_mode_with_trigger_zero_rewrites_every_read():
    r = rules(set_redis_ttl=False, timeout_trigger=0)
    assert r.trigger == 0
    assert storage_decision(view(expires=1200), r, now=1).action is Action.SAVE


def test_lru_mode_without_python_expires_leaves_expiry_to_redis():
    r = rules(set_redis_ttl=False, python_expires=False)
    assert not r.track_expiry
    assert storage_decision(view(), r, now=1).action is Action.NOTHING
    assert storage_decision(view(dirty=True), r, now=1).ttl is None


# -- readheavy and pinned expiry -----------------------------------------------

def test_readheavy_is_the_getex_policy():
    r = rules(set_redis_ttl_readheavy=True)
    assert r.getex_on_load and not r.track_expiry
    assert storage_decision(view(), r, now=1).action is Action.NOTHING


@pytest.mark.parametrize("opts", [{}, {"timeout_trigger": 600}])
def test_adjusted_expiry_is_kept_and_drives_the_ttl(opts):
    d = storage_decision(view(expires=5000, expires_pinned=True, dirty=True), rules(**opts), now=1000)
    assert (d.action, d.expires, d.ttl) == (Action.SAVE, 5000, 4000)
