#!/usr/bin/env python3
"""Holds packhooks' EventStoreDB wire test server to a client we did not write.

The vendor's Python client `kurrentdbclient` (pinned in scripts/test) is documented and
tested against real KurrentDB/EventStoreDB servers. This script starts the wire test server
(crates/store-esdb/examples/wire_server.rs, built by scripts/test) over a fresh SQLite file
on 127.0.0.1 and asserts, through that client, the documented behaviour of every operation
packhooks' store uses: appends and conflicts (with the actual version), idempotent retries,
stream reads both ways, `$all` reads both ways from a position, catch-up subscriptions with
stream-prefix and event-type filters (history, caught up, live, checkpoints), soft delete
and tombstone edges, system events and sparse positions.

Usage: esdb_client_check.py PATH_TO_WIRE_SERVER_EXAMPLE
Exits 1 (naming each failed check) if anything differs, 2 if the server cannot be started.

Filters: the client excludes system events with a regex by default; the wire server serves
prefix filters only, so every `$all` read and subscription here passes an explicit empty
exclude filter (and prefixes when it filters).
"""

import os
import re
import signal
import subprocess
import sys
import tempfile
import traceback
import uuid

from kurrentdbclient import KurrentDBClient, NewEvent, StreamState
from kurrentdbclient.events import CaughtUp, Checkpoint
from kurrentdbclient.exceptions import (
    FailedPreconditionError,
    NotFoundError,
    StreamIsDeletedError,
    WrongCurrentVersionError,
)

# The whole check must end well within this (a hung subscription would otherwise hang CI).
DEADLINE_SECONDS = 120
NO_EXCLUDE = ()


def new_event(n=0, type_="Checked"):
    return NewEvent(type=type_, data=b'{"n":%d}' % n)


def name(category):
    return f"{category}-{uuid.uuid4().hex}"


def raises(exception, call):
    try:
        call()
    except exception as error:
        return error
    raise AssertionError(f"expected {exception.__name__}")


def all_events(client, **kwargs):
    return list(client.read_all(filter_exclude=NO_EXCLUDE, **kwargs))


def append_one(client, stream, event, version):
    return client.append_to_stream(stream, events=event, current_version=version)


# --- the checks ---------------------------------------------------------------------------


def appends_and_conflicts(client):
    s = name("order")
    first = append_one(client, s, new_event(0), StreamState.NO_STREAM)
    assert first > 0, "an append answers its commit position"
    error = raises(WrongCurrentVersionError, lambda: append_one(client, s, new_event(1), StreamState.NO_STREAM))
    assert error.actual_version == 0, f"the conflict says the actual version, got {error.actual_version}"
    second = append_one(client, s, new_event(1), 0)
    assert second > first, "positions increase"
    error = raises(WrongCurrentVersionError, lambda: append_one(client, s, new_event(2), 0))
    assert error.actual_version == 1, f"actual version 1, got {error.actual_version}"
    missing = name("order")
    raises(WrongCurrentVersionError, lambda: append_one(client, missing, new_event(), StreamState.EXISTS))
    raises(WrongCurrentVersionError, lambda: append_one(client, missing, new_event(), 0))
    append_one(client, s, new_event(2), StreamState.EXISTS)
    append_one(client, s, new_event(3), StreamState.ANY)
    assert [e.stream_position for e in client.get_stream(s)] == [0, 1, 2, 3]


def idempotent_retries(client):
    s = name("pack")
    event = new_event(0)
    first = append_one(client, s, event, StreamState.ANY)
    assert append_one(client, s, event, StreamState.ANY) == first, "a retry with any answers the original position"
    created = new_event(1)
    at_zero = append_one(client, s, created, 0)
    assert append_one(client, s, created, 0) == at_zero, "a retry at the same version answers the original"
    fresh = name("webhook")
    made = new_event(2)
    position = append_one(client, fresh, made, StreamState.NO_STREAM)
    assert append_one(client, fresh, made, StreamState.NO_STREAM) == position, "a retry with no stream"
    assert len(client.get_stream(s)) == 2 and len(client.get_stream(fresh)) == 1, "retries wrote nothing"


def stream_reads_both_ways(client):
    s = name("order")
    for n in range(10):
        append_one(client, s, new_event(n), StreamState.ANY)
    assert [e.stream_position for e in client.get_stream(s, stream_position=3, limit=4)] == [3, 4, 5, 6]
    assert [e.stream_position for e in client.get_stream(s, backwards=True, limit=3)] == [9, 8, 7]
    back = client.get_stream(s, stream_position=4, backwards=True, limit=2)
    assert [e.stream_position for e in back] == [4, 3], "a stream read includes its start either way"
    raises(NotFoundError, lambda: client.get_stream(name("nothing")))


def all_reads_both_ways_from_a_position(client):
    s = name("a")
    for n in range(6):
        append_one(client, s, new_event(n), StreamState.ANY)
    ours = [e for e in all_events(client) if e.stream_name == s]
    third = ours[2].commit_position
    forwards = all_events(client, commit_position=third, limit=1)
    assert forwards[0].id == ours[2].id, "forwards from a position includes it"
    backwards = all_events(client, commit_position=third, backwards=True, limit=2)
    assert [e.id for e in backwards] == [ours[1].id, ours[0].id], "backwards from a position excludes it"
    newest = all_events(client, backwards=True, limit=50)
    assert newest[0].commit_position > newest[-1].commit_position, "backwards from the end, newest first"


def sparse_positions(client):
    s = name("pack")
    for n in range(5):
        append_one(client, s, new_event(n), StreamState.ANY)
    ours = [e for e in all_events(client) if e.stream_name == s]
    gaps = [b.commit_position - a.commit_position for a, b in zip(ours, ours[1:])]
    assert all(gap > 1 for gap in gaps), f"positions are byte offsets, not a count: gaps {gaps}"
    # Several events in one Append call (the client's public API sends a sequence through
    # BatchAppend, which the wire server does not serve; `streams.append` is its Append).
    batch = name("batch")
    client.streams.append(
        stream_name=batch,
        current_version=StreamState.NO_STREAM,
        events=[new_event(n) for n in range(3)],
        timeout=10,
        metadata=client._call_metadata,
        credentials=client._call_credentials,
    )
    written = [e for e in all_events(client) if e.stream_name == batch]
    assert len({e.commit_position for e in written}) == 1, "one commit position per append"
    assert len({e.prepare_position for e in written}) == 3, "a prepare position per event"
    assert written[2].commit_position != written[2].prepare_position, "commit != prepare inside an append"


def collect_until_caught_up(subscription):
    events, checkpoints = [], []
    for item in subscription:
        if isinstance(item, CaughtUp):
            return events, checkpoints
        if isinstance(item, Checkpoint):
            checkpoints.append(item)
        else:
            events.append(item)
    raise AssertionError("the subscription ended before it caught up")


def next_event(subscription):
    for item in subscription:
        if not isinstance(item, (Checkpoint, CaughtUp)):
            return item
    raise AssertionError("the subscription ended")


def subscriptions_with_filters(client):
    tag = uuid.uuid4().hex[:8]
    wanted, other = f"want{tag}-1", f"other{tag}-1"
    for n in range(3):
        append_one(client, wanted, new_event(n), StreamState.ANY)
        append_one(client, other, new_event(n), StreamState.ANY)
    # A sparse filter: many events it leaves out, so checkpoints must come.
    for n in range(80):
        append_one(client, other, new_event(n), StreamState.ANY)

    by_stream = client.subscribe_to_all(
        filter_exclude=NO_EXCLUDE,
        filter_include=[f"want{tag}-"],
        filter_by_stream_name=True,
        filter_by_prefix=True,
        include_checkpoints=True,
        include_caught_up=True,
    )
    history, checkpoints = collect_until_caught_up(by_stream)
    assert [e.stream_name for e in history] == [wanted] * 3, "history holds only the prefix's events"
    assert checkpoints, "a sparse filter receives checkpoints"
    positions = [c.commit_position for c in checkpoints]
    assert positions == sorted(positions), "checkpoints advance"
    live = new_event(99)
    append_one(client, other, new_event(100), StreamState.ANY)
    append_one(client, wanted, live, StreamState.ANY)
    assert next_event(by_stream).id == live.id, "then live events, filtered"
    by_stream.stop()

    by_type = client.subscribe_to_all(
        filter_exclude=NO_EXCLUDE,
        filter_include=[f"Typed{tag}"],
        filter_by_prefix=True,
        include_caught_up=True,
    )
    typed = new_event(0, type_=f"Typed{tag}Interested")
    history, _ = collect_until_caught_up(by_type)
    assert history == [], "no event of that type yet"
    append_one(client, other, new_event(1), StreamState.ANY)
    append_one(client, other, typed, StreamState.ANY)
    assert next_event(by_type).id == typed.id, "an event-type prefix filter"
    by_type.stop()

    # From a position: starts after it.
    ours = [e for e in all_events(client) if e.stream_name == wanted]
    after = client.subscribe_to_all(
        commit_position=ours[1].commit_position, filter_exclude=NO_EXCLUDE, include_caught_up=True
    )
    history, _ = collect_until_caught_up(after)
    ids = [e.id for e in history]
    assert ours[1].id not in ids and ours[2].id in ids, "a subscription from a position excludes it"
    after.stop()


def soft_delete_and_tombstone_edges(client):
    never = name("webhook")
    raises(NotFoundError, lambda: client.delete_stream(never, current_version=StreamState.ANY))
    raises(NotFoundError, lambda: client.delete_stream(never, current_version=StreamState.NO_STREAM))

    s = name("webhook")
    append_one(client, s, new_event(0), StreamState.NO_STREAM)
    append_one(client, s, new_event(1), 0)
    client.delete_stream(s, current_version=1)
    raises(NotFoundError, lambda: client.get_stream(s))
    client.delete_stream(s, current_version=1)  # a soft-deleted stream keeps its last version
    error = raises(WrongCurrentVersionError, lambda: client.delete_stream(s, current_version=0))
    assert error.actual_version == 1, f"the actual version is the last one, got {error.actual_version}"
    raises(StreamIsDeletedError, lambda: client.delete_stream(s, current_version=StreamState.EXISTS))
    append_one(client, s, new_event(2), StreamState.ANY)
    assert [e.stream_position for e in client.get_stream(s)] == [2], "numbering continues after a soft delete"

    gone = name("account")
    append_one(client, gone, new_event(0), StreamState.NO_STREAM)
    client.tombstone_stream(gone, current_version=0)
    raises(StreamIsDeletedError, lambda: client.get_stream(gone))
    # The single-event Append call answers FAILED_PRECONDITION "… is deleted." (with the
    # `exception: stream-deleted` trailer); this client names it only for BatchAppend.
    error = raises(FailedPreconditionError, lambda: append_one(client, gone, new_event(1), StreamState.ANY))
    assert "is deleted" in str(error), f"an append to a tombstoned stream says deleted, got {error}"
    raises(StreamIsDeletedError, lambda: client.delete_stream(gone, current_version=StreamState.ANY))


def system_events(client):
    s = name("webhook")
    append_one(client, s, new_event(0), StreamState.NO_STREAM)
    client.delete_stream(s, current_version=0)
    for n in range(10):
        append_one(client, name("pack"), new_event(n), StreamState.ANY)
    everything = all_events(client)
    metadata = [e for e in everything if e.stream_name == f"$${s}"]
    assert [e.type for e in metadata] == ["$metadata"], "a delete writes $metadata into $$<stream>"
    stats = [e for e in everything if e.stream_name.startswith("$stats-")]
    assert stats and all(e.type == "$statsCollected" for e in stats), "statistics come unasked"
    unfiltered = client.subscribe_to_all(filter_exclude=NO_EXCLUDE, include_caught_up=True)
    history, _ = collect_until_caught_up(unfiltered)
    assert any(e.stream_name.startswith("$") for e in history), "an unfiltered subscription meets them"
    unfiltered.stop()


CHECKS = [
    appends_and_conflicts,
    idempotent_retries,
    stream_reads_both_ways,
    all_reads_both_ways_from_a_position,
    sparse_positions,
    subscriptions_with_filters,
    soft_delete_and_tombstone_edges,
    system_events,
]


def start_server(binary, directory):
    server = subprocess.Popen(
        [binary, os.path.join(directory, "events.sqlite"), "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = server.stdout.readline()
    found = re.search(r" on (127\.0\.0\.1:\d+):", line)
    if not found:
        server.kill()
        print(f"esdb_client_check: the wire test server did not start (said {line!r})", file=sys.stderr)
        sys.exit(2)
    return server, found.group(1)


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    signal.alarm(DEADLINE_SECONDS)
    with tempfile.TemporaryDirectory() as directory:
        server, address = start_server(sys.argv[1], directory)
        try:
            client = KurrentDBClient(uri=f"kurrentdb://{address}?Tls=false")
            failed = []
            for check in CHECKS:
                try:
                    check(client)
                    print(f"ok   {check.__name__}")
                except Exception:
                    failed.append(check.__name__)
                    print(f"FAIL {check.__name__}")
                    traceback.print_exc()
            client.close()
        finally:
            server.terminate()
            server.wait(timeout=10)
    if failed:
        print(f"esdb_client_check: {len(failed)} of {len(CHECKS)} checks failed: {', '.join(failed)}")
        return 1
    print(f"esdb_client_check: all {len(CHECKS)} checks passed (kurrentdbclient against the wire test server)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
