"""The filter expressions and malformed queries the request-data conformance module sends.

Each expression is applied to the ets-sta10 world of :mod:`tests.hub.sta.conformance.seed`
(tag ``cnfreq``): twelve Observations with results 1..12 observed on 2015-03-01..12 at
midnight (result times an hour later), two Things named ``cnfreq thing 1`` and ``2`` and their
Locations at (-117.05, 51.05) and (-100.05, 50.05). Next to each expression is what it must
select. ``indexof`` and ``substring`` are 0-based, as in OData and FROST-Server 2.5 (the hub
documents that choice in ``hub/sta/filter/functions.py``).
"""

from __future__ import annotations

# (filter on the world's Observations, the results it must select)
OBSERVATION_FUNCTIONS = [
    ("result add 1 eq 5", [4]),
    ("result sub 1 eq 5", [6]),
    ("result mul 2 eq 8", [4]),
    ("result div 2.0 eq 3", [6]),
    ("result mod 5 eq 0", [5, 10]),
    ("(result add 1) mul 2 eq 10", [4]),
    ("result gt 2 and result lt 5", [3, 4]),
    ("result lt 2 or result gt 11", [1, 12]),
    ("not (result le 10)", [11, 12]),
    ("year(phenomenonTime) eq 2015 and day(phenomenonTime) eq 5", [5]),
    ("month(phenomenonTime) eq 3 and day(phenomenonTime) le 2", [1, 2]),
    ("hour(resultTime) eq 1 and minute(resultTime) eq 0 and result lt 3", [1, 2]),
    ("second(phenomenonTime) eq 0 and result eq 9", [9]),
    ("fractionalseconds(phenomenonTime) eq 0 and result eq 9", [9]),
    ("date(phenomenonTime) eq 2015-03-07", [7]),
    ("time(resultTime) eq 01:00:00 and result le 2", [1, 2]),
    ("totaloffsetminutes(phenomenonTime) eq 0 and result eq 3", [3]),
    ("phenomenonTime lt now() and result eq 8", [8]),
    ("phenomenonTime gt mindatetime() and phenomenonTime lt maxdatetime()", list(range(1, 13))),
    ("phenomenonTime ge 2015-03-11T00:00:00Z", [11, 12]),
    ("resultTime lt 2015-03-02T00:00:00.000Z", [1]),
    ("round(result div 5.0) eq 1", [3, 4, 5, 6, 7]),
    ("floor(result div 4.0) eq 2", [8, 9, 10, 11]),
    ("ceiling(result div 4.0) eq 2", [5, 6, 7, 8]),
    ("Datastream/Thing/properties/reference eq 'second' and result lt 9", [7, 8]),
    ("FeatureOfInterest/name eq 'cnfreq foi 2' and result gt 10", [11, 12]),
]
# (filter on the world's Things, the thing numbers it must select)
THING_FUNCTIONS = [
    ("substringof('thing 1', name)", [1]),
    ("endswith(name, 'thing 2')", [2]),
    ("startswith(description, 'thing')", [1, 2]),
    ("length(name) eq 14", [1, 2]),
    ("indexof(name, 'thing') eq 7", [1, 2]),
    ("substring(name, 7) eq 'thing 2'", [2]),
    ("substring(name, 7, 5) eq 'thing'", [1, 2]),
    ("tolower(name) eq 'cnfreq thing 1'", [1]),
    ("toupper(name) eq 'CNFREQ THING 2'", [2]),
    ("trim(concat(' ', description)) eq 'thing 1'", [1]),
    ("concat(concat(name, '/'), description) eq 'cnfreq thing 2/thing 2'", [2]),
    ("properties/reference eq 'first'", [1]),
    ("properties/rank gt 1", [2]),
]
# (filter on the world's Locations, the location numbers it must select)
SQUARE = "geography'POLYGON ((-118 50, -116 50, -116 52, -118 52, -118 50))'"
SHIFTED = "geography'POLYGON ((-117 50, -115 50, -115 52, -117 52, -117 50))'"
CORNER = "geography'POLYGON ((-117.05 51.05, -116 51.05, -116 52, -117.05 52, -117.05 51.05))'"
LOCATION_FUNCTIONS = [
    (f"geo.intersects(location, {SQUARE})", [1]),
    ("geo.distance(location, geography'POINT (-117.05 51.05)') lt 1", [1]),
    ("geo.distance(location, geography'POINT (-117.05 51.05)') gt 10", [2]),
    ("geo.length(geography'LINESTRING (0 0, 3 4)') eq 5", [1, 2]),
    (f"st_within(location, {SQUARE})", [1]),
    (f"st_contains({SQUARE}, location)", [1]),
    (f"st_intersects(location, {SQUARE})", [1]),
    (f"st_disjoint(location, {SQUARE})", [2]),
    ("st_equals(location, geography'POINT (-100.05 50.05)')", [2]),
    (f"st_touches(location, {CORNER})", [1]),
    (f"st_overlaps({SHIFTED}, {SQUARE}) and st_intersects(location, {SQUARE})", [1]),
    (f"st_crosses(geography'LINESTRING (-119 51, -117 51)', {SQUARE})", [1, 2]),
    (f"st_relate(location, {SQUARE}, 'T********')", [1]),
]


BAD_QUERIES = [
    "Things?$top=-1",
    "Things?$top=abc",
    "Things?$skip=-1",
    "Things?$count=maybe",
    "Things?$orderby=nosuch",
    "Things?$orderby=name sideways",
    "Things?$select=nosuch",
    "Things?$expand=NoSuch",
    "Things?$expand=Datastreams($top=x)",
    "Things?$filter=name eq",
    "Things?$filter=nosuch eq 1",
    "Things?$filter=name eq 'unterminated",
    "Things?$filter=nosuchfunction(name) eq 1",
]
