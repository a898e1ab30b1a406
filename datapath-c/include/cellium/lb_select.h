/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Service lookup and backend selection, shared by bpf_lxc (pods), bpf_host (from outside the
 * node) and bpf_sock (host processes' sockets). Nothing here touches a packet: callers fill a
 * key from what they see, and translate with what these return. */
#ifndef CELLIUM_LB_SELECT_H
#define CELLIUM_LB_SELECT_H

#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

#include "cellium/common.h"
#include "cellium/lb.h"

/* The frontend `key` names (address, dport and proto filled in by the caller): the master entry
 * of that protocol, else of any protocol. `in_cluster` (traffic from a pod or a host process)
 * switches to the INT scope of a service with two sets of backends. On a hit, key->proto and
 * key->scope are those of the entry found (slot lookups use them); key->backend_slot is 0. */
static __always_inline struct lb4_service *lb4_lookup_service(struct lb4_key *key, int in_cluster)
{
	struct lb4_service *svc;
	__u8 proto = key->proto;

	key->backend_slot = 0;
	key->scope = LB_LOOKUP_SCOPE_EXT;
	svc = bpf_map_lookup_elem(&cellium_lb4_services_v2, key);
	if (!svc && proto) {
		key->proto = 0;
		svc = bpf_map_lookup_elem(&cellium_lb4_services_v2, key);
		if (!svc) {
			key->proto = proto;
			return NULL;
		}
	}
	if (svc && in_cluster && (svc->flags2 & SVC_FLAG_TWO_SCOPES)) {
		key->scope = LB_LOOKUP_SCOPE_INT;
		svc = bpf_map_lookup_elem(&cellium_lb4_services_v2, key);
	}
	return svc;
}

static __always_inline struct lb6_service *lb6_lookup_service(struct lb6_key *key, int in_cluster)
{
	struct lb6_service *svc;
	__u8 proto = key->proto;

	key->backend_slot = 0;
	key->scope = LB_LOOKUP_SCOPE_EXT;
	svc = bpf_map_lookup_elem(&cellium_lb6_services_v2, key);
	if (!svc && proto) {
		key->proto = 0;
		svc = bpf_map_lookup_elem(&cellium_lb6_services_v2, key);
		if (!svc) {
			key->proto = proto;
			return NULL;
		}
	}
	if (svc && in_cluster && (svc->flags2 & SVC_FLAG_TWO_SCOPES)) {
		key->scope = LB_LOOKUP_SCOPE_INT;
		svc = bpf_map_lookup_elem(&cellium_lb6_services_v2, key);
	}
	return svc;
}

static __always_inline struct lb4_backend *lb4_lookup_backend(__u32 backend_id)
{
	struct lb_backend_key key = { .backend_id = backend_id };

	return backend_id ? bpf_map_lookup_elem(&cellium_lb4_backends_v3, &key) : NULL;
}

static __always_inline struct lb6_backend *lb6_lookup_backend(__u32 backend_id)
{
	struct lb_backend_key key = { .backend_id = backend_id };

	return backend_id ? bpf_map_lookup_elem(&cellium_lb6_backends_v3, &key) : NULL;
}

/* The backend of a Maglev table entry for `hash`, or 0 (no table: the caller falls back). */
static __always_inline __u32 lb_maglev_backend_id(void *outer, __u16 rev_nat_index, __u32 hash)
{
	struct lb_maglev_key mk = { .rev_nat_id = rev_nat_index };
	struct lb_config *cfg;
	__u32 zero = 0, idx;
	__u32 *id;
	void *table;

	cfg = bpf_map_lookup_elem(&cellium_lb_config, &zero);
	if (!cfg || !cfg->maglev_lut_size)
		return 0;
	table = bpf_map_lookup_elem(outer, &mk);
	if (!table)
		return 0;
	idx = hash % cfg->maglev_lut_size;
	id = bpf_map_lookup_elem(table, &idx);
	return id ? *id : 0;
}

/* The backend in slot (pick % count) + 1 of a service: slots 1..count hold its active backends,
 * the terminating ones come after (0: no active backend). */
static __always_inline __u32 lb4_slot_backend_id(struct lb4_key *key,
						 const struct lb4_service *svc, __u32 pick)
{
	struct lb4_service *slot;

	if (!svc->count)
		return 0;
	key->backend_slot = (pick % svc->count) + 1;
	slot = bpf_map_lookup_elem(&cellium_lb4_services_v2, key);
	key->backend_slot = 0;
	return slot ? slot->backend_id : 0;
}

static __always_inline __u32 lb6_slot_backend_id(struct lb6_key *key,
						 const struct lb6_service *svc, __u32 pick)
{
	struct lb6_service *slot;

	if (!svc->count)
		return 0;
	key->backend_slot = (pick % svc->count) + 1;
	slot = bpf_map_lookup_elem(&cellium_lb6_services_v2, key);
	key->backend_slot = 0;
	return slot ? slot->backend_id : 0;
}

/* A backend for a new flow to `svc` (the master entry `key` found): from the service's Maglev
 * table by `hash` when it uses Maglev, else a random one of its active slots 1..count. 0 when
 * the service has no active backend. */
static __always_inline __u32 lb4_select_backend_id(struct lb4_key *key,
						   const struct lb4_service *svc, __u32 hash)
{
	__u32 id;

	if (!svc->count)
		return 0;
	if ((svc->backend_id >> LB_ALGORITHM_SHIFT) == LB_ALGORITHM_MAGLEV) {
		id = lb_maglev_backend_id(&cellium_lb4_maglev, svc->rev_nat_index, hash);
		if (id)
			return id;
	}
	return lb4_slot_backend_id(key, svc, bpf_get_prandom_u32());
}

static __always_inline __u32 lb6_select_backend_id(struct lb6_key *key,
						   const struct lb6_service *svc, __u32 hash)
{
	__u32 id;

	if (!svc->count)
		return 0;
	if ((svc->backend_id >> LB_ALGORITHM_SHIFT) == LB_ALGORITHM_MAGLEV) {
		id = lb_maglev_backend_id(&cellium_lb6_maglev, svc->rev_nat_index, hash);
		if (id)
			return id;
	}
	return lb6_slot_backend_id(key, svc, bpf_get_prandom_u32());
}

/* Session affinity: the backend this client used for the service within its timeout (and that
 * affinity may still pick), or 0. A stale or no longer allowed choice is forgotten. */
static __always_inline __u32 lb4_affinity_backend_id(const struct lb4_service *svc,
						     const struct lb4_affinity_key *key)
{
	struct lb_affinity_match match = {};
	struct lb_affinity_val *val;
	__u32 timeout = svc->backend_id & LB_AFFINITY_TIMEOUT_MASK;
	__u32 now = bpf_now_sec();

	val = bpf_map_lookup_elem(&cellium_lb4_affinity, key);
	if (!val)
		return 0;
	match.backend_id = val->backend_id;
	match.rev_nat_id = svc->rev_nat_index;
	if (now - val->last_used > timeout || !bpf_map_lookup_elem(&cellium_lb_affinity_match, &match)) {
		bpf_map_delete_elem(&cellium_lb4_affinity, key);
		return 0;
	}
	val->last_used = now;
	return val->backend_id;
}

static __always_inline void lb4_update_affinity(const struct lb4_affinity_key *key, __u32 backend_id)
{
	struct lb_affinity_val val = { .last_used = bpf_now_sec(), .backend_id = backend_id };

	bpf_map_update_elem(&cellium_lb4_affinity, key, &val, BPF_ANY);
}

static __always_inline __u32 lb6_affinity_backend_id(const struct lb6_service *svc,
						     const struct lb6_affinity_key *key)
{
	struct lb_affinity_match match = {};
	struct lb_affinity_val *val;
	__u32 timeout = svc->backend_id & LB_AFFINITY_TIMEOUT_MASK;
	__u32 now = bpf_now_sec();

	val = bpf_map_lookup_elem(&cellium_lb6_affinity, key);
	if (!val)
		return 0;
	match.backend_id = val->backend_id;
	match.rev_nat_id = svc->rev_nat_index;
	if (now - val->last_used > timeout || !bpf_map_lookup_elem(&cellium_lb_affinity_match, &match)) {
		bpf_map_delete_elem(&cellium_lb6_affinity, key);
		return 0;
	}
	val->last_used = now;
	return val->backend_id;
}

static __always_inline void lb6_update_affinity(const struct lb6_affinity_key *key, __u32 backend_id)
{
	struct lb_affinity_val val = { .last_used = bpf_now_sec(), .backend_id = backend_id };

	bpf_map_update_elem(&cellium_lb6_affinity, key, &val, BPF_ANY);
}

/* loadBalancerSourceRanges: whether a client may reach `svc` from `saddr` (network order). Only
 * services with SVC_FLAG_SOURCE_RANGE check; their allowed CIDRs are in
 * cellium_lb{4,6}_source_range under the service id (prefixlen: the 32 bits of rev_nat_id and pad,
 * then the address's). */
static __always_inline int lb4_src_range_ok(const struct lb4_service *svc, __be32 saddr)
{
	struct lb4_src_range_key key = {
		.prefixlen = 32 + 32,
		.rev_nat_id = svc->rev_nat_index,
		.addr = saddr,
	};

	if (!(svc->flags & SVC_FLAG_SOURCE_RANGE))
		return 1;
	return bpf_map_lookup_elem(&cellium_lb4_source_range, &key) != NULL;
}

static __always_inline int lb6_src_range_ok(const struct lb6_service *svc, const __u8 *saddr)
{
	struct lb6_src_range_key key = {
		.prefixlen = 32 + 128,
		.rev_nat_id = svc->rev_nat_index,
	};

	if (!(svc->flags & SVC_FLAG_SOURCE_RANGE))
		return 1;
	__builtin_memcpy(key.addr, saddr, 16);
	return bpf_map_lookup_elem(&cellium_lb6_source_range, &key) != NULL;
}

#endif
