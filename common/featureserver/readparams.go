package main

import (
	"strconv"
	"strings"
	"time"
)

// readAt is when a request reads its features: at ms (epoch millis; now unless the request
// gives as_of), or, with at=last_event, the stored vectors as of each key's last event.
type readAt struct {
	lastEvent bool
	ms        int64
}

// parseReadAt reads the request parameters as_of (empty: absent) and at.
func parseReadAt(asOf, at string, nowMs int64) (readAt, error) {
	switch at {
	case "":
	case "last_event":
		if asOf != "" {
			return readAt{}, badf("as_of and at=last_event exclude each other")
		}
		return readAt{lastEvent: true}, nil
	default:
		return readAt{}, badf("at=%q: the only value is \"last_event\" (without at, features are read at as_of, default now)", at)
	}
	if asOf == "" {
		return readAt{ms: nowMs}, nil
	}
	ms, err := parseAsOf(asOf, nowMs)
	return readAt{ms: ms}, err
}

// asOfLayouts are the ISO-8601 forms with a zone accepted besides RFC 3339.
var asOfLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999Z0700",
}

// parseAsOf is a read time: epoch millis, or RFC 3339 / ISO-8601 with a zone; not after now.
func parseAsOf(text string, nowMs int64) (int64, error) {
	ms, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		parsed := false
		for _, layout := range asOfLayouts {
			if at, perr := time.Parse(layout, text); perr == nil {
				ms, parsed = at.UnixMilli(), true
				break
			}
		}
		if !parsed {
			hint := ""
			if _, perr := time.Parse("2006-01-02T15:04:05.999999999", text); perr == nil || !strings.ContainsAny(text, "Zz+") {
				hint = " (a time needs its zone, e.g. Z or +00:00)"
			}
			return 0, badf("as_of %q is neither epoch milliseconds nor an ISO-8601 time with a zone like 2026-12-02T10:00:00Z%s", text, hint)
		}
	}
	if ms > nowMs {
		return 0, badf("as_of %s (%s) is later than now (%s): features are read at present or past times",
			text, isoMillis(ms), isoMillis(nowMs))
	}
	return ms, nil
}
