"""What students read does not change unnoticed: the checks' messages, compared with their record.

``tests/data/messages.json`` holds every message the checks print on the
solutions' test cells, on each planted mistake under each call that catches a
mistake of its exercise, and on an unanswered function (see
``record_messages.py``). A change that alters one fails here; when the change is
meant, re-record with ``python tests/record_messages.py`` and read the diff.
"""

import json

from record_messages import RECORD, differences, record_messages


def test_the_checks_print_what_the_record_holds():
    recorded = json.loads(RECORD.read_text())
    now = record_messages()
    differ = differences(recorded, now)
    shown = "\n".join(f"{key}\n  recorded: {recorded.get(key)!r}\n  now:      {now.get(key)!r}" for key in differ[:5])
    assert not differ, f"{len(differ)} messages differ from the record:\n{shown}"
