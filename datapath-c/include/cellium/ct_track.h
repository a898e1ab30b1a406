/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Connection tracking on the ct.h maps: finding a flow's live entry, creating one, and applying
 * a packet to it (packet and byte counters per direction, TCP flags seen, the closing state and
 * the lifetime). Nothing here parses or edits a packet: callers fill the tuple (addresses and
 * ports as on the wire) and say which way the packet goes. Shared by bpf_lxc and bpf_host.
 *
 * Lifetimes are absolute, in seconds of CLOCK_MONOTONIC (bpf_now_sec()); the agent's collector
 * deletes entries whose lifetime is below its clock. An entry past its lifetime that the
 * collector has not reached yet counts as absent here, so a new flow on an old tuple starts
 * fresh. TCP: CT_SYN_TIMEOUT until a packet without SYN is seen (CT_F_SEEN_NON_SYN: the
 * handshake's last ACK), CT_LIFETIME_TCP after that, CT_CLOSE_TIMEOUT once both sides sent a FIN
 * or either sent a RST (CT_F_TX_CLOSING for the key's sender, CT_F_RX_CLOSING for the other
 * side). A SYN on a closing entry is a new connection on the same tuple: the entry starts over.
 * Others (UDP): CT_LIFETIME_NONTCP from every packet. */
#ifndef CELLIUM_CT_TRACK_H
#define CELLIUM_CT_TRACK_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

#include "cellium/common.h"
#include "cellium/ct.h"

/* Which way a packet goes relative to the entry it is applied to. */
#define CT_TX 0 /* as the key: from its saddr to its daddr (tx_* counters, tx_flags_seen) */
#define CT_RX 1 /* a reply: from the key's daddr to its saddr (rx_* counters, rx_flags_seen) */

/* TCP flags (byte 13 of the TCP header). */
#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_ACK 0x10

#define CT_F_CLOSING (CT_F_RX_CLOSING | CT_F_TX_CLOSING)

/* skb->mark of a packet that a program has already tracked (and translated) and then redirected
 * straight to an endpoint's veth: the endpoint's cil_to_container leaves its connection tracking
 * alone (a reply would otherwise be counted, or reverse-translated, twice) and clears the mark.
 * The veth clears it anyway as the packet enters the pod's namespace. (Cilium's magic marks use
 * the same 0x0F00 nibble.) */
#define MARK_MAGIC_CT_DONE 0x0F00
/* The same from bpf_lxc's cil_from_container, which also ran the receiving endpoint's ingress
 * policy before redirecting: its cil_to_container skips the policy too. bpf_host's redirects to
 * local backends (MARK_MAGIC_CT_DONE) are checked there. */
#define MARK_MAGIC_POLICY_DONE 0x0E00

/* What a packet brings to an entry. */
struct ct_pkt {
	__u32 len;       /* bytes counted (skb->len) */
	__u8 tcp;        /* 1: a TCP segment; `flags` are its flags */
	__u8 flags;      /* TCP_FLAG_* */
	__u8 pad[2];
};

/* The map a protocol's flows live in: TCP in ct{4,6}_global, the rest in ct_any{4,6}_global. */
static __always_inline void *ct4_map(__u8 proto)
{
	return proto == IPPROTO_TCP ? (void *)&cellium_ct4_global : (void *)&cellium_ct_any4_global;
}

static __always_inline void *ct6_map(__u8 proto)
{
	return proto == IPPROTO_TCP ? (void *)&cellium_ct6_global : (void *)&cellium_ct_any6_global;
}

/* The lifetime (from now) an entry's state calls for. */
static __always_inline __u32 ct_lifetime_of(__u16 flags, int tcp)
{
	if (!tcp)
		return CT_LIFETIME_NONTCP;
	if ((flags & CT_F_CLOSING) == CT_F_CLOSING)
		return CT_CLOSE_TIMEOUT;
	if (flags & CT_F_SEEN_NON_SYN)
		return CT_LIFETIME_TCP;
	return CT_SYN_TIMEOUT;
}

/* The live entry of `key` in `map`, or NULL (absent, or expired and not collected yet). */
static __always_inline struct ct_entry *ct_lookup(void *map, const void *key, __u32 now)
{
	struct ct_entry *e = bpf_map_lookup_elem(map, key);

	return e && e->lifetime >= now ? e : NULL;
}

/* A new, empty entry for `key` (replacing whatever was there) with `flags` (CT_F_*) and the
 * service to reverse-translate replies from; NULL when the map refuses it. Apply the packet
 * that created it with ct_apply. */
static __always_inline struct ct_entry *ct_create(void *map, const void *key, __u16 rev_nat_index,
						  __u16 flags)
{
	struct ct_entry e = { .rev_nat_index = rev_nat_index, .flags = flags };

	if (bpf_map_update_elem(map, key, &e, BPF_ANY) < 0)
		return NULL;
	return bpf_map_lookup_elem(map, key);
}

/* Applies one packet going `dir` (CT_TX, CT_RX) to an entry: counters, flags seen, TCP state and
 * lifetime (see the top of this file). A TUPLE_F_SERVICE entry only ever sees CT_TX (its rx_bytes
 * holds the backend). */
static __always_inline void ct_apply(struct ct_entry *e, const struct ct_pkt *p, int dir, __u32 now)
{
	__u16 flags = e->flags;

	if (p->tcp && (p->flags & TCP_FLAG_SYN) && (flags & CT_F_CLOSING)) {
		/* A new connection on a closed tuple: policy decides it afresh. */
		flags &= ~(CT_F_CLOSING | CT_F_SEEN_NON_SYN | CT_F_POLICY);
		e->tx_flags_seen = 0;
		e->rx_flags_seen = 0;
	}
	if (dir == CT_TX) {
		__sync_fetch_and_add(&e->tx_packets, 1);
		__sync_fetch_and_add(&e->tx_bytes, p->len);
		e->tx_flags_seen |= p->flags;
		e->last_tx_report = now;
	} else {
		__sync_fetch_and_add(&e->rx_packets, 1);
		__sync_fetch_and_add(&e->rx_bytes, p->len);
		e->rx_flags_seen |= p->flags;
		e->last_rx_report = now;
	}
	if (p->tcp) {
		if (!(p->flags & TCP_FLAG_SYN))
			flags |= CT_F_SEEN_NON_SYN;
		if (p->flags & TCP_FLAG_RST)
			flags |= CT_F_CLOSING;
		else if (p->flags & TCP_FLAG_FIN)
			flags |= dir == CT_TX ? CT_F_TX_CLOSING : CT_F_RX_CLOSING;
	}
	e->flags = flags;
	e->lifetime = now + ct_lifetime_of(flags, p->tcp);
}

/* The reverse of a tuple: what a reply to it carries. */
static __always_inline void ct4_reverse(struct ipv4_ct_tuple *out, const struct ipv4_ct_tuple *t,
					__u8 flags)
{
	out->saddr = t->daddr;
	out->daddr = t->saddr;
	out->sport = t->dport;
	out->dport = t->sport;
	out->nexthdr = t->nexthdr;
	out->flags = flags;
}

static __always_inline void ct6_reverse(struct ipv6_ct_tuple *out, const struct ipv6_ct_tuple *t,
					__u8 flags)
{
	__builtin_memcpy(out->saddr, t->daddr, 16);
	__builtin_memcpy(out->daddr, t->saddr, 16);
	out->sport = t->dport;
	out->dport = t->sport;
	out->nexthdr = t->nexthdr;
	out->flags = flags;
}

/* If a packet (`t` as on the wire) is a reply to a tracked TUPLE_F_OUT flow, that flow's entry
 * with the reply applied; else NULL. */
static __always_inline struct ct_entry *ct4_reply(const struct ipv4_ct_tuple *t,
						  const struct ct_pkt *p, __u32 now)
{
	struct ipv4_ct_tuple key = {};
	struct ct_entry *e;

	ct4_reverse(&key, t, TUPLE_F_OUT);
	e = ct_lookup(ct4_map(t->nexthdr), &key, now);
	if (e)
		ct_apply(e, p, CT_RX, now);
	return e;
}

static __always_inline struct ct_entry *ct6_reply(const struct ipv6_ct_tuple *t,
						  const struct ct_pkt *p, __u32 now)
{
	struct ipv6_ct_tuple key = {};
	struct ct_entry *e;

	ct6_reverse(&key, t, TUPLE_F_OUT);
	e = ct_lookup(ct6_map(t->nexthdr), &key, now);
	if (e)
		ct_apply(e, p, CT_RX, now);
	return e;
}

/* Tracks a packet (`t` as on the wire after translation) in its flow's TUPLE_F_OUT entry, created
 * if needed; a flow's entry names the service it was translated for (0: none) and carries
 * `flags` (CT_F_LB_LOOPBACK, CT_F_NODE_PORT...), both refreshed from this packet, since a new flow
 * may reuse an old tuple. NULL when the map refuses a new entry. */
static __always_inline struct ct_entry *ct4_track_out(const struct ipv4_ct_tuple *t,
						      const struct ct_pkt *p, __u16 rev_nat_index,
						      __u16 flags, __u32 now)
{
	struct ipv4_ct_tuple key = *t;
	void *map = ct4_map(t->nexthdr);
	struct ct_entry *e;

	key.flags = TUPLE_F_OUT;
	e = ct_lookup(map, &key, now);
	if (!e)
		e = ct_create(map, &key, rev_nat_index, flags);
	if (!e)
		return NULL;
	e->rev_nat_index = rev_nat_index;
	e->flags = (e->flags & ~(CT_F_LB_LOOPBACK | CT_F_NODE_PORT)) | flags;
	ct_apply(e, p, CT_TX, now);
	return e;
}

static __always_inline struct ct_entry *ct6_track_out(const struct ipv6_ct_tuple *t,
						      const struct ct_pkt *p, __u16 rev_nat_index,
						      __u16 flags, __u32 now)
{
	struct ipv6_ct_tuple key = *t;
	void *map = ct6_map(t->nexthdr);
	struct ct_entry *e;

	key.flags = TUPLE_F_OUT;
	e = ct_lookup(map, &key, now);
	if (!e)
		e = ct_create(map, &key, rev_nat_index, flags);
	if (!e)
		return NULL;
	e->rev_nat_index = rev_nat_index;
	e->flags = (e->flags & ~(CT_F_LB_LOOPBACK | CT_F_NODE_PORT)) | flags;
	ct_apply(e, p, CT_TX, now);
	return e;
}

#endif
