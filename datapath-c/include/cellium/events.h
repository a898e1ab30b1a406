/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* cellium_events: the ring buffer of monitor events programs tell the agent (drops, traces,
 * policy verdicts), as Cilium's monitor notifications: every record starts with the same
 * header (type, subtype, source endpoint, interface, packet length, identities, time) and ends
 * with the first MONITOR_CAPTURE_LEN bytes of the packet. The maps cell creates and pins the maps
 * (cells/maps/monitor-maps.ts; the ring sized by --bpf-events-ring-size), the monitor cell reads
 * the ring and writes cellium_monitor_config; cells/monitor/defs.ts declares the same records.
 *
 * Drops are always reported, but for bpf_xdp's (the prefilter, the DDoS path: counted in
 * cellium_metrics, written here only while a monitor listens). Traces and policy verdicts cost a
 * lookup of cellium_monitor_config per packet and nothing more while no monitor is attached. A full ring loses the event (counted
 * per CPU in cellium_events_lost, which the agent sums), never the verdict. */
#ifndef CELLIUM_EVENTS_H
#define CELLIUM_EVENTS_H

#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

/* Message types: Cilium's MessageTypeDrop, MessageTypeTrace, MessageTypePolicyVerdict. */
#define MONITOR_DROP 1
#define MONITOR_TRACE 4
#define MONITOR_POLICY_VERDICT 5

/* The record format's version (monitor_hdr.version). */
#define MONITOR_VERSION 1
/* Bytes of the packet copied into an event (Cilium's default for drops and traces). */
#define MONITOR_CAPTURE_LEN 128

/* The program that wrote an event (monitor_hdr.prog; Cilium names the source file). */
#define MONITOR_PROG_LXC 1
#define MONITOR_PROG_HOST 2
#define MONITOR_PROG_XDP 3
#define MONITOR_PROG_OVERLAY 4

/* Observation points of traces (monitor_hdr.subtype), Cilium's numbers. */
#define TRACE_TO_LXC 0
#define TRACE_TO_STACK 3
#define TRACE_FROM_LXC 5

/* Why a packet was traced (trace_notify.reason), after Cilium's conntrack-based reasons. */
#define TRACE_REASON_UNKNOWN 0
#define TRACE_REASON_NEW 1         /* the first packet of a flow (policy checked it) */
#define TRACE_REASON_ESTABLISHED 2 /* a later packet of an admitted flow */
#define TRACE_REASON_REPLY 3       /* a reply of an admitted flow */

/* Policy verdict match types (policy_verdict_notify.match_type): POLICY_MATCH_*, policy.h. */

/* Monitor aggregation levels (cellium_monitor_config.aggregation), as --monitor-aggregation. */
#define MONITOR_AGG_NONE 0    /* trace every packet at every observation point */
#define MONITOR_AGG_LOW 1     /* every packet, at the point where it leaves bpf_lxc only */
#define MONITOR_AGG_MEDIUM 2  /* new flows and TCP packets with SYN, FIN or RST */
#define MONITOR_AGG_MAXIMUM 3 /* new flows only */

/* What every event starts with (32 bytes). */
struct monitor_hdr {
	__u8 type;          /* MONITOR_* */
	__u8 subtype;       /* drop: REASON_*; trace: TRACE_* observation point; verdict: 0 */
	__u16 source;       /* the endpoint (lxc id) the event is about, 0: none */
	__u32 ifindex;      /* the interface the program ran on */
	__u32 len_orig;     /* the packet's length */
	__u16 len_cap;      /* how many of its bytes follow in data[] */
	__u8 version;       /* MONITOR_VERSION */
	__u8 prog;          /* MONITOR_PROG_* */
	__u64 timestamp;    /* ns of CLOCK_MONOTONIC */
	__u32 src_identity; /* 0: unknown (the program did not get that far) */
	__u32 dst_identity;
};

/* MONITOR_DROP: a packet a program dropped. */
struct drop_notify {
	struct monitor_hdr hdr;
	__u16 dst_endpoint; /* the destination endpoint, if local */
	__u8 dir;           /* METRIC_INGRESS or METRIC_EGRESS (the policy's, for policy drops) */
	__u8 pad;
	__u16 line;         /* the source line of the drop */
	__u16 pad2;
	__u8 data[MONITOR_CAPTURE_LEN];
};

/* MONITOR_TRACE: a packet passing an observation point. */
struct trace_notify {
	struct monitor_hdr hdr;
	__u16 dst_endpoint; /* the endpoint it is delivered to (TRACE_TO_LXC) */
	__u8 reason;        /* TRACE_REASON_* */
	__u8 pad;
	__u32 pad2;
	__u8 data[MONITOR_CAPTURE_LEN];
};

/* MONITOR_POLICY_VERDICT: a policy lookup of a new flow, allowed or denied. */
struct policy_verdict_notify {
	struct monitor_hdr hdr;
	__u16 dport;      /* host order; the ICMP type for ICMP */
	__u8 proto;
	__u8 dir;         /* whose policy: METRIC_INGRESS (the receiver's) or METRIC_EGRESS */
	__u8 match_type;  /* POLICY_MATCH_* */
	__u8 reason;      /* 0 allowed, else the drop reason (POLICY_DENIED, POLICY_DENY) */
	__u16 pad;
	__u8 data[MONITOR_CAPTURE_LEN];
};

/* cellium_monitor_config[0]: written by the agent. */
struct monitor_config {
	__u32 listeners;   /* monitor clients attached: traces and verdicts only when non-zero */
	__u32 aggregation; /* MONITOR_AGG_* */
};

#define EVENTS_MAP_SIZE (2 * 1024 * 1024)

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, EVENTS_MAP_SIZE);
} cellium_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct monitor_config);
	__uint(max_entries, 1);
} cellium_monitor_config SEC(".maps");

/* Events the ring had no room for, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} cellium_events_lost SEC(".maps");

/* The aggregation level traces and verdicts are reported at, or -1 while nobody listens. */
static __always_inline int monitor_level(void)
{
	__u32 zero = 0;
	struct monitor_config *c = bpf_map_lookup_elem(&cellium_monitor_config, &zero);

	if (!c || !c->listeners)
		return -1;
	return c->aggregation;
}

/* Room for an event of `size` bytes with its header filled, or NULL when the ring is full (the
 * loss is counted). Fill it and hand it over with submit_drop/trace/verdict. */
static __always_inline void *monitor_reserve(__u32 size, __u8 type, __u8 subtype, __u8 prog)
{
	struct monitor_hdr *h = bpf_ringbuf_reserve(&cellium_events, size, 0);
	__u32 zero = 0;
	__u64 *lost;

	if (!h) {
		lost = bpf_map_lookup_elem(&cellium_events_lost, &zero);
		if (lost)
			*lost += 1;
		return NULL;
	}
	__builtin_memset(h, 0, size);
	h->type = type;
	h->subtype = subtype;
	h->version = MONITOR_VERSION;
	h->prog = prog;
	h->timestamp = bpf_ktime_get_ns();
	return h;
}

/* Hand an event to the agent. Functions of their own, so that each record's type is in the
 * object's BTF (clang emits the types of prototypes, not of locals), which the agent's layout
 * test compares with its declarations. */
static __noinline __attribute__((unused)) void submit_drop(struct drop_notify *ev)
{
	bpf_ringbuf_submit(ev, 0);
}

static __noinline __attribute__((unused)) void submit_trace(struct trace_notify *ev)
{
	bpf_ringbuf_submit(ev, 0);
}

static __noinline __attribute__((unused)) void submit_verdict(struct policy_verdict_notify *ev)
{
	bpf_ringbuf_submit(ev, 0);
}

/* Copies the first bytes of a packet of `len` bytes into an event's data[]; returns how many. The
 * one masking tc (bpf_lxc, bpf_host) and XDP (bpf_xdp) share: `xdp` is a constant at each call
 * (this is always inlined), so only that program type's load helper is left in its code (the
 * verifier refuses bpf_skb_load_bytes in an XDP program and bpf_xdp_load_bytes in a tc one). */
static __always_inline __u32 monitor_capture(void *ctx, const int xdp, __u32 len, __u8 *data)
{
	__u32 cap = len;

	/* A constant, or a length masked below it: bounds the verifier can see. */
	if (cap >= MONITOR_CAPTURE_LEN) {
		long r = xdp ? bpf_xdp_load_bytes(ctx, 0, data, MONITOR_CAPTURE_LEN)
			     : bpf_skb_load_bytes(ctx, 0, data, MONITOR_CAPTURE_LEN);

		return r == 0 ? MONITOR_CAPTURE_LEN : 0;
	}
	/* Hidden from clang, which would otherwise drop the mask it knows is a no-op. */
	asm volatile("" : "+r"(cap));
	cap &= MONITOR_CAPTURE_LEN - 1;
	if (cap && (xdp ? bpf_xdp_load_bytes(ctx, 0, data, cap) : bpf_skb_load_bytes(ctx, 0, data, cap)) < 0)
		cap = 0;
	return cap;
}

/* Copies the first bytes of a tc program's packet into an event's data[]. */
static __always_inline void monitor_capture_skb(struct __sk_buff *skb, struct monitor_hdr *h,
						__u8 *data)
{
	h->len_orig = skb->len;
	h->ifindex = skb->ifindex;
	h->len_cap = monitor_capture(skb, 0, skb->len, data);
}

/* What a drop report says besides the packet. */
struct drop_info {
	__u32 src_id;
	__u32 dst_id;
	__u16 source;       /* the endpoint the program runs for, if known */
	__u16 dst_endpoint;
	__u16 line;
	__u8 reason;
	__u8 dir;
	__u8 prog;
	__u8 pad[3];
};

/* Reports a packet a tc program drops (always, whatever the monitor settings). */
static __noinline void drop_notify_skb(struct __sk_buff *skb, const struct drop_info *d)
{
	struct drop_notify *ev = monitor_reserve(sizeof(*ev), MONITOR_DROP, d->reason, d->prog);

	if (!ev)
		return;
	ev->hdr.source = d->source;
	ev->hdr.src_identity = d->src_id;
	ev->hdr.dst_identity = d->dst_id;
	ev->dst_endpoint = d->dst_endpoint;
	ev->dir = d->dir;
	ev->line = d->line;
	monitor_capture_skb(skb, &ev->hdr, ev->data);
	submit_drop(ev);
}

/* A drop with nothing known but where and why (malformed frames, early drops). A function of its
 * own: its stack is never on top of the caller's deepest call chain. */
static __noinline __attribute__((unused)) void drop_notify_basic(struct __sk_buff *skb, __u8 prog, __u8 reason,
					      __u8 dir, __u16 line)
{
	struct drop_info d = { .reason = reason, .dir = dir, .prog = prog, .line = line };

	drop_notify_skb(skb, &d);
}

#endif
