"""The service-scale bench splits /v1/search's time by the service's own Server-Timing header."""

from __future__ import annotations

from bench.service_scale import server_timing


def test_each_named_duration_is_read_and_a_malformed_one_left_out():
    header = "embed;dur=0.00, retrieve;dur=12.50, rank;dur=3.25, broken;dur=x, nodur"
    assert server_timing(header) == {"embed": 0.0, "retrieve": 12.5, "rank": 3.25}
    assert server_timing("") == {}
