/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* cellium_events: a ring buffer of what programs tell the agent (packets dropped by policy), as
 * every program declares it (the maps cell creates and pins it; cells/maps/defs.ts declares the
 * same record), and the one way to write a drop into it. */
#ifndef CELLIUM_EVENTS_H
#define CELLIUM_EVENTS_H

#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

/* cellium_events: what programs tell the agent (drops by policy), read from user space. */
#define EVENT_DROP 1

struct drop_event {
	__u8 type;          /* EVENT_DROP */
	__u8 reason;        /* REASON_* */
	__u8 dir;           /* METRIC_INGRESS or METRIC_EGRESS */
	__u8 family;        /* ENDPOINT_KEY_IPV4 or ENDPOINT_KEY_IPV6 */
	__u8 protocol;
	__u8 pad;
	__u16 endpoint;     /* the endpoint whose policy decided (its lxc id), 0 if unknown */
	__u32 src_identity;
	__u32 dst_identity;
	__u16 sport;        /* host order; the ICMP type for ICMP */
	__u16 dport;
	__u32 ifindex;
	__u32 len;
	__u8 saddr[16];
	__u8 daddr[16];
	__u32 pad2;
	__u64 timestamp;    /* ns of CLOCK_MONOTONIC */
};

#define EVENTS_MAP_SIZE (256 * 1024)

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, EVENTS_MAP_SIZE);
} cellium_events SEC(".maps");

/* Room for one event in the ring, or NULL when it is full (the event is lost, never the
 * verdict); fill it and hand it over with bpf_ringbuf_submit. */
static __always_inline struct drop_event *drop_event_reserve(void)
{
	struct drop_event *ev = bpf_ringbuf_reserve(&cellium_events, sizeof(*ev), 0);

	if (ev) {
		__builtin_memset(ev, 0, sizeof(*ev));
		ev->type = EVENT_DROP;
		ev->timestamp = bpf_ktime_get_ns();
	}
	return ev;
}

#endif
