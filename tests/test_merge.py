"""merge.merge: one request's changes re-applied on top of another's (pure, no Redis)."""

from __future__ import annotations

from pyramid_session_redis.merge import merge, same


def test_changes_to_different_keys_are_both_kept():
    loaded = {"a": 1}
    merged, overwritten = merge(loaded, {"a": 1, "mine": "x"}, {"a": 1, "theirs": "y"}, {})
    assert merged == {"a": 1, "mine": "x", "theirs": "y"} and overwritten == []


def test_a_key_both_changed_takes_this_requests_value_and_is_reported():
    merged, overwritten = merge({"k": 1}, {"k": 2}, {"k": 3}, {})
    assert merged == {"k": 2} and overwritten == ["k"]


def test_a_key_only_they_changed_keeps_their_value():
    merged, overwritten = merge({"k": 1, "o": 0}, {"k": 1, "o": 5}, {"k": 3, "o": 0}, {})
    assert merged == {"k": 3, "o": 5} and overwritten == []


def test_deleting_a_key_they_did_not_touch_deletes_it():
    merged, overwritten = merge({"k": 1, "x": 2}, {"x": 2}, {"k": 1, "x": 2, "new": 3}, {})
    assert merged == {"x": 2, "new": 3} and overwritten == []


def test_deleting_a_key_they_changed_is_reported():
    merged, overwritten = merge({"k": 1}, {}, {"k": 9}, {})
    assert merged == {} and overwritten == ["k"]


def test_the_same_value_set_on_both_sides_is_reported_since_one_change_is_lost():
    # Two overlapping s["n"] = s.get("n", 0) + 1: both write 1, one increment is gone.
    assert merge({"n": 0}, {"n": 1}, {"n": 1}, {}) == ({"n": 1}, ["n"])
    assert merge({}, {"k": 2}, {"k": 2}, {}) == ({"k": 2}, ["k"])


def test_a_key_removed_on_both_sides_is_not_reported():
    assert merge({"k": 1}, {}, {}, {}) == ({}, [])


def test_a_pop_flash_meeting_another_pop_and_a_new_flash_keeps_the_new_message():
    # A loaded ["a"]; meanwhile B popped "a" and C flashed "b"; A pops too.
    merged, overwritten = merge({"user": 1, "_f_": ["a"]}, {"user": 1}, {"user": 1, "_f_": ["b"]}, {})
    assert merged == {"user": 1, "_f_": ["b"]} and overwritten == []


def test_a_flash_queue_keeps_every_message_whatever_the_order_of_pops_and_appends():
    # This request popped "a" and flashed "c"; the other consumed "a" and "b" and added "d".
    merged, overwritten = merge({"_f_": ["a", "b"]}, {"_f_": ["b", "c"]}, {"_f_": ["d"]}, {})
    assert merged == {"_f_": ["d", "c"]} and overwritten == []
    # Popped everything, then flashed again in the same request.
    merged, _ = merge({"_f_": ["a"]}, {"_f_": ["new"]}, {"_f_": ["a", "theirs"]}, {})
    assert merged == {"_f_": ["theirs", "new"]}
    # Repeated messages are counted: one "x" consumed here, the other stays.
    merged, _ = merge({"_f_": ["x"]}, {}, {"_f_": ["x", "x"]}, {})
    assert merged == {"_f_": ["x"]}


def test_a_flash_queue_emptied_on_both_sides_goes_away():
    merged, overwritten = merge({"_f_": ["a"], "u": 1}, {"u": 1}, {"u": 1}, {})
    assert merged == {"u": 1} and overwritten == []


def test_a_flash_key_that_is_not_a_list_merges_as_a_plain_value():
    merged, overwritten = merge({"_f_x": "s"}, {"_f_x": "t"}, {"_f_x": "u"}, {})
    assert merged == {"_f_x": "t"} and overwritten == ["_f_x"]


def test_increments_add_up():
    merged, overwritten = merge({"n": 5}, {"n": 6}, {"n": 9}, {"n": 1})
    assert merged == {"n": 10} and overwritten == []
    merged, _ = merge({}, {"n": 2}, {}, {"n": 2})  # a counter both created
    assert merged == {"n": 2}
    merged, _ = merge({}, {"n": 1}, {"n": 4}, {"n": 1})
    assert merged == {"n": 5}


def test_an_increment_of_something_they_made_a_non_number_is_a_plain_conflict():
    merged, overwritten = merge({"n": 1}, {"n": 2}, {"n": "reset"}, {"n": 1})
    assert merged == {"n": 2} and overwritten == ["n"]


def test_appended_flash_messages_from_both_are_kept_theirs_first():
    loaded = {"_f_": ["old"]}
    merged, overwritten = merge(loaded, {"_f_": ["old", "mine"]}, {"_f_": ["old", "theirs"]}, {})
    assert merged == {"_f_": ["old", "theirs", "mine"]} and overwritten == []
    merged, _ = merge({}, {"_f_": ["mine"]}, {"_f_": ["theirs"]}, {})
    assert merged == {"_f_": ["theirs", "mine"]}


def test_appending_to_a_list_they_consumed_keeps_only_the_new_items():
    merged, overwritten = merge({"_f_": ["old"]}, {"_f_": ["old", "mine"]}, {}, {})
    assert merged == {"_f_": ["mine"]} and overwritten == []


def test_pop_flash_leaves_what_they_appended_meanwhile():
    merged, overwritten = merge({"_f_": ["a", "b"]}, {}, {"_f_": ["a", "b", "c"]}, {})
    assert merged == {"_f_": ["c"]} and overwritten == []
    merged, overwritten = merge({"_f_": ["a"]}, {}, {"_f_": ["a"], "x": 1}, {})
    assert merged == {"x": 1} and overwritten == []


def test_a_rewritten_list_is_a_plain_value():
    merged, overwritten = merge({"l": [1, 2]}, {"l": [9]}, {"l": [1, 2, 3]}, {})
    assert merged == {"l": [9]} and overwritten == ["l"]


def test_nested_changes_compare_the_whole_top_level_value():
    loaded = {"cart": {"a": 1}, "prefs": {"x": 1}}
    mine = {"cart": {"a": 2}, "prefs": {"x": 1}}
    theirs = {"cart": {"a": 1}, "prefs": {"x": 2}}
    assert merge(loaded, mine, theirs, {}) == ({"cart": {"a": 2}, "prefs": {"x": 2}}, [])


def test_same_tells_types_apart():
    assert same(1, 1) and not same(1, True) and not same(1, 1.0) and same([1, {"a": 2}], [1, {"a": 2}])


def test_other_lists_appended_on_both_sides_keep_both_appends_theirs_first():
    merged, overwritten = merge({"cart": ["old"]}, {"cart": ["old", "mine"]}, {"cart": ["old", "theirs"]}, {})
    assert merged == {"cart": ["old", "theirs", "mine"]} and overwritten == []
    merged, _ = merge({}, {"cart": ["mine"]}, {"cart": ["theirs"]}, {})
    assert merged == {"cart": ["theirs", "mine"]}
    merged, _ = merge({"cart": ["old"]}, {"cart": ["old", "mine"]}, {}, {})
    assert merged == {"cart": ["mine"]}  # they removed it: only what this request added


def test_another_list_removed_here_leaves_what_they_appended():
    merged, overwritten = merge({"cart": ["a", "b"]}, {}, {"cart": ["a", "b", "c"]}, {})
    assert merged == {"cart": ["c"]} and overwritten == []
    merged, overwritten = merge({"cart": ["a"]}, {}, {"cart": ["a"], "x": 1}, {})
    assert merged == {"x": 1} and overwritten == []
