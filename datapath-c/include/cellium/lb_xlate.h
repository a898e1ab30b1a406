/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Service translation decided per flow, with connection tracking: which backend a client's
 * packet to a frontend goes to (and what the packet looks like after), and what a reply from the
 * backend must look like for the client to accept it. The caller parses the packet into a tuple,
 * looks the frontend up (lb_select.h) and rewrites the packet (nat_rw.h) with what these decide.
 * Shared by bpf_lxc (pods) and bpf_host (NodePort, from outside the node).
 *
 * A flow to a service leaves two entries (ct.h):
 *   TUPLE_F_SERVICE  client -> frontend, as the client sent it: the backend chosen (rx_bytes, i.e.
 *                    ct_backend_id), the service (rev_nat_index), tx counters, and the state and
 *                    lifetime of the OUT entry below as of the client's last packet.
 *   TUPLE_F_OUT      client -> backend, as translated: the service replies are reverse-translated
 *                    from (rev_nat_index), CT_F_LB_LOOPBACK for a hairpin, counters both ways.
 * Every packet of the flow goes to the SERVICE entry's backend while that backend exists in the
 * backends map, whatever its state: so an established connection to a terminating backend keeps
 * flowing, while new flows only ever pick one of the `count` active slots. A new flow is one
 * without a live SERVICE entry, or whose entry names another service (the frontend was reused),
 * or a TCP SYN on a closed one. It takes the client's affinity backend (SVC_FLAG_AFFINITY, while
 * fresh and allowed by cellium_lb_affinity_match), else lb{4,6}_select_backend_id over the hash
 * of its 5-tuple (Maglev or random); either way only an active backend (BE_STATE_ACTIVE): a
 * stale affinity entry or Maglev table naming another falls back to a random active slot.
 * Affinity is refreshed by every packet of the flow.
 *
 * Hairpin (IPv4 only, as in Cilium): a pod whose flow lands on itself would get a packet from
 * its own address, which Linux drops; the source becomes IPV4_LOOPBACK instead (the OUT entry is
 * then IPV4_LOOPBACK -> backend with CT_F_LB_LOOPBACK), and the reply's destination is put back to
 * the pod. An IPv6 flow to itself is translated like any other and does not work. NodePort flows
 * (ct_flags with CT_F_NODE_PORT, from bpf_host) are not hairpinned. */
#ifndef CELLIUM_LB_XLATE_H
#define CELLIUM_LB_XLATE_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/types.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "cellium/common.h"
#include "cellium/ct.h"
#include "cellium/ct_track.h"
#include "cellium/lb.h"
#include "cellium/lb_select.h"
#include "cellium/metrics.h"

/* The source of a hairpinned IPv4 flow: 169.254.42.1, as Cilium's IPV4_LOOPBACK. */
#define IPV4_LOOPBACK bpf_htonl(0xa9fe2a01)

/* What a translation decided: the packet's addresses and ports afterwards (`to`, as on the
 * wire; its flags are unused), the backend and the service. */
struct lb4_xlate {
	struct ipv4_ct_tuple to;
	__u32 backend_id;
	__u16 rev_nat_index;
	__u8 loopback;
	__u8 pad;
};

struct lb6_xlate {
	struct ipv6_ct_tuple to;
	__u32 backend_id;
	__u16 rev_nat_index;
	__u8 pad[2];
};

/* Whether a service entry may no longer decide for this packet: a TCP SYN on a closed flow is a
 * new connection on the same tuple. */
static __always_inline int lb_flow_reopens(const struct ct_entry *se, const struct ct_pkt *p)
{
	return p->tcp && (p->flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN &&
	       (se->flags & CT_F_CLOSING);
}

/* Keeps a flow's SERVICE entry in step with the packet just tracked in its OUT entry `oe`. */
static __always_inline void lb_service_entry_sync(struct ct_entry *se, const struct ct_entry *oe,
						  const struct ct_pkt *p, __u32 backend_id,
						  __u16 rev_nat_index)
{
	se->ct_backend_id = backend_id;
	se->rev_nat_index = rev_nat_index;
	__sync_fetch_and_add(&se->tx_packets, 1);
	__sync_fetch_and_add(&se->tx_bytes, p->len);
	se->tx_flags_seen = oe->tx_flags_seen;
	se->flags = oe->flags;
	se->last_tx_report = oe->last_tx_report;
	se->lifetime = oe->lifetime;
}

/* A new flow falls back to a random active slot when the Maglev table names a backend that is
 * not active (a table a moment older than the backend's state): new flows only ever go to
 * active backends. */
/* Translates a client's packet `t` (as on the wire: client -> frontend) for the service `svc`
 * found with `key` (lb4_lookup_service): picks the backend, tracks the flow (`ct_flags` go on the
 * OUT entry, e.g. CT_F_NODE_PORT) and fills `x`. Returns 0, or the drop reason: REASON_NO_SERVICE
 * when there is no backend to pick, REASON_CT_CREATE_FAILED when the flow cannot be tracked. */
static __always_inline int lb4_local(struct lb4_key *key, const struct lb4_service *svc,
				     const struct ipv4_ct_tuple *t, const struct ct_pkt *p,
				     __u16 ct_flags, struct lb4_xlate *x)
{
	struct lb4_affinity_key akey = {};
	struct ipv4_ct_tuple skey = *t;
	void *map = ct4_map(t->nexthdr);
	struct lb4_backend *be = NULL;
	struct ct_entry *se, *oe;
	__u32 now = bpf_now_sec();
	__u32 id = 0;

	skey.flags = TUPLE_F_SERVICE;
	akey.client_id.client_ip = t->saddr;
	akey.rev_nat_id = svc->rev_nat_index;

	se = ct_lookup(map, &skey, now);
	if (se && se->rev_nat_index == svc->rev_nat_index && !lb_flow_reopens(se, p)) {
		id = se->ct_backend_id;
		be = lb4_lookup_backend(id);
		if (!be)
			account(REASON_LB_NO_BACKEND, METRIC_SERVICE, p->len);
	}
	if (!be && (svc->flags & SVC_FLAG_AFFINITY)) {
		id = lb4_affinity_backend_id(svc, &akey);
		be = lb4_lookup_backend(id);
		if (be && be->flags != BE_STATE_ACTIVE)
			be = NULL; /* terminating since it was chosen: no new flows */
	}
	if (!be) {
		id = lb4_select_backend_id(key, svc, flow_hash4(t->saddr, t->daddr, t->sport,
								 t->dport, t->nexthdr));
		be = lb4_lookup_backend(id);
		if (be && be->flags != BE_STATE_ACTIVE) {
			id = lb4_slot_backend_id(key, svc, bpf_get_prandom_u32());
			be = lb4_lookup_backend(id);
		}
		if (!be) {
			if (svc->count)
				account(REASON_LB_NO_BACKEND_SLOT, METRIC_SERVICE, p->len);
			return REASON_NO_SERVICE;
		}
	}
	if (svc->flags & SVC_FLAG_AFFINITY)
		lb4_update_affinity(&akey, id);

	x->backend_id = id;
	x->rev_nat_index = svc->rev_nat_index;
	x->to = *t;
	x->to.flags = 0;
	x->to.daddr = be->address;
	if (be->port)
		x->to.dport = be->port;
	/* A NodePort flow (CT_F_NODE_PORT) is never hairpinned: bpf_host source-NATs a client that
	 * is the backend itself to a node address instead. */
	x->loopback = !(ct_flags & CT_F_NODE_PORT) && t->saddr == be->address;
	if (x->loopback)
		x->to.saddr = IPV4_LOOPBACK;

	oe = ct4_track_out(&x->to, p, svc->rev_nat_index,
			   ct_flags | (x->loopback ? CT_F_LB_LOOPBACK : 0), now);
	if (!oe)
		return REASON_CT_CREATE_FAILED;
	/* Looked up again: creating the OUT entry may have evicted entries of this LRU map. */
	se = se ? bpf_map_lookup_elem(map, &skey) : NULL;
	if (!se)
		se = ct_create(map, &skey, svc->rev_nat_index, 0);
	if (!se)
		return REASON_CT_CREATE_FAILED;
	lb_service_entry_sync(se, oe, p, id, svc->rev_nat_index);
	return 0;
}

static __always_inline int lb6_local(struct lb6_key *key, const struct lb6_service *svc,
				     const struct ipv6_ct_tuple *t, const struct ct_pkt *p,
				     __u16 ct_flags, struct lb6_xlate *x)
{
	struct lb6_affinity_key akey = {};
	struct ipv6_ct_tuple skey = *t;
	void *map = ct6_map(t->nexthdr);
	struct lb6_backend *be = NULL;
	struct ct_entry *se, *oe;
	__u32 now = bpf_now_sec();
	__u32 id = 0;

	skey.flags = TUPLE_F_SERVICE;
	__builtin_memcpy(akey.client_id.client_ip, t->saddr, 16);
	akey.rev_nat_id = svc->rev_nat_index;

	se = ct_lookup(map, &skey, now);
	if (se && se->rev_nat_index == svc->rev_nat_index && !lb_flow_reopens(se, p)) {
		id = se->ct_backend_id;
		be = lb6_lookup_backend(id);
		if (!be)
			account(REASON_LB_NO_BACKEND, METRIC_SERVICE, p->len);
	}
	if (!be && (svc->flags & SVC_FLAG_AFFINITY)) {
		id = lb6_affinity_backend_id(svc, &akey);
		be = lb6_lookup_backend(id);
		if (be && be->flags != BE_STATE_ACTIVE)
			be = NULL;
	}
	if (!be) {
		__u32 sa[4], da[4];

		__builtin_memcpy(sa, t->saddr, 16); /* the tuple is packed: no word access */
		__builtin_memcpy(da, t->daddr, 16);
		id = lb6_select_backend_id(key, svc,
					   flow_hash6(sa, da, t->sport, t->dport, t->nexthdr));
		be = lb6_lookup_backend(id);
		if (be && be->flags != BE_STATE_ACTIVE) {
			id = lb6_slot_backend_id(key, svc, bpf_get_prandom_u32());
			be = lb6_lookup_backend(id);
		}
		if (!be) {
			if (svc->count)
				account(REASON_LB_NO_BACKEND_SLOT, METRIC_SERVICE, p->len);
			return REASON_NO_SERVICE;
		}
	}
	if (svc->flags & SVC_FLAG_AFFINITY)
		lb6_update_affinity(&akey, id);

	x->backend_id = id;
	x->rev_nat_index = svc->rev_nat_index;
	x->to = *t;
	x->to.flags = 0;
	__builtin_memcpy(x->to.daddr, be->address, 16);
	if (be->port)
		x->to.dport = be->port;

	oe = ct6_track_out(&x->to, p, svc->rev_nat_index, ct_flags, now);
	if (!oe)
		return REASON_CT_CREATE_FAILED;
	se = se ? bpf_map_lookup_elem(map, &skey) : NULL;
	if (!se)
		se = ct_create(map, &skey, svc->rev_nat_index, 0);
	if (!se)
		return REASON_CT_CREATE_FAILED;
	lb_service_entry_sync(se, oe, p, id, svc->rev_nat_index);
	return 0;
}

/* For a reply `t` (as on the wire) to a flow whose OUT entry `e` names a service: what the reply
 * must look like (`x->to`): from the frontend, and, for a hairpinned flow, to the client again.
 * Returns -1 when the service has no reverse NAT entry any more (the reply is left alone). */
static __always_inline int lb4_rev_nat(const struct ct_entry *e, const struct ipv4_ct_tuple *t,
				       struct lb4_xlate *x)
{
	struct lb_rev_nat_key k = { .rev_nat_index = e->rev_nat_index };
	struct lb4_reverse_nat *nat = bpf_map_lookup_elem(&cellium_lb4_reverse_nat, &k);

	if (!nat)
		return -1;
	x->to = *t;
	x->to.flags = 0;
	x->to.saddr = nat->address;
	if (nat->port)
		x->to.sport = nat->port;
	x->loopback = !!(e->flags & CT_F_LB_LOOPBACK);
	if (x->loopback)
		x->to.daddr = t->saddr; /* the client is the backend itself */
	x->rev_nat_index = e->rev_nat_index;
	x->backend_id = 0;
	return 0;
}

static __always_inline int lb6_rev_nat(const struct ct_entry *e, const struct ipv6_ct_tuple *t,
				       struct lb6_xlate *x)
{
	struct lb_rev_nat_key k = { .rev_nat_index = e->rev_nat_index };
	struct lb6_reverse_nat *nat = bpf_map_lookup_elem(&cellium_lb6_reverse_nat, &k);

	if (!nat)
		return -1;
	x->to = *t;
	x->to.flags = 0;
	__builtin_memcpy(x->to.saddr, nat->address, 16);
	if (nat->port)
		x->to.sport = nat->port;
	x->rev_nat_index = e->rev_nat_index;
	x->backend_id = 0;
	return 0;
}

/* A non-service packet (as on the wire) that opens a flow on a tuple whose OUT entry still names
 * a service is a new flow on an old tuple (the service flow ended, its entry not collected yet):
 * the entry is dropped so the flow's replies are not reverse-translated. */
static __always_inline void ct4_forget_service_flow(const struct ipv4_ct_tuple *t, __u32 now)
{
	struct ipv4_ct_tuple key = *t;
	void *map = ct4_map(t->nexthdr);
	struct ct_entry *e;

	key.flags = TUPLE_F_OUT;
	e = ct_lookup(map, &key, now);
	if (e && e->rev_nat_index)
		bpf_map_delete_elem(map, &key);
}

static __always_inline void ct6_forget_service_flow(const struct ipv6_ct_tuple *t, __u32 now)
{
	struct ipv6_ct_tuple key = *t;
	void *map = ct6_map(t->nexthdr);
	struct ct_entry *e;

	key.flags = TUPLE_F_OUT;
	e = ct_lookup(map, &key, now);
	if (e && e->rev_nat_index)
		bpf_map_delete_elem(map, &key);
}

#endif
