"""The statuses of the buddy feature's rows: requests, offers and pairs."""

# A request
SEARCHING = "searching"
MATCHED = "matched"
EXHAUSTED = "exhausted"
CANCELLED = "cancelled"

# An offer to a candidate
PENDING = "pending"
ACCEPTED = "accepted"
REFUSED = "refused"
EXPIRED = "expired"
WITHDRAWN = "withdrawn"

# A pair
ACTIVE = "active"
ENDED = "ended"
