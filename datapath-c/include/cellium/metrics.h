/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* cellium_metrics as every program declares it (the agent creates and pins the map; objects
 * reuse it), and the one way to count a packet in it. */
#ifndef CELLIUM_METRICS_H
#define CELLIUM_METRICS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "cellium/maps.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__type(key, struct metrics_key);
	__type(value, struct metrics_value);
	__uint(max_entries, METRICS_MAP_SIZE);
} cellium_metrics SEC(".maps");

/* Counts one packet of `bytes` under `reason` and direction `dir`. */
static __always_inline void account(__u8 reason, __u8 dir, __u32 bytes)
{
	struct metrics_key key = { .reason = reason, .dir = dir };
	struct metrics_value *v = bpf_map_lookup_elem(&cellium_metrics, &key);

	if (v) {
		v->count += 1;
		v->bytes += bytes;
	} else {
		struct metrics_value init = { .count = 1, .bytes = bytes };

		bpf_map_update_elem(&cellium_metrics, &key, &init, BPF_NOEXIST);
	}
}

#endif
