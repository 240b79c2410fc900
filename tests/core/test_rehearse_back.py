"""Copy ids and etags turned back into live ones (portsync.rehearse): what the rehearsal compares
the copy's plan and writes with."""

from __future__ import annotations

import json

from portsync.rehearse import _Back


def test_copy_ids_and_quoted_etags_read_as_the_live_ones_in_json_text() -> None:
    back = _Back({"sg-0copy1": "sg-0live1", 'W/"copy-etag"': 'W/"live-etag"'})
    body = {"GroupId": "sg-0copy1", "headers": {"If-Match": 'W/"copy-etag"'}, "other": "sg-0x"}
    text = json.dumps(body, sort_keys=True)
    assert json.loads(back(text)) == {
        "GroupId": "sg-0live1",
        "headers": {"If-Match": 'W/"live-etag"'},
        "other": "sg-0x",
    }


def test_the_longest_id_wins_and_no_ids_leave_text_alone() -> None:
    back = _Back({"sg-1": "sg-A", "sg-12": "sg-B"})
    assert back("sg-12 sg-1") == "sg-B sg-A"
    assert _Back({})("sg-12") == "sg-12"


def test_writes_compare_regardless_of_the_order_ids_put_list_items_in() -> None:
    from portsync.rehearse import _write_text

    back = _Back({"sg-0copyb": "sg-0liveb", "sg-0copya": "sg-0livea"})
    copy = json.dumps(
        {"GroupId": "x", "Pairs": [{"GroupId": "sg-0copya"}, {"GroupId": "sg-0copyb"}]}
    )
    live = json.dumps(
        {"GroupId": "x", "Pairs": [{"GroupId": "sg-0liveb"}, {"GroupId": "sg-0livea"}]}
    )
    assert _write_text(copy, back) == _write_text(live, _Back({}))
    other = json.dumps({"GroupId": "x", "Pairs": [{"GroupId": "sg-0livea"}]})
    assert _write_text(copy, back) != _write_text(other, _Back({}))
