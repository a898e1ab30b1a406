/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Address and port rewrites of a packet with its checksums kept right: the IPv4 header checksum
 * (bpf_l3_csum_replace) and the TCP/UDP checksum, whose pseudo header covers the addresses
 * (bpf_l4_csum_replace with BPF_F_PSEUDO_HDR, so a CHECKSUM_PARTIAL packet from a pod's stack,
 * whose checksum field holds only the pseudo header sum, stays right too). A UDP checksum of 0
 * (IPv4: none computed) stays 0 (BPF_F_MARK_MANGLED_0), and a computed one that comes out as 0 is
 * written as 0xffff. Offsets count from the start of the frame. Used for service translation
 * (DNAT), reverse translation and source NAT, by bpf_lxc and bpf_host.
 * Each function returns 0, or -1 when the kernel refused a write (the packet is then dropped). */
#ifndef CELLIUM_NAT_RW_H
#define CELLIUM_NAT_RW_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

#include "cellium/ct.h"

/* Where a packet's L4 header and its checksum are. */
struct l4_hdr {
	__u32 off;       /* the TCP/UDP header */
	__u32 csum_off;  /* its checksum field */
	__u8 proto;      /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 pad[3];
};

#define IPV4_SADDR_OFF (ETH_HLEN + offsetof(struct iphdr, saddr))
#define IPV4_DADDR_OFF (ETH_HLEN + offsetof(struct iphdr, daddr))
#define IPV4_CSUM_OFF (ETH_HLEN + offsetof(struct iphdr, check))
#define IPV6_SADDR_OFF (ETH_HLEN + offsetof(struct ipv6hdr, saddr))
#define IPV6_DADDR_OFF (ETH_HLEN + offsetof(struct ipv6hdr, daddr))
/* TCP and UDP both start with the source and destination ports. */
#define L4_SPORT_OFF 0
#define L4_DPORT_OFF 2

/* The L4 description of a TCP or UDP header at `off`. */
static __always_inline void l4_hdr_at(struct l4_hdr *l4, __u8 proto, __u32 off)
{
	l4->off = off;
	l4->proto = proto;
	l4->csum_off = off + (proto == IPPROTO_TCP ? 16 : 6);
}

static __always_inline __u64 l4_csum_flags(const struct l4_hdr *l4)
{
	return l4->proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
}

/* Replaces an IPv4 address (at IPV4_SADDR_OFF or IPV4_DADDR_OFF) `from` with `to`. */
static __always_inline int nat4_rewrite_addr(struct __sk_buff *skb, const struct l4_hdr *l4,
					     __u32 addr_off, __be32 from, __be32 to)
{
	if (from == to)
		return 0;
	if (bpf_l4_csum_replace(skb, l4->csum_off, from, to,
				BPF_F_PSEUDO_HDR | sizeof(to) | l4_csum_flags(l4)) < 0)
		return -1;
	if (bpf_l3_csum_replace(skb, IPV4_CSUM_OFF, from, to, sizeof(to)) < 0)
		return -1;
	return bpf_skb_store_bytes(skb, addr_off, &to, sizeof(to), 0) < 0 ? -1 : 0;
}

/* Replaces an IPv6 address (at IPV6_SADDR_OFF or IPV6_DADDR_OFF) `from` with `to`. */
static __always_inline int nat6_rewrite_addr(struct __sk_buff *skb, const struct l4_hdr *l4,
					     __u32 addr_off, const __u8 *from, const __u8 *to)
{
	__u8 old[16], new[16];
	__s64 diff;

	__builtin_memcpy(old, from, 16);
	__builtin_memcpy(new, to, 16);
	diff = bpf_csum_diff((__be32 *)old, 16, (__be32 *)new, 16, 0);
	if (diff < 0)
		return -1;
	if (bpf_l4_csum_replace(skb, l4->csum_off, 0, diff, BPF_F_PSEUDO_HDR | l4_csum_flags(l4)) < 0)
		return -1;
	return bpf_skb_store_bytes(skb, addr_off, new, 16, 0) < 0 ? -1 : 0;
}

/* Replaces the L4 port at `port_off` (L4_SPORT_OFF, L4_DPORT_OFF) `from` with `to`. */
static __always_inline int nat_rewrite_port(struct __sk_buff *skb, const struct l4_hdr *l4,
					    __u32 port_off, __be16 from, __be16 to)
{
	if (from == to)
		return 0;
	if (bpf_l4_csum_replace(skb, l4->csum_off, from, to, sizeof(to) | l4_csum_flags(l4)) < 0)
		return -1;
	return bpf_skb_store_bytes(skb, l4->off + port_off, &to, sizeof(to), 0) < 0 ? -1 : 0;
}

/* Rewrites a packet whose addresses and ports are `from` (as on the wire) to `to`: only what
 * differs is written. */
static __always_inline int nat4_rewrite(struct __sk_buff *skb, const struct l4_hdr *l4,
					const struct ipv4_ct_tuple *from,
					const struct ipv4_ct_tuple *to)
{
	if (nat4_rewrite_addr(skb, l4, IPV4_SADDR_OFF, from->saddr, to->saddr) ||
	    nat4_rewrite_addr(skb, l4, IPV4_DADDR_OFF, from->daddr, to->daddr) ||
	    nat_rewrite_port(skb, l4, L4_SPORT_OFF, from->sport, to->sport) ||
	    nat_rewrite_port(skb, l4, L4_DPORT_OFF, from->dport, to->dport))
		return -1;
	return 0;
}

/* (Copied to words first: the tuples are packed, so their addresses may sit unaligned.) */
static __always_inline int nat6_addr_differs(const __u8 *a, const __u8 *b)
{
	__u32 x[4], y[4];

	__builtin_memcpy(x, a, 16);
	__builtin_memcpy(y, b, 16);
	return (x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]);
}

static __always_inline int nat6_rewrite(struct __sk_buff *skb, const struct l4_hdr *l4,
					const struct ipv6_ct_tuple *from,
					const struct ipv6_ct_tuple *to)
{
	if (nat6_addr_differs(from->saddr, to->saddr) &&
	    nat6_rewrite_addr(skb, l4, IPV6_SADDR_OFF, from->saddr, to->saddr))
		return -1;
	if (nat6_addr_differs(from->daddr, to->daddr) &&
	    nat6_rewrite_addr(skb, l4, IPV6_DADDR_OFF, from->daddr, to->daddr))
		return -1;
	if (nat_rewrite_port(skb, l4, L4_SPORT_OFF, from->sport, to->sport) ||
	    nat_rewrite_port(skb, l4, L4_DPORT_OFF, from->dport, to->dport))
		return -1;
	return 0;
}

#endif
