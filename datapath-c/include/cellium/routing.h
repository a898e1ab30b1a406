/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Pod traffic between nodes: how bpf_lxc learns the routing mode (cellium_routing, written by the
 * agent's routing cell), and how bpf_overlay hands a packet's source identity, taken from the
 * VXLAN header, to the receiving endpoint's cil_to_container (the identity mark). */
#ifndef CELLIUM_ROUTING_H
#define CELLIUM_ROUTING_H

#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

#include "cellium/maps.h"

#define ROUTING_NATIVE 0 /* other nodes' pods are reached through the host's routes */
#define ROUTING_TUNNEL 1 /* encapsulated towards the ipcache's tunnel endpoint */

/* cellium_routing[0]: one entry, read per packet leaving an endpoint for another node. A pinned
 * map, so every attached bpf_lxc sees a change (a restart in another mode, the device made
 * again) at once, without being reloaded. */
struct routing_config {
	__u32 mode;          /* ROUTING_* */
	__u32 tunnel_ifindex; /* cellium_vxlan (0: none yet: packets go to the stack) */
	__u32 node_ipv4;     /* this node's underlay IPv4, network order: never a tunnel peer */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct routing_config);
	__uint(max_entries, 1);
} cellium_routing SEC(".maps");

static __always_inline struct routing_config *routing_config(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&cellium_routing, &zero);
}

/* The TTL of the outer header (IPDEFTTL, as Cilium's). */
#define TUNNEL_TTL 64

/* skb->mark of a packet bpf_overlay delivers to an endpoint: the source identity the VXLAN
 * header carried, laid out as Cilium's identity mark (the identity's low 16 bits in the mark's
 * upper half, its bits 16..23 in the lowest byte, the magic in bits 8..11). Cilium's magic for
 * it is 0x0F00, which this datapath gave MARK_MAGIC_CT_DONE (ct_track.h), so it is 0x0D00 here.
 * cil_to_container takes the identity from it instead of the ipcache, and clears the mark. */
#define MARK_MAGIC_IDENTITY 0x0D00
#define MARK_MAGIC_MASK 0x0F00

static __always_inline __u32 identity_mark(__u32 identity)
{
	return ((identity & 0xFFFF) << 16) | MARK_MAGIC_IDENTITY | ((identity >> 16) & 0xFF);
}

/* The identity an identity mark carries, 0 when the mark is no identity mark. */
static __always_inline __u32 identity_of_mark(__u32 mark)
{
	if ((mark & MARK_MAGIC_MASK) != MARK_MAGIC_IDENTITY)
		return 0;
	return ((mark & 0xFF) << 16) | (mark >> 16);
}

#endif
