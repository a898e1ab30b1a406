/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Small helpers every program shares: the clock the agent reads too, and a flow hash. */
#ifndef CELLIUM_COMMON_H
#define CELLIUM_COMMON_H

#include <linux/types.h>
#include <bpf/bpf_helpers.h>

/* Seconds of CLOCK_MONOTONIC: what CT lifetimes and affinity timestamps count in (the agent's
 * garbage collector reads the same clock). */
static __always_inline __u32 bpf_now_sec(void)
{
	return (__u32)(bpf_ktime_get_ns() / 1000000000ULL);
}

/* Bob Jenkins' lookup3 final mix over three words (as the kernel's jhash_3words). */
#define cellium_rol32(x, k) (((x) << (k)) | ((x) >> (32 - (k))))

static __always_inline __u32 hash_3words(__u32 a, __u32 b, __u32 c, __u32 seed)
{
	a += 0xdeadbeef + seed;
	b += 0xdeadbeef + seed;
	c += 0xdeadbeef + seed;
	c ^= b; c -= cellium_rol32(b, 14);
	a ^= c; a -= cellium_rol32(c, 11);
	b ^= a; b -= cellium_rol32(a, 25);
	c ^= b; c -= cellium_rol32(b, 16);
	a ^= c; a -= cellium_rol32(c, 4);
	b ^= a; b -= cellium_rol32(a, 14);
	c ^= b; c -= cellium_rol32(b, 24);
	return c;
}

/* The hash of a flow's 5-tuple (ports in network order, as on the wire): Maglev picks a
 * backend from it, so every packet of a flow, and the same flow again later, lands on the same
 * backend. */
static __always_inline __u32 flow_hash4(__be32 saddr, __be32 daddr, __be16 sport, __be16 dport,
					__u8 proto)
{
	return hash_3words(saddr, daddr, ((__u32)sport << 16) | dport, proto);
}

static __always_inline __u32 flow_hash6(const __u32 *saddr, const __u32 *daddr, __be16 sport,
					__be16 dport, __u8 proto)
{
	__u32 a = saddr[0] ^ saddr[1] ^ saddr[2] ^ saddr[3];
	__u32 b = daddr[0] ^ daddr[1] ^ daddr[2] ^ daddr[3];

	return hash_3words(a, b, ((__u32)sport << 16) | dport, proto);
}

#endif
