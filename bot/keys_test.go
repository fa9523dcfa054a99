package bot

import (
	"fmt"
	"math/rand/v2"
)

// Entity IDs as sources send them: Alertmanager fingerprints (16 hex digits
// of a hash) and host-like names, in no order at all. Adjacent counters
// ("bench-1", "bench-2") land on the same bbolt pages and flatter every
// index keyed by entity, so benchmarks never use them.

// keyShapes makes entity IDs of one run: the n-th ID is a bijection of n
// (distinct for distinct n) salted per run, so IDs arrive in random key order.
type keyShapes struct{ salt uint64 }

func newKeyShapes() keyShapes { return keyShapes{salt: rand.Uint64()} }

// mix is splitmix64's finaliser: a bijection of uint64 that scatters neighbours.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// fingerprint is the n-th ID as Alertmanager shapes one: 16 hex digits.
func (k keyShapes) fingerprint(n int64) string {
	return fmt.Sprintf("%016x", mix(uint64(n)^k.salt))
}

var (
	hostRoles   = []string{"db", "web", "api", "cache", "queue", "search", "auth", "batch"}
	hostRegions = []string{"eu-west-1", "us-east-1", "us-west-2", "ap-south-1"}
)

// host is the n-th ID as a host name: role, a unique instance tag, region.
func (k keyShapes) host(n int64) string {
	h := mix(uint64(n) ^ k.salt)
	return fmt.Sprintf("%s-%012x.%s.prod.example.net", hostRoles[h%uint64(len(hostRoles))], h>>16, hostRegions[(h>>8)%uint64(len(hostRegions))])
}
