package outbox

import (
	"math"
	"time"
)

// tokenBucket paces one room: burst Limit.Messages, one token back every
// Limit.Per·rateMargin/Limit.Messages. Unlimited when the limit is zero.
type tokenBucket struct {
	limit    Limit
	interval time.Duration
	tokens   float64
	last     time.Time
}

// tokenSlack absorbs float rounding so a token refilled "just" is usable.
const tokenSlack = 1e-9

func newTokenBucket(l Limit, now time.Time) *tokenBucket {
	b := &tokenBucket{}
	b.setLimit(l, now)
	b.tokens = float64(max(l.Messages, 0))
	return b
}

// setLimit adopts a changed limit, keeping no more tokens than the new burst.
func (b *tokenBucket) setLimit(l Limit, now time.Time) {
	if l == b.limit && !b.last.IsZero() {
		return
	}
	b.refill(now)
	b.limit = l
	b.last = now
	if l.unlimited() {
		b.interval = 0
		return
	}
	b.interval = time.Duration(float64(l.Per) * rateMargin / float64(l.Messages))
	b.tokens = math.Min(b.tokens, float64(l.Messages))
}

func (b *tokenBucket) refill(now time.Time) {
	if b.limit.unlimited() || b.interval <= 0 {
		return
	}
	if el := now.Sub(b.last); el > 0 {
		b.tokens = math.Min(float64(b.limit.Messages), b.tokens+float64(el)/float64(b.interval))
		b.last = now
	}
}

// available is how many tokens the bucket holds at now.
func (b *tokenBucket) available(now time.Time) float64 {
	if b.limit.unlimited() {
		return math.Inf(1)
	}
	b.refill(now)
	return b.tokens + tokenSlack
}

// wait is how long until a token is available (0: one is).
func (b *tokenBucket) wait(now time.Time) time.Duration {
	if b.limit.unlimited() {
		return 0
	}
	b.refill(now)
	missing := 1 - (b.tokens + tokenSlack)
	if missing <= 0 {
		return 0
	}
	return time.Duration(math.Ceil(missing * float64(b.interval)))
}

// take spends a token; call it only after wait returned 0.
func (b *tokenBucket) take(now time.Time) {
	if b.limit.unlimited() {
		return
	}
	b.refill(now)
	b.tokens = math.Max(0, b.tokens-1)
}

// resync follows a 429: the platform has one token for us at at, and its
// bucket is otherwise empty, so ours holds exactly one then.
func (b *tokenBucket) resync(at time.Time) {
	if b.limit.unlimited() {
		return
	}
	b.tokens = math.Min(1, float64(b.limit.Messages))
	b.last = at
}
