package webroom

import (
	"sync"
	"time"
)

// tokenBucket limits a rate: rate tokens a second, at most burst at once.
type tokenBucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func newBucket(rate float64, burst int, now time.Time) tokenBucket {
	return tokenBucket{rate: rate, burst: float64(burst), tokens: float64(burst), last: now}
}

func (b *tokenBucket) refill(now time.Time) {
	if now.After(b.last) {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
		b.last = now
	}
}

func (b *tokenBucket) take(now time.Time) bool {
	b.refill(now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// maxIdleBuckets is how many buckets a limiter keeps before it forgets the
// full ones (a full bucket is the same as none).
const maxIdleBuckets = 1024

// limiter is a token bucket per key (a room, a remote address), shared by
// every connection with that key. It is safe for concurrent use.
type limiter struct {
	rate  float64
	burst int

	mu      sync.Mutex
	buckets map[string]*tokenBucket
}

func newLimiter(rate float64, burst int) *limiter {
	return &limiter{rate: rate, burst: burst, buckets: map[string]*tokenBucket{}}
}

// take takes a token from key's bucket; false means key is over its rate.
func (l *limiter) take(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxIdleBuckets {
			l.forgetFull(now)
		}
		nb := newBucket(l.rate, l.burst, now)
		b = &nb
		l.buckets[key] = b
	}
	return b.take(now)
}

// forgetFull drops the buckets that have refilled: they limit nothing.
func (l *limiter) forgetFull(now time.Time) {
	for k, b := range l.buckets {
		if b.refill(now); b.tokens >= b.burst {
			delete(l.buckets, k)
		}
	}
}
